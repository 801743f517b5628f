package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func writeResult(t *testing.T, dir, name string, p99ms float64) string {
	t.Helper()
	h := results.NewHistogram()
	for i := 0; i < 1000; i++ {
		v := 1.0
		if i%50 == 0 {
			v = p99ms
		}
		h.RecordValue(int64(v * 1e6))
	}
	enc, _ := results.EncodeHistogram(h)
	f := &results.File{Scenario: []byte(`{"gates":["linkerd.errors<=0"]}`), Paths: []results.Path{
		{Name: "linkerd", Kind: "linkerd", Requests: 1000, DurationS: 1, LatencyMs: results.Summarize(h), Histogram: enc},
	}}
	p, err := results.Write(dir, name, f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeResult(t, dir, "good.json", 3)
	bad := writeResult(t, dir, "bad.json", 30)
	junit := filepath.Join(dir, "gate.xml")

	out, _, code := runCLI(t, context.Background(), "gate", good, "--max", "linkerd.p99<=5ms")
	if code != 0 || !strings.Contains(out, "PASS") || !strings.Contains(out, "linkerd.errors<=0") {
		t.Errorf("good: exit %d, out %q", code, out)
	}
	out, stderr, code := runCLI(t, context.Background(), "gate", bad, "--max", "linkerd.p99=5ms", "--junit", junit)
	if code != 3 || !strings.Contains(out, "FAIL") {
		t.Errorf("bad: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if data, err := os.ReadFile(junit); err != nil || !strings.Contains(string(data), "<failure") {
		t.Errorf("junit file: %v %q", err, data)
	}
	_, _, code = runCLI(t, context.Background(), "gate", bad, "--baseline", good, "--max", "linkerd.p99<=+10%")
	if code != 3 {
		t.Errorf("regression against baseline: exit %d, want 3", code)
	}
	_, stderr, code = runCLI(t, context.Background(), "gate", good, "--max", "linkrd.p99<=5ms")
	if code != 2 {
		t.Errorf("misspelt path: exit %d, want 2", code)
	}
	oneLine(t, stderr, `no path "linkrd"`)
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte(`{"schema":"meshbench/v1",`), 0o644)
	_, stderr, code = runCLI(t, context.Background(), "gate", corrupt, "--max", "linkerd.p99<=5ms")
	if code != 2 {
		t.Errorf("corrupt: exit %d", code)
	}
	oneLine(t, stderr, "corrupt.json")
}

// TestGateInterrupted: a partial result, or a partial baseline, fails the
// gate with exit 3 and says why, even when every rule holds; the rules are
// still judged and printed, and the JUnit file carries the failure.
func TestGateInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeResult(t, dir, "good.json", 3)
	f, err := results.Read(good)
	if err != nil {
		t.Fatal(err)
	}
	f.Interrupted = true
	partial, err := results.Write(dir, "partial.json", f)
	if err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "gate.xml")
	out, stderr, code := runCLI(t, context.Background(), "gate", partial, "--max", "linkerd.p99<=5ms", "--junit", junit)
	if code != 3 || !strings.Contains(out, "PASS  linkerd.p99<=5ms") ||
		!strings.Contains(out, "FAIL  result complete") || !strings.Contains(out, "result: the run was interrupted") {
		t.Errorf("partial result: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if data, err := os.ReadFile(junit); err != nil || !strings.Contains(string(data), "the run was interrupted") {
		t.Errorf("junit: %v %s", err, data)
	}
	out, _, code = runCLI(t, context.Background(), "gate", good, "--baseline", partial, "--max", "linkerd.p99<=+10%")
	if code != 3 || !strings.Contains(out, "FAIL  baseline complete") {
		t.Errorf("partial baseline: exit %d, out %q", code, out)
	}
}

// TestGateRefusesBadCounts: negative counts in a result are refused when it
// is read (exit 2, naming file and field), so "errors<=0" cannot pass on them.
func TestGateRefusesBadCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeResult(t, dir, "neg.json", 3)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), `"errors": 0`, `"errors": -7`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, context.Background(), "gate", p, "--max", "linkerd.errors<=0")
	if code != 2 || out != "" {
		t.Errorf("exit %d, out %q", code, out)
	}
	oneLine(t, stderr, "neg.json: paths[0].errors: -7 is negative")
}
