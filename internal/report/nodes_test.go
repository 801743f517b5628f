package report_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/report"
)

// The host files are real output of this development machine:
// host-node1.json from `meshbench host --duration 1s --format json` (every
// probe), host-node2.json from the same with --probes none, and
// host-thishost.json from an older build that wrote no "schema" (2s).
var nodeFixtures = []string{"host-node1.json", "host-node2.json", "host-thishost.json"}

func readHostFixtures(t *testing.T, names ...string) []*report.HostReport {
	t.Helper()
	var out []*report.HostReport
	for _, n := range names {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if !report.IsHostFile(data) {
			t.Fatalf("%s is not taken for a host file", n)
		}
		h, err := report.DecodeHost(data)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, h)
	}
	return out
}

func TestIsHostFile(t *testing.T) {
	t.Parallel()
	result, err := os.ReadFile("testdata/kvm-nvme.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data string
		want bool
	}{
		{"result file", string(result), false},
		{"host schema only", `{"schema": "meshbench-host/v1"}`, true},
		{"result schema", `{"schema": "meshbench/v1", "host": {}, "host_stats": {}, "host_quality": {}}`, false},
		{"host shape without schema", `{"host": {}, "host_stats": {}, "host_quality": {}}`, true},
		{"host shape with paths", `{"host": {}, "host_stats": {}, "host_quality": {}, "paths": []}`, false},
		{"no host_quality", `{"host": {}, "host_stats": {}}`, false},
		{"not JSON", `host`, false},
		{"an array", `[{"schema": "meshbench-host/v1"}]`, false},
	} {
		if got := report.IsHostFile([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecodeHostRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ data, want string }{
		{`{"schema": "meshbench-host/v2", "host": {}, "host_stats": {}, "host_quality": {}}`, `schema "meshbench-host/v2"`},
		{`{"schema": "meshbench-host/v1", "host": {}, "host_quality": {}}`, "no host_stats"},
		{`{"schema": "meshbench-host/v1", "host": {}, "host_stats": {}}`, "no host_quality"},
		{`{"host": {"cores": "two"}, "host_stats": {}, "host_quality": {}}`, `"host.cores" has the wrong type`},
		{`{"host": {}, "host_stats": {"duration_s": -1}, "host_quality": {}}`, "negative"},
		{`{"host": `, "not valid JSON"},
	} {
		if _, err := report.DecodeHost([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.data, err, tc.want)
		}
	}
}

func TestWriteNodesGolden(t *testing.T) {
	t.Parallel()
	hosts := readHostFixtures(t, nodeFixtures...)
	names := []string{"node-a", "node-b", "node-c"}
	for format, file := range map[string]string{"table": "nodes.txt.golden", "markdown": "nodes.md.golden"} {
		var out bytes.Buffer
		if err := report.WriteNodes(&out, hosts, names, format); err != nil {
			t.Fatal(err)
		}
		golden(t, file, out.Bytes())
	}
	var out bytes.Buffer
	for _, format := range []string{"json", "csv"} {
		if err := report.WriteNodes(&out, hosts, names, format); !errext.IsBadInput(err) {
			t.Errorf("%s: %v, want bad input", format, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("a refused format wrote %q", out.String())
	}
}

// TestWriteNodesRows: one row per host, in the order given; the same host
// twice is told apart; the noisiest host is named first; probes that did
// not run show as "-", not as 0.
func TestWriteNodesRows(t *testing.T) {
	t.Parallel()
	hosts := readHostFixtures(t, nodeFixtures...)
	var out bytes.Buffer
	if err := report.WriteNodes(&out, hosts, nil, "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	// Title, blank, header, then the rows.
	rows := lines[3:6]
	for i, want := range []string{"vm@2026-12-01T01:48Z ", "vm@2026-12-01T01:48Z#2 ", "vm@2026-12-01T00:26Z "} {
		if !strings.HasPrefix(rows[i], want) {
			t.Errorf("row %d %q, want it to start with %q", i, rows[i], want)
		}
	}
	// Its last column is "psi.cpu warn"; jitter and fsync come before it.
	if f := strings.Fields(strings.TrimSuffix(rows[1], "psi.cpu warn")); f[len(f)-2] != "-" || f[len(f)-1] != "-" {
		t.Errorf("--probes none row %q: jitter and fsync should be -", rows[1])
	}
	if !strings.Contains(out.String(), "\nnoisy: vm@2026-12-01T00:26Z (1 fail, 3 warn), ") {
		t.Errorf("the failing host is not named first:\n%s", out.String())
	}
	if err := report.WriteNodes(&out, hosts, []string{"a"}, "table"); err == nil {
		t.Error("one name for three hosts was accepted")
	}
}

// TestWriteNodesEscapes: what a host file says reaches no output with its
// control characters.
func TestWriteNodesEscapes(t *testing.T) {
	t.Parallel()
	hosts := readHostFixtures(t, "host-node1.json")
	hosts[0].Host.Hostname = "node\x1b]0;pwned\x07"
	hosts[0].HostQuality.Verdicts[0].Status = "warn"
	hosts[0].HostQuality.Verdicts[0].Value = "5%\u202e|x"
	for _, format := range report.NodeFormats {
		var out bytes.Buffer
		if err := report.WriteNodes(&out, hosts, nil, format); err != nil {
			t.Fatal(err)
		}
		noControls(t, "nodes "+format, out.String())
	}
}
