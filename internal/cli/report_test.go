package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportFixture copies one of the report package's result files into dir.
func reportFixture(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "report", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kvm := reportFixture(t, dir, "kvm-nvme.json")
	ovz := reportFixture(t, dir, "openvz-sata.json")

	out, stderr, code := runCLI(t, context.Background(), "report", kvm)
	if code != 0 || !strings.Contains(out, "haproxy") || !strings.Contains(out, "+p99") {
		t.Errorf("table: exit %d, stderr %q, out %q", code, stderr, out)
	}
	out, _, code = runCLI(t, context.Background(), "report", kvm, ovz, "--format", "json")
	var doc struct {
		Files []struct{ Name string } `json:"files"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Files) != 2 {
		t.Errorf("json: exit %d, %d files", code, len(doc.Files))
	}
	dest := filepath.Join(dir, "report.txt")
	out, _, code = runCLI(t, context.Background(), "report", kvm, ovz, "--out", dest)
	data, err := os.ReadFile(dest)
	if code != 0 || out != "" || err != nil || !strings.Contains(string(data), "vps-openvz-sata") {
		t.Errorf("--out: exit %d, stdout %q, file %v %q", code, out, err, data)
	}
	_, stderr, code = runCLI(t, context.Background(), "report", kvm, "--format", "pdf")
	if code != 2 {
		t.Errorf("--format pdf: exit %d", code)
	}
	oneLine(t, stderr, "pdf")
	_, _, code = runCLI(t, context.Background(), "report")
	if code != 2 {
		t.Errorf("no files: exit %d", code)
	}
}

// A bad file fails the whole report with one line naming it, and nothing is
// written: not the report, and not over the good files.
func TestReportBadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := reportFixture(t, dir, "kvm-nvme.json")
	before, _ := os.ReadFile(good)
	cases := map[string]string{
		"truncated.json": `{"schema":"meshbench/v1","paths":[{"name":"direct"`,
		"schema.json":    `{"schema":"other/v3","paths":[]}`,
		"garbage.json":   "\x00\x01 not json",
		"histogram.json": `{"schema":"meshbench/v1","paths":[{"name":"direct","kind":"direct","trial":1,"histogram":"HISTFAAAAbad"},{"name":"direct","kind":"direct","trial":2,"histogram":"HISTFAAAAbad"}]}`,
	}
	for name, body := range cases {
		bad := filepath.Join(dir, name)
		if err := os.WriteFile(bad, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(dir, "out-"+name+".md")
		out, stderr, code := runCLI(t, context.Background(), "report", good, bad, "--out", dest)
		if code != 2 || out != "" {
			t.Errorf("%s: exit %d, stdout %q", name, code, out)
		}
		oneLine(t, stderr, name)
		if _, err := os.Stat(dest); !os.IsNotExist(err) {
			t.Errorf("%s: report written despite the bad file", name)
		}
	}
	after, _ := os.ReadFile(good)
	if string(before) != string(after) {
		t.Error("the good input file changed")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

// --plots writes the charts and the markdown links them relative to --out.
func TestReportPlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kvm := reportFixture(t, dir, "kvm-nvme.json")
	md := filepath.Join(dir, "docs", "report.md")
	os.MkdirAll(filepath.Dir(md), 0o755)
	charts := filepath.Join(dir, "docs", "charts")
	_, stderr, code := runCLI(t, context.Background(), "report", kvm, "--format", "markdown", "--out", md, "--plots", charts)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(md)
	if !strings.Contains(string(data), "](charts/vps-kvm-nvme-spectrum.svg)") {
		t.Errorf("markdown does not link the spectrum relative to itself:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(charts, "vps-kvm-nvme-haproxy-timeline.svg")); err != nil {
		t.Error(err)
	}
}

func TestReportNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kvm := reportFixture(t, dir, "kvm-nvme.json")
	ovz := reportFixture(t, dir, "openvz-sata.json")
	out, stderr, code := runCLI(t, context.Background(), "report", kvm, ovz, "--names", "first box,second box")
	if code != 0 || !strings.Contains(out, "first box") || !strings.Contains(out, "second box") || strings.Contains(out, "vps-openvz-sata") {
		t.Errorf("exit %d, stderr %q, out %q", code, stderr, out)
	}
	for _, names := range []string{"only one", "a,", "a|b,c"} {
		_, stderr, code = runCLI(t, context.Background(), "report", kvm, ovz, "--names", names)
		if code != 2 {
			t.Errorf("--names %q: exit %d", names, code)
		}
		oneLine(t, stderr, "--names")
	}
}

// TestReportOutIsInput: --out naming an input, directly or through a
// link, is refused before anything is read or written.
func TestReportOutIsInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kvm := reportFixture(t, dir, "kvm-nvme.json")
	before, _ := os.ReadFile(kvm)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(kvm, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{kvm, link, filepath.Join(dir, ".", "kvm-nvme.json")} {
		_, stderr, code := runCLI(t, context.Background(), "report", kvm, "--out", out)
		if code != 2 {
			t.Errorf("--out %s: exit %d", out, code)
		}
		oneLine(t, stderr, "is the input")
	}
	if after, _ := os.ReadFile(kvm); string(after) != string(before) {
		t.Error("the input changed")
	}
}

// TestReportHostFiles: what `meshbench host --format json --out` writes for
// two hosts (the KVM/NVMe and OpenVZ fixtures, each into a directory that
// does not exist yet) is one table of hosts in `meshbench report`; result
// and host files are not mixed, and host files have no JSON view or charts.
func TestReportHostFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for _, fixture := range []string{"kvm-nvme", "openvz"} {
		out := filepath.Join(dir, "nodes", fixture, "host.json")
		_, stderr, code := hostCLI(t, fixture, "--duration", "200ms", "--probes", "audit", "--format", "json", "--out", out)
		if code != 0 {
			t.Fatalf("host on %s: exit %d: %s", fixture, code, stderr)
		}
		files = append(files, out)
	}
	out, stderr, code := runCLI(t, context.Background(), append([]string{"report"}, files...)...)
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[3], "kvm-nvme-1 ") || !strings.HasPrefix(lines[4], "ovz-ct-101 ") || !strings.Contains(out, "\nnoisy: ") {
		t.Errorf("table:\n%s", out)
	}
	md := filepath.Join(dir, "nodes.md")
	_, _, code = runCLI(t, context.Background(), append([]string{"report", "--format", "markdown", "--out", md, "--names", "a,b"}, files...)...)
	data, err := os.ReadFile(md)
	if code != 0 || err != nil || !strings.Contains(string(data), "\n| a    |") || !strings.Contains(string(data), "\n| b    |") {
		t.Errorf("markdown: exit %d, %v:\n%s", code, err, data)
	}

	result := reportFixture(t, dir, "kvm-nvme.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{files[0], result}, "report each kind on its own"},
		{[]string{files[0], "--format", "json"}, "host files render as table or markdown"},
		{[]string{files[0], "--plots", filepath.Join(dir, "charts")}, "no charts"},
	} {
		_, stderr, code := runCLI(t, context.Background(), append([]string{"report"}, tc.args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		oneLine(t, stderr, tc.want)
	}
	// A file that says it is a host file but is not whole is refused by name.
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"schema": "meshbench-host/v1", "host": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, context.Background(), "report", broken)
	if code != 2 {
		t.Errorf("broken host file: exit %d", code)
	}
	oneLine(t, stderr, broken+": no host_stats")
}
