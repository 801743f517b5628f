package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, names ...string) []*results.File {
	t.Helper()
	var out []*results.File
	for _, n := range names {
		f, err := results.Read(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

func build(t *testing.T, names ...string) *report.Report {
	t.Helper()
	r, err := report.Build(load(t, names...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		writeFile(t, p, got)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s", name, got)
	}
}

var sets = map[string][]string{
	"single": {"kvm-nvme.json"},
	"ovz":    {"openvz-sata.json"},
	"three":  {"kvm-nvme.json", "openvz-sata.json", "bare-metal.json"},
}

func TestGolden(t *testing.T) {
	t.Parallel()
	ext := map[string]string{"table": "txt", "markdown": "md", "json": "json", "csv": "csv", "hlog": "hlog", "smp": "smp.json"}
	for set, files := range sets {
		r := build(t, files...)
		for _, format := range report.Formats {
			var buf bytes.Buffer
			if err := report.Write(&buf, r, format, report.Options{}); err != nil {
				t.Fatalf("%s %s: %v", set, format, err)
			}
			golden(t, set+"."+ext[format]+".golden", buf.Bytes())
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	t.Parallel()
	r := build(t, "kvm-nvme.json")
	var buf bytes.Buffer
	err := report.Write(&buf, r, "html", report.Options{})
	if errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "html") {
		t.Errorf("unknown format: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes for an unknown format", buf.Len())
	}
}

// Trials are merged by merging histograms; the spread across trials is kept
// beside the merged figure.
func TestBuildMergesTrials(t *testing.T) {
	t.Parallel()
	r := build(t, "kvm-nvme.json")
	f := r.Files[0]
	if f.Name != "vps-kvm-nvme" || len(f.Paths) != 3 {
		t.Fatalf("file %q with %d paths", f.Name, len(f.Paths))
	}
	hp := f.Paths[1]
	if hp.Name != "haproxy" || hp.Trials != 3 || hp.Requests != 30000 || len(hp.Runs) != 3 {
		t.Fatalf("haproxy: %+v", hp)
	}
	if hp.P99RangeMs == nil || hp.P99RangeMs[0] > hp.LatencyMs.P99 || hp.P99RangeMs[1] < hp.LatencyMs.P99 {
		t.Errorf("merged p99 %v outside trial range %v", hp.LatencyMs.P99, hp.P99RangeMs)
	}
	if hp.OverheadMs == nil || hp.OverheadMs.P50 < 0.1 || hp.OverheadMs.P50 > 0.25 {
		t.Errorf("haproxy overhead %+v", hp.OverheadMs)
	}
	if f.Paths[0].OverheadMs != nil {
		t.Errorf("direct has an overhead")
	}
	if hp.Proxy == nil || hp.Proxy.CPUMsPer1k <= 0 {
		t.Errorf("proxy use %+v", hp.Proxy)
	}
	if !f.HostStats.StealReported || f.HostStats.WorstDisk != "nvme0n1" {
		t.Errorf("host summary %+v", f.HostStats)
	}
}

// Steal that cannot be observed is said to be unreported, never shown as 0.
func TestStealUnreported(t *testing.T) {
	t.Parallel()
	r := build(t, "openvz-sata.json")
	if r.Files[0].HostStats.StealReported {
		t.Fatal("openvz steal counted as reported")
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "table", report.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "steal unreported") || strings.Contains(buf.String(), "steal 0.00%") {
		t.Errorf("table:\n%s", buf.String())
	}
}

func TestNamesAndDuplicateHosts(t *testing.T) {
	t.Parallel()
	files := load(t, "kvm-nvme.json", "kvm-nvme.json")
	r, err := report.Build(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Files[0].Name, r.Files[1].Name
	if a == b || !strings.HasPrefix(a, "vps-kvm-nvme") {
		t.Errorf("labels %q and %q", a, b)
	}
	r, err = report.Build(files, []string{"before", "after"})
	if err != nil || r.Files[0].Name != "before" || r.Files[1].Name != "after" {
		t.Errorf("names: %v %+v", err, r)
	}
	if _, err := report.Build(files, []string{"one"}); err == nil {
		t.Error("a name count that does not match the files was accepted")
	}
}

// Files run under different load are compared with a warning above the table.
func TestScenarioMismatch(t *testing.T) {
	t.Parallel()
	files := load(t, "kvm-nvme.json", "bare-metal.json")
	var sc map[string]any
	if err := json.Unmarshal(files[1].Scenario, &sc); err != nil {
		t.Fatal(err)
	}
	sc["rate"] = map[string]any{"shape": "constant", "rps": 2000}
	sc["backend"].(map[string]any)["delay"] = "1ms"
	files[1].Scenario, _ = json.Marshal(sc)
	r, err := report.Build(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "table", report.Options{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	first := strings.SplitN(out, "\n", 2)[0]
	if !strings.HasPrefix(first, "warning: scenarios differ in rate") || !strings.Contains(first, "dedi-ryzen 2000/s") {
		t.Errorf("first line %q", first)
	}
	if !strings.Contains(out, "differ in backend delay") || strings.Contains(out, "differ in payload") {
		t.Errorf("warnings:\n%s", out)
	}
}
