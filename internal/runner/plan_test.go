package runner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/scenario"
)

func specs(names ...string) []scenario.PathSpec {
	var out []scenario.PathSpec
	for _, n := range names {
		out = append(out, scenario.PathSpec{Name: n, Kind: n})
	}
	return out
}

func TestPlanWindows(t *testing.T) {
	sc := scenario.Default()
	sc.Paths = specs("direct", "haproxy", "linkerd")
	sc.Trials = 2
	sc.Sweep = []float64{500, 1000}
	ws := NewPlan(sc).Windows()
	var got []string
	for _, w := range ws {
		got = append(got, fmt.Sprintf("%d/%g/r%d/t%d/%d:%s", w.Step.Index, w.Step.Rate.RPS, w.Round, w.Trial, w.Order, w.Path.Name))
		if w.Total != 12 {
			t.Fatalf("total %d", w.Total)
		}
	}
	want := []string{
		"1/500/r1/t1/1:direct", "1/500/r1/t1/2:haproxy", "1/500/r1/t1/3:linkerd",
		"1/500/r2/t2/1:haproxy", "1/500/r2/t2/2:linkerd", "1/500/r2/t2/3:direct",
		"2/1000/r3/t1/1:direct", "2/1000/r3/t1/2:haproxy", "2/1000/r3/t1/3:linkerd",
		"2/1000/r4/t2/1:haproxy", "2/1000/r4/t2/2:linkerd", "2/1000/r4/t2/3:direct",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("windows\n got %v\nwant %v", got, want)
	}
	for i, w := range ws {
		if w.N != i+1 {
			t.Errorf("window %d numbered %d", i+1, w.N)
		}
	}
}

func TestPlanWithoutSweep(t *testing.T) {
	sc := scenario.Default()
	sc.Rate = scenario.Rate{Shape: "linear", RPS: 100, End: 300}
	p := NewPlan(sc)
	if len(p.Steps) != 1 || p.Steps[0].Index != 0 || p.Steps[0].Rate != sc.Rate {
		t.Fatalf("steps %+v", p.Steps)
	}
	if ws := p.Windows(); len(ws) != 1 || ws[0].Round != 1 || ws[0].Step.Rate.Shape != "linear" {
		t.Fatalf("windows %+v", ws)
	}
}
