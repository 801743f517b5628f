package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

func specs(names ...string) []scenario.PathSpec {
	var out []scenario.PathSpec
	for _, n := range names {
		out = append(out, scenario.PathSpec{Name: n, Kind: n})
	}
	return out
}

func describe(ws []Window) string {
	var got []string
	for _, w := range ws {
		got = append(got, fmt.Sprintf("%d/%g/r%d/t%d/s%d/%d:%s", w.Step.Index, w.Step.Rate.RPS, w.Round, w.Trial, w.Slice, w.Order, w.Path.Name))
	}
	return strings.Join(got, " ")
}

// One window per path per round: rounds rotate, steps restart the rotation,
// and the A/A path joins the direct one.
func TestPlanLongWindows(t *testing.T) {
	sc := scenario.Default()
	sc.Paths = specs("direct", "haproxy")
	sc.Trials = 2
	sc.Sweep = []float64{500, 1000}
	p := NewPlan(sc)
	p.Window = 0
	if p.Baseline != "direct" || len(p.Paths) != 3 || p.Paths[2].Name != results.AAName || p.Paths[2].Kind != "direct" {
		t.Fatalf("baseline %q, paths %+v", p.Baseline, p.Paths)
	}
	ws := p.Windows()
	want := "1/500/r1/t1/s1/1:direct 1/500/r1/t1/s1/2:haproxy 1/500/r1/t1/s1/3:direct-aa " +
		"1/500/r2/t2/s1/1:haproxy 1/500/r2/t2/s1/2:direct-aa 1/500/r2/t2/s1/3:direct " +
		"2/1000/r3/t1/s1/1:direct 2/1000/r3/t1/s1/2:haproxy 2/1000/r3/t1/s1/3:direct-aa " +
		"2/1000/r4/t2/s1/1:haproxy 2/1000/r4/t2/s1/2:direct-aa 2/1000/r4/t2/s1/3:direct"
	if got := describe(ws); got != want {
		t.Errorf("windows\n got %s\nwant %s", got, want)
	}
	for i, w := range ws {
		if w.N != i+1 || w.Total != 12 || w.Len != sc.Duration.D() || w.Warmup != sc.Warmup.D() {
			t.Errorf("window %d: %+v", i+1, w)
		}
	}
}

// Short windows: each round cuts the duration into slices, every slice
// measures every path once in a rotated order, and only a round's first
// slice pays the full warm-up.
func TestPlanInterleaved(t *testing.T) {
	sc := scenario.Default()
	sc.Paths = specs("direct", "haproxy")
	sc.Duration = scenario.Duration(3 * time.Second)
	sc.Warmup = scenario.Duration(time.Second)
	p := NewPlan(sc)
	ws := p.Windows()
	want := "0/1000/r1/t1/s1/1:direct 0/1000/r1/t1/s1/2:haproxy 0/1000/r1/t1/s1/3:direct-aa " +
		"0/1000/r1/t1/s2/2:haproxy 0/1000/r1/t1/s2/3:direct-aa 0/1000/r1/t1/s2/1:direct " +
		"0/1000/r1/t1/s3/3:direct-aa 0/1000/r1/t1/s3/1:direct 0/1000/r1/t1/s3/2:haproxy"
	if got := describe(ws); got != want {
		t.Errorf("windows\n got %s\nwant %s", got, want)
	}
	for _, w := range ws {
		wantWarm := rewarm
		if w.Slice == 1 {
			wantWarm = time.Second
		}
		if w.Len != time.Second || w.Slices != 3 || w.Warmup != wantWarm {
			t.Errorf("%s slice %d: len %s of %d, warm-up %s", w.Path.Name, w.Slice, w.Len, w.Slices, w.Warmup)
		}
	}
}

// Faults fire at set times of a window and a ramp spans one: such
// scenarios keep one window per path per round. A scenario without a direct
// path has no baseline and no A/A.
func TestPlanKeepsLongWindows(t *testing.T) {
	sc := scenario.Default()
	sc.Rate = scenario.Rate{Shape: "linear", RPS: 100, End: 300}
	if p := NewPlan(sc); p.Window != sc.Duration.D() || len(p.Windows()) != 2 || p.Windows()[0].Len != sc.Duration.D() {
		t.Errorf("ramp: window %s, windows %+v", p.Window, p.Windows())
	}
	sc = scenario.Default()
	rate := 0.5
	sc.Faults = []scenario.Fault{{At: scenario.Duration(time.Second), ErrorRate: &rate}}
	if p := NewPlan(sc); p.Window != sc.Duration.D() {
		t.Errorf("faults: window %s", p.Window)
	}
	sc = scenario.Default()
	sc.Paths = specs("haproxy", "nginx")
	if p := NewPlan(sc); p.Baseline != "" || len(p.Paths) != 2 {
		t.Errorf("no direct: baseline %q, paths %v", p.Baseline, p.Paths)
	}
}
