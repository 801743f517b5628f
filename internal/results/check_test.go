package results_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// edit reads a real result, lets change alter its JSON as a generic tree,
// and writes it to a temp file, so each case differs from a good file in
// one field only.
func edit(t *testing.T, change func(doc map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile("../../results/examples/vm-quiet.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	change(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "edited.json")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func path0(doc map[string]any) map[string]any {
	return doc["paths"].([]any)[0].(map[string]any)
}

// TestReadRefusesUntrustworthy: each case is one line naming the file and
// the field, and exit 2.
func TestReadRefusesUntrustworthy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"negative requests", func(d map[string]any) { path0(d)["requests"] = -5 }, "paths[0].requests: -5 is negative"},
		{"negative errors", func(d map[string]any) { path0(d)["errors"] = -1 }, "paths[0].errors: -1 is negative"},
		{"negative unsent", func(d map[string]any) { path0(d)["unsent"] = -3 }, "paths[0].unsent: -3 is negative"},
		{"negative late", func(d map[string]any) { path0(d)["late"].(map[string]any)["count"] = -2 }, "paths[0].late.count: -2 is negative"},
		{"negative error class", func(d map[string]any) { path0(d)["errors_by_class"] = map[string]any{"timeout": -4} }, "paths[0].errors_by_class.timeout: -4 is negative"},
		{"huge p99", func(d map[string]any) { path0(d)["latency_ms"].(map[string]any)["p99"] = 1e308 }, "paths[0].latency_ms.p99: 1e+308 is beyond 3603600 ms"},
		{"negative p50", func(d map[string]any) { path0(d)["latency_ms"].(map[string]any)["p50"] = -0.5 }, "paths[0].latency_ms.p50: -0.5 is negative"},
		{"huge overhead", func(d map[string]any) {
			d["paths"].([]any)[1].(map[string]any)["overhead_ms"].(map[string]any)["p99"] = -1e300
		}, "paths[1].overhead_ms.p99: -1e+300 is below -3603600 ms"},
		{"huge rate", func(d map[string]any) { path0(d)["achieved_rate"] = 1e200 }, "paths[0].achieved_rate: 1e+200 is beyond 1e+12"},
		{"long path name", func(d map[string]any) { path0(d)["name"] = strings.Repeat("x", 300) }, "paths[0].name: a name of 300 bytes, more than 256"},
		{"long warning", func(d map[string]any) { path0(d)["warnings"] = []any{strings.Repeat("w", 5000)} }, "paths[0].warnings[0]: a text of 5000 bytes"},
		{"too many paths", func(d map[string]any) {
			ps := make([]any, results.MaxPathEntries+1)
			for i := range ps {
				ps[i] = map[string]any{"name": "p"}
			}
			d["paths"] = ps
		}, "paths: 10001 entries, more than the 10000"},
		{"no name", func(d map[string]any) { delete(path0(d), "name") }, "paths[0] has no name"},
		{"unknown schema", func(d map[string]any) { d["schema"] = "meshbench/v0" }, `schema "meshbench/v0" is not supported`},
		{"huge cores", func(d map[string]any) { d["host"].(map[string]any)["cores"] = -1 }, "host.cores: -1 is negative"},
	} {
		p := edit(t, tc.change)
		_, err := results.Read(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line %q", tc.name, err, p+": ..."+tc.want)
		}
		if errext.Code(err) != errext.BadInputExit {
			t.Errorf("%s: exit %d, want 2", tc.name, errext.Code(err))
		}
	}
}

func TestReadRefusesOutOfRangeAndExtra(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile("../../results/examples/vm-quiet.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ body, want string }{
		"overflow.json": {strings.Replace(string(good), `"p99": `, `"p99": 1e309, "x": `, 1), "number 1e309 does not fit a float64"},
		"trailing.json": {string(good) + `{"schema":"meshbench/v1"}`, "more data after the result's JSON object"},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := results.Read(p); err == nil || !strings.Contains(err.Error(), c.want) || errext.Code(err) != 2 {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// A file larger than the bound is refused before it is read: a sparse
	// file takes no disk.
	big := filepath.Join(dir, "big.json")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(results.MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if _, err := results.Read(big); err == nil || !strings.Contains(err.Error(), "more than the 268435456 bytes") {
		t.Errorf("big file: %v", err)
	}
}

// TestCheckInMemory: values JSON cannot carry still fail Check, for a File
// made in code.
func TestCheckInMemory(t *testing.T) {
	t.Parallel()
	f := &results.File{Schema: results.Schema, Paths: []results.Path{{Name: "direct", LatencyMs: results.Percentiles{P99: math.NaN()}}}}
	if err := f.Check(); err == nil || !strings.Contains(err.Error(), "paths[0].latency_ms.p99: NaN") {
		t.Errorf("NaN: %v", err)
	}
	f.Paths[0].LatencyMs.P99 = 1
	f.Paths[0].HostStats = &results.HostStats{CPU: &results.CPUStats{StealPct: math.Inf(1)}}
	if err := f.Check(); err == nil || !strings.Contains(err.Error(), "paths[0].host_stats.cpu.steal_pct: +Inf") {
		t.Errorf("Inf: %v", err)
	}
}

// TestRealResultsPass: every result kept in the repository passes Check.
func TestRealResultsPass(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../results/examples/*.json")
	more, _ := filepath.Glob("../report/testdata/*.json")
	files = append(files, more...)
	n := 0
	for _, p := range files {
		if strings.Contains(p, "host-") {
			continue // a `meshbench host` report, not a result
		}
		n++
		if _, err := results.Read(p); err != nil {
			t.Error(err)
		}
	}
	if n < 5 {
		t.Errorf("only %d result files found", n)
	}
}
