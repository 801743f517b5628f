package gate_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/gate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// verdict has one outcome of each kind: regressed, inconclusive (an
// unhealthy path, let through), no significant change, holds and fails.
func verdict(t *testing.T) *gate.Verdict {
	t.Helper()
	s := synth{seed: 30, rounds: 5, windows: 2, noise: 0.05}
	paths := []spec{{"direct", "direct", 0.5}, {"haproxy", "haproxy", 1}, {"linkerd", "linkerd", 2}}
	base := s.file(paths...)
	s.seed++
	paths[1].ms = 1.4
	cur := s.file(paths...)
	cur.Paths[2].Late.Count = 300 // linkerd, round 1: 3% of its sends overall
	v, err := gate.Decide(cur, base, []string{"haproxy.p99<=+10%", "linkerd.p99<=+10%", "direct.p99<=+10%", "linkerd.errors<=0", "haproxy.p99<=1ms"},
		gate.Options{AllowInconclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJUnit(t *testing.T) {
	t.Parallel()
	v := verdict(t)
	var buf bytes.Buffer
	if err := gate.WriteJUnit(&buf, "meshbench gate", v.Outcomes, v.Health...); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Skipped  int `xml:"skipped,attr"`
			Props    []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if doc.Tests != 5 || doc.Failures != 2 || doc.Skipped != 1 || s.Tests != 5 || s.Failures != 2 || s.Skipped != 1 || len(s.Cases) != 5 {
		t.Fatalf("counts: %+v", doc)
	}
	if s.Cases[0].Failure == nil || s.Cases[0].Failure.Type != "regressed" || s.Cases[1].Skipped == nil ||
		s.Cases[1].Failure != nil || s.Cases[2].Failure != nil || s.Cases[4].Failure == nil || s.Cases[4].Failure.Type != "fails" {
		t.Errorf("cases: %s", buf.String())
	}
	if len(s.Props) != 2 || !strings.Contains(s.Props[0].Value, "unhealthy") {
		t.Errorf("health properties: %+v", s.Props)
	}
}

// TestJUnitReadByARealConsumer installs test-results-parser, the JUnit
// reader of the testbeats reporting tool, from npm into a temporary
// directory and checks that it reads the file as meshbench means it: each
// case's status and the totals.
func TestJUnitReadByARealConsumer(t *testing.T) {
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the JUnit file is not checked with a real consumer (apt-get install npm)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JUnit file is not checked with a real consumer")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, "test-results-parser@0.4.6")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install test-results-parser: %v\n%s", err, out)
	}
	v := verdict(t)
	var buf bytes.Buffer
	if err := gate.WriteJUnit(&buf, "meshbench gate", v.Outcomes, v.Health...); err != nil {
		t.Fatal(err)
	}
	xmlPath := filepath.Join(dir, "gate.xml")
	if err := os.WriteFile(xmlPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `const {parse} = require(process.argv[1] + "/node_modules/test-results-parser");
const r = parse({type: "junit", files: [process.argv[2]]});
console.log(JSON.stringify({total: r.total, passed: r.passed, failed: r.failed, skipped: r.skipped, status: r.status,
  cases: r.suites[0].cases.map(c => ({name: c.name, status: c.status, failure: c.failure}))}));`
	out, err := exec.Command(node, "-e", script, dir, xmlPath).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Total, Passed, Failed, Skipped int
		Status                         string
		Cases                          []struct{ Name, Status, Failure string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("parser output %q: %v", out, err)
	}
	// The parser counts skipped cases outside the total.
	if got.Total != 4 || got.Passed != 2 || got.Failed != 2 || got.Skipped != 1 || got.Status != "FAIL" || len(got.Cases) != 5 {
		t.Fatalf("parsed: %+v", got)
	}
	want := []string{"FAIL", "SKIP", "PASS", "PASS", "FAIL"}
	for i, c := range got.Cases {
		o := v.Outcomes[i]
		if c.Status != want[i] || c.Name != o.Path+": "+o.Rule.Text || (c.Status == "FAIL") != (c.Failure != "") {
			t.Errorf("case %d: %+v, want status %s for %s", i, c, want[i], o)
		}
	}
	if !strings.Contains(got.Cases[0].Failure, "regressed: p99 +") {
		t.Errorf("failure message: %q", got.Cases[0].Failure)
	}
}

func TestMarkdownGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := gate.WriteMarkdown(&buf, "meshbench gate new.json", verdict(t)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "summary.md.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("markdown differs from %s (go test -update):\n%s", golden, buf.String())
	}
}
