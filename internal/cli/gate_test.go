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
