package runner

import (
	"context"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestMoreRound: after the plan's rounds, a run asks Env.More and, while
// it says yes and MaxRounds allows, appends one more round of every step,
// rotated as that trial would be, with new round numbers and window counts
// that run on.
func TestMoreRound(t *testing.T) {
	sc := scenario.Default()
	sc.Paths = specs("direct", "haproxy")
	sc.Trials = 2
	sc.Sweep = []float64{500, 1000}
	p := NewPlan(sc)
	p.Window = 0
	p.MaxRounds = 3
	var seen []*results.File
	r := &run{plan: p, obs: quiet{}, env: Env{More: func(f *results.File) bool {
		seen = append(seen, f)
		return true
	}}}
	f := &results.File{Paths: []results.Path{{Name: "direct", Kind: "direct", Baseline: true, Trial: 1, LatencyMs: results.Percentiles{Count: 1, P50: 1}}}}
	ws := p.Windows()
	ws = r.moreRound(context.Background(), f, ws)
	want := "1/500/r5/t3/s1/1:direct-aa 1/500/r5/t3/s1/2:direct 1/500/r5/t3/s1/3:haproxy " +
		"2/1000/r6/t3/s1/1:direct-aa 2/1000/r6/t3/s1/2:direct 2/1000/r6/t3/s1/3:haproxy"
	if got := describe(ws[12:]); got != want {
		t.Errorf("added\n got %s\nwant %s", got, want)
	}
	for i, w := range ws[12:] {
		if w.N != 13+i || w.Total != 18 {
			t.Errorf("added window %d: N %d of %d", i, w.N, w.Total)
		}
	}
	if len(seen) != 1 || seen[0].Summary == nil || seen[0] == f {
		t.Errorf("More saw %+v", seen)
	}
	if again := r.moreRound(context.Background(), f, ws); len(again) != len(ws) || len(seen) != 1 {
		t.Errorf("past MaxRounds: %d windows, More asked %d times", len(again), len(seen))
	}
	r.env.More = func(*results.File) bool { return false }
	if got := r.moreRound(context.Background(), f, p.Windows()); len(got) != 12 {
		t.Errorf("More said no: %d windows", len(got))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.env.More = func(*results.File) bool { t.Error("More asked after interruption"); return true }
	if got := r.moreRound(ctx, f, p.Windows()); len(got) != 12 {
		t.Errorf("interrupted: %d windows", len(got))
	}
}
