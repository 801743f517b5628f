package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/report"
)

// hostFixture is the JSON `meshbench host --duration 2s` printed on the
// machine meshbench is developed on, every probe included.
func hostFixture(t *testing.T) (*report.HostReport, []byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/host-thishost.json")
	if err != nil {
		t.Fatal(err)
	}
	var h report.HostReport
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return &h, b
}

func TestWriteHostGolden(t *testing.T) {
	t.Parallel()
	h, raw := hostFixture(t)
	for format, file := range map[string]string{"table": "host.txt.golden", "markdown": "host.md.golden"} {
		var out bytes.Buffer
		if err := report.WriteHost(&out, h, format); err != nil {
			t.Fatal(err)
		}
		golden(t, file, out.Bytes())
	}
	// JSON is the command's own output: what was read comes back unchanged.
	var out bytes.Buffer
	if err := report.WriteHost(&out, h, "json"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		t.Errorf("json round trip differs:\n%s", out.String())
	}
	if err := report.WriteHost(&out, h, "csv"); !errext.IsBadInput(err) {
		t.Errorf("csv: %v, want bad input", err)
	}
}

// TestWriteHostSections: a window without probes has no Probes table, a
// key/value section has no header on the terminal, and every table goes
// through the same renderers as a run's report (markdown cells escaped).
func TestWriteHostSections(t *testing.T) {
	t.Parallel()
	h, _ := hostFixture(t)
	h.HostQuality.Jitter, h.HostQuality.Fsync, h.HostQuality.Audit = nil, nil, nil
	h.Host.Disks[0].Model = "evil|model"
	var txt, md bytes.Buffer
	if err := report.WriteHost(&txt, h, "table"); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHost(&md, h, "markdown"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(txt.String(), "Probes") || strings.Contains(txt.String(), "field") || !strings.Contains(txt.String(), "\n  hostname    vm\n") {
		t.Errorf("table:\n%s", txt.String())
	}
	if !strings.Contains(md.String(), `evil\|model`) || !strings.Contains(md.String(), "| field ") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// TestWriteHostEscapes: what the host's files say (a hostname, a disk
// model, an error text) reaches no output with its control characters.
func TestWriteHostEscapes(t *testing.T) {
	t.Parallel()
	h, _ := hostFixture(t)
	h.Host.Hostname = "vm\x1b]0;pwned\x07"
	h.Host.Disks[0].Model = "disk\u202egnp.exe"
	h.HostStats.Errors = append(h.HostStats.Errors, "psi: \x1b[2J")
	for _, format := range report.HostFormats {
		var out bytes.Buffer
		if err := report.WriteHost(&out, h, format); err != nil {
			t.Fatal(err)
		}
		noControls(t, "host "+format, out.String())
		want := map[string]string{"table": `\x1b]0;pwned\x07`, "markdown": `\\x1b\]0;pwned\\x07`, "json": `\u001b]0;pwned\u0007`}[format]
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: the hostname is not shown as %s", format, want)
		}
	}
}
