package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"github.com/meshbench/meshbench/internal/results"
)

// row is a result row with a histogram of n answers at latMs.
func row(t *testing.T, name string, step int, target, sent, latMs float64, n int64) results.Path {
	t.Helper()
	h := results.NewHistogram()
	h.RecordValues(int64(latMs*1e6), n)
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return results.Path{Name: name, Kind: strings.TrimSuffix(name, "-aa"), Trial: 1, Step: step, TargetRate: target, AchievedRate: sent,
		DurationS: 1, Requests: n, Histogram: enc, LatencyMs: results.Summarize(h)}
}

func recoverIn(s float64) *float64 { return &s }

// squash turns every run of blanks into one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// faultsFile is a run of direct and linkerd through one kill: direct
// passed it on and never recovered, linkerd ejected the replica and
// recovered in a second.
func faultsFile(t *testing.T) *results.File {
	kill := []results.FaultOutcome{{Action: "kill", Replica: 0, AtS: 5, EndS: 8, Requests: 1200, Errors: 400}}
	block := func(during int64, rec *float64, counters map[string]float64) *results.Resilience {
		r := &results.Resilience{
			Faults: append([]results.FaultOutcome{}, kill...),
			Before: results.Phase{StartS: 0, EndS: 5, Requests: 2000, P99Ms: 0.5},
			During: results.Phase{StartS: 5, EndS: 8, Requests: 1200, Errors: during, ErrorPct: float64(during) / 12, P99Ms: 0.7},
			After:  results.Phase{StartS: 8, EndS: 12, Requests: 1600, P99Ms: 0.4}, ResolutionS: 1, Windows: 1,
			ProxyCounters: counters,
		}
		r.Faults[0].RecoverS, r.Faults[0].Errors = rec, during
		r.Settle()
		return r
	}
	f := &results.File{Schema: results.Schema, Paths: []results.Path{
		row(t, "direct", 0, 400, 400, 0.1, 4800), row(t, "linkerd", 0, 400, 400, 0.3, 4800),
	}}
	f.Summary = []results.Summary{
		{Name: "direct", Windows: 1, Verdict: results.VerdictBaseline, Resilience: block(400, nil, nil)},
		{Name: "linkerd", Windows: 1, Verdict: results.VerdictUnpaired, Resilience: block(3, recoverIn(1), map[string]float64{"ejections": 2, "retries": 9})},
	}
	return f
}

func TestFaultsTableAndMarkdown(t *testing.T) {
	t.Parallel()
	r, err := Build([]*results.File{faultsFile(t)}, []string{"vm"})
	if err != nil {
		t.Fatal(err)
	}
	var tb, md bytes.Buffer
	if err := Write(&tb, r, "table", Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&md, r, "markdown", Options{}); err != nil {
		t.Fatal(err)
	}
	// Compared with runs of spaces squashed: the test is about the cells,
	// not the padding.
	text := squash(tb.String())
	for _, want := range []string{
		"faults: path errors before errors during errors after p99 before p99 during p99 after errors in each fault recover ejections retries redispatches servers down",
		"direct 0 (0.00%) 400 (33.33%) 0 (0.00%) 0.500 0.700 0.400 400 (33.33%) never - - - -",
		"linkerd 0 (0.00%) 3 (0.25%) 0 (0.00%) 0.500 0.700 0.400 3 (0.25%) 1 s 2 9 - -",
		"kill replica 0 at 5 s until 8 s",
		"Never recovered: direct: never under 1% errors for a whole 1 s slice after kill on replica 0 at 5 s",
	} {
		if !strings.Contains(text, squash(want)) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	if strings.Contains(text, "knee:") {
		t.Error("a run without a sweep shows a knee table")
	}
	for _, want := range []string{"## Faults\n\n| path |", "| linkerd |", "Never recovered: direct"} {
		if !strings.Contains(squash(md.String()), squash(want)) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

// sweepFile is a sweep of direct and haproxy at 1000, 4000 and 32000/s,
// with their knees; haproxy was not measured at 32000/s.
func sweepFile(t *testing.T) *results.File {
	f := &results.File{Schema: results.Schema, Scenario: json.RawMessage(`{"sweep":[1000,4000,32000]}`)}
	knees := map[string]results.Knee{
		"direct":  {Rate: 4000, Reason: "at 32000/s: sent 24000/s of 32000/s (75%)", P99BoundMs: 2},
		"haproxy": {Rate: 1000, Reason: "at 4000/s: p99 30 ms over the bound of 5 ms; not measured above 4000/s, where it clearly saturated", P99BoundMs: 5, SkippedAbove: 4000},
	}
	add := func(name string, step int, target, sent, lat float64, carried bool) {
		f.Paths = append(f.Paths, row(t, name, step, target, sent, lat, 1000))
		k := knees[name]
		k.Carried = carried
		f.Summary = append(f.Summary, results.Summary{Name: name, Step: step, Windows: 1, Verdict: results.VerdictUnpaired, Knee: &k})
	}
	add("direct", 1, 1000, 1000, 0.2, true)
	add("haproxy", 1, 1000, 1000, 0.5, true)
	add("direct", 2, 4000, 4000, 0.3, true)
	add("haproxy", 2, 4000, 3990, 30, false)
	add("direct", 3, 32000, 24000, 40, false)
	return f
}

func TestKneeTableAndChart(t *testing.T) {
	t.Parallel()
	r, err := Build([]*results.File{sweepFile(t)}, []string{"vm"})
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	if err := Write(&tb, r, "table", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"knee: path knee req/s p99 bound steps carried reason",
		"direct         4000      2.000  1000 ok, 4000 ok, 32000 no  at 32000/s: sent 24000/s of 32000/s (75%)",
		"haproxy        1000      5.000  1000 ok, 4000 no, 32000 skipped  at 4000/s: p99 30 ms",
	} {
		if !strings.Contains(squash(tb.String()), squash(want)) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	var sweep *plotFile
	for _, pf := range plotFiles(r) {
		if pf.sweep {
			sweep = &pf
		}
	}
	if sweep == nil || sweep.name != "vm-throughput.svg" {
		t.Fatalf("no throughput chart among %+v", plotFiles(r))
	}
	p, err := sweep.draw(r)
	if err != nil {
		t.Fatal(err)
	}
	// Rates of 1000 to 24000 and latencies of 0.2 to 40 ms span decades:
	// both axes are logarithmic.
	if _, ok := p.X.Scale.(plot.LogScale); !ok {
		t.Errorf("x axis %T, want logarithmic", p.X.Scale)
	}
	if _, ok := p.Y.Scale.(plot.LogScale); !ok {
		t.Errorf("y axis %T, want logarithmic", p.Y.Scale)
	}
	_, lay, err := renderChart(p)
	if err != nil {
		t.Fatal(err)
	}
	if lay.legend.Min.X < lay.data.Max.X {
		t.Errorf("legend %v over the data %v", lay.legend, lay.data)
	}
	dir := t.TempDir()
	written, err := WritePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "vm-throughput.svg"))
	if err != nil || len(written) < 2 {
		t.Fatalf("written %v: %v", written, err)
	}
	for _, want := range []string{"direct p99", "direct p50", "direct knee 4000/s", "haproxy p99", "haproxy p50", "haproxy knee 1000/s", "achieved rate (requests/s, log scale)"} {
		if !bytes.Contains(svg, []byte(">"+want+"<")) {
			t.Errorf("the chart does not say %q", want)
		}
	}
}
