package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

// Names a hostile or broken result file could hold.
const (
	evilPath = "\x1b[31mred\x07|`x`\u202e\u009b2J"
	evilHost = "=HYPERLINK(\"http://x\")\nnext"
	evilNote = "\x1b]0;pwned\x07 *bold* [link](x) <b>&amp;"
)

func evilReport(t *testing.T) *report.Report {
	t.Helper()
	files := load(t, "kvm-nvme.json")
	f := files[0]
	for i := range f.Paths {
		if f.Paths[i].Name == "haproxy" {
			f.Paths[i].Name = evilPath
		}
	}
	f.Host.Hostname = evilHost
	f.Host.CPUModel = "-2+3"
	f.Notes = append(f.Notes, evilNote)
	if err := f.Check(); err != nil {
		t.Fatalf("the evil file is still a valid result: %v", err)
	}
	r, err := report.Build([]*results.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func renderString(t *testing.T, r *report.Report, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.Write(&b, r, format, report.Options{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// noControls fails when out holds a control character other than a line
// break, or a bidirectional override.
func noControls(t *testing.T, format, out string) {
	t.Helper()
	for i, r := range out {
		if r != '\n' && (unicode.IsControl(r) || r == '\u202e') {
			t.Errorf("%s: %U at byte %d: %q", format, r, i, out[max(0, i-20):min(len(out), i+20)])
			return
		}
	}
}

func TestEscapeTable(t *testing.T) {
	t.Parallel()
	out := renderString(t, evilReport(t), "table")
	noControls(t, "table", out)
	for _, want := range []string{`\x1b[31mred\x07`, `\u202e`, `\x9b2J`, `=HYPERLINK("http://x")\nnext`, `\x1b]0;pwned\x07`} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestEscapeMarkdown(t *testing.T) {
	t.Parallel()
	out := renderString(t, evilReport(t), "markdown")
	noControls(t, "markdown", out)
	for line := range strings.Lines(out) {
		// Every table row stays one row with the columns of its header.
		if strings.HasPrefix(line, "| ") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") < 3 {
			t.Errorf("broken row %q", line)
		}
	}
	// The escapes termText writes are themselves escaped, so markdown
	// shows them as they are.
	for _, want := range []string{`red\\x07\|` + "\\`x\\`", `\*bold\* \[link\](x) &lt;b>&amp;amp;`} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(out, "\nnext") {
		t.Error("a line break in the hostname reached the markdown")
	}
}

func TestEscapeCSV(t *testing.T) {
	t.Parallel()
	out := renderString(t, evilReport(t), "csv")
	noControls(t, "csv", strings.ReplaceAll(out, "\r", ""))
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, row := range rows[1:] {
		for _, cell := range row[:4] {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q would be a formula", cell)
			}
		}
		if row[1] == `'=HYPERLINK("http://x")\nnext` {
			seen++
		}
		// Figures stay numbers, negative ones included.
		if strings.HasPrefix(row[8], "'") {
			t.Errorf("overhead cell %q quoted", row[8])
		}
	}
	if seen == 0 {
		t.Errorf("no escaped hostname cell in:\n%s", out)
	}
}

func TestEscapeHlogAndJSON(t *testing.T) {
	t.Parallel()
	r := evilReport(t)
	hlog := renderString(t, r, "hlog")
	noControls(t, "hlog", hlog)
	evilTags := 0
	for line := range strings.Lines(hlog) {
		if tag, ok := strings.CutPrefix(line, "Tag="); ok {
			tag, _, _ = strings.Cut(tag, ",")
			if strings.ContainsAny(tag, " \t") {
				t.Errorf("tag %q", tag)
			}
			if strings.HasPrefix(tag, "_[31mred_|`x`__2J") {
				evilTags++
			}
		}
	}
	if evilTags == 0 {
		t.Errorf("no tag for the renamed path:\n%s", hlog)
	}
	for _, format := range []string{"json", "smp"} {
		out := renderString(t, r, format)
		noControls(t, format, out)
		if !json.Valid([]byte(out)) {
			t.Errorf("%s: not valid JSON after escaping", format)
		}
	}
	// The JSON still says exactly what the file held.
	var back report.Report
	if err := json.Unmarshal([]byte(renderString(t, r, "json")), &back); err != nil {
		t.Fatal(err)
	}
	names := strings.Join(back.Paths, ",")
	if !strings.Contains(names, evilPath) || back.Files[0].Host.Hostname != evilHost {
		t.Errorf("json round trip: paths %q host %q", names, back.Files[0].Host.Hostname)
	}
}

// TestEscapePlots: the charts of the renamed path are still well-formed
// XML, which a raw control character would break.
func TestEscapePlots(t *testing.T) {
	t.Parallel()
	written, err := report.WritePlots(t.TempDir(), evilReport(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range written {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		for {
			if _, err = dec.Token(); err != nil {
				break
			}
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(written) < 2 {
		t.Errorf("charts: %v", written)
	}
}
