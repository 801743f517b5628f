package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

// TestExamples renders the reference runs under results/examples (real runs
// of scenarios/classic.yaml on the team's 2-vCPU VM, one quiet and one with
// two busy loops beside it) and compares the markdown with the committed
// report.md there, so the example the README links never drifts from what
// the code prints. -update rewrites it; the charts are made by
//
//	meshbench report results/examples/vm-quiet.json results/examples/vm-busy.json \
//	  --names vm-quiet,vm-busy --format markdown --out results/examples/report.md \
//	  --plots results/examples/charts
func TestExamples(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "results", "examples")
	var files []*results.File
	for _, n := range []string{"vm-quiet.json", "vm-busy.json"} {
		f, err := results.Read(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	r, err := report.Build(files, []string{"vm-quiet", "vm-busy"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "markdown", report.Options{PlotsDir: "charts"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "report.md")
	if *update {
		writeFile(t, p, buf.Bytes())
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("results/examples/report.md is not what the code renders now; run go test ./internal/report -update")
	}
	// Every chart the report links is committed beside it.
	links := chartLinks(buf.String())
	if len(links) == 0 {
		t.Errorf("the example report links no charts")
	}
	for _, m := range links {
		if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
			t.Errorf("report links %s: %v", m, err)
		}
	}
}

// chartLinks lists the image targets of markdown ![alt](target) links.
func chartLinks(md string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}
