package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// step is a synthetic sweep step: target rate, rate sent, sends late for
// want of a connection, errors (of 1000 requests) and p99.
func step(rate, sent float64, late, errs int64, p99 float64) stepFigures {
	return stepFigures{Rate: rate, Achieved: sent, Requests: 1000, Late: late, Errors: errs, P99Ms: p99}
}

// lagged is s with the load generator's own lateness.
func lagged(s stepFigures, genLate int64) stepFigures {
	s.GenLate = genLate
	return s
}

func TestPickKnee(t *testing.T) {
	cases := []struct {
		name   string
		knee   scenario.Knee
		steps  []stepFigures
		rate   float64
		bound  float64
		reason string
	}{
		{"every step carried", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 1), step(4000, 3999, 9, 9, 5),
		}, 4000, 10, "carried every step measured, up to 4000/s"},
		{"missed the target by more than 1%", scenario.Knee{}, []stepFigures{
			step(16000, 15000, 0, 0, 2), step(1000, 1000, 0, 0, 1), step(4000, 4000, 0, 0, 1.5),
		}, 4000, 10, "at 16000/s: sent 15000/s of 16000/s (94%)"},
		{"late sends", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 1), step(4000, 4000, 10, 0, 1),
		}, 1000, 10, "at 4000/s: 1.0% of sends late for want of a connection"},
		{"the generator's own lag is a caveat, not a failure", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 1), lagged(step(4000, 4000, 0, 0, 1), 30),
		}, 4000, 10, "carried every step measured, up to 4000/s; the load generator itself sent up to 3.0% of a step's sends late (at 4000/s)"},
		{"errors", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 1), step(4000, 4000, 0, 10, 1),
		}, 1000, 10, "at 4000/s: 1.0% errors"},
		{"p99 over the default bound, 10x the lowest rate's", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 2), step(4000, 4000, 0, 0, 20), step(8000, 8000, 0, 0, 20.5),
		}, 4000, 20, "at 8000/s: p99 20.5 ms over the bound of 20 ms"},
		{"a fixed bound", scenario.Knee{P99Max: scenario.Duration(3 * time.Millisecond)}, []stepFigures{
			step(1000, 1000, 0, 0, 2), step(4000, 4000, 0, 0, 4),
		}, 1000, 3, "at 4000/s: p99 4 ms over the bound of 3 ms"},
		{"a factor", scenario.Knee{P99Factor: 2}, []stepFigures{
			step(1000, 1000, 0, 0, 2), step(4000, 4000, 0, 0, 4.5),
		}, 1000, 4, "at 4000/s: p99 4.5 ms over the bound of 4 ms"},
		{"noise above the first failure does not raise the knee", scenario.Knee{}, []stepFigures{
			step(1000, 1000, 0, 0, 1), step(2000, 1900, 0, 0, 1), step(4000, 4000, 0, 0, 1),
		}, 1000, 10, "at 2000/s: sent 1900/s of 2000/s (95%); carried again at 4000/s"},
		{"the lowest step failed", scenario.Knee{}, []stepFigures{
			step(1000, 500, 0, 0, 1),
		}, 0, 10, "at 1000/s: sent 500/s"},
	}
	for _, c := range cases {
		k := pickKnee(c.steps, c.knee)
		if k.Rate != c.rate || k.P99BoundMs != c.bound || !strings.HasPrefix(k.Reason, c.reason) {
			t.Errorf("%s: knee %g (bound %g) %q; want %g (bound %g) %q", c.name, k.Rate, k.P99BoundMs, k.Reason, c.rate, c.bound, c.reason)
		}
	}
}

func TestJudgeSaturation(t *testing.T) {
	cases := []struct {
		s         stepFigures
		bound     float64
		saturated bool
	}{
		{step(1000, 995, 0, 0, 1), 10, false},
		{step(1000, 950, 0, 0, 1), 10, false},               // missed by 5%: not carried, not clearly saturated
		{step(1000, 890, 0, 0, 1), 10, true},                // missed by 11%
		{step(1000, 1000, 50, 0, 1), 10, false},             // 5% late for want of a connection: not carried, not clearly saturated
		{step(1000, 1000, 101, 0, 1), 10, true},             // over 10%
		{lagged(step(1000, 1000, 0, 0, 1), 500), 10, false}, // the load generator lagging says nothing of the path
		{step(1000, 1000, 0, 101, 1), 10, true},             // over 10% errors
		{step(1000, 1000, 0, 0, 11), 10, true},              // past the bound
		{step(1000, 1000, 0, 0, 11), 0, false},              // bound not known yet
	}
	for i, c := range cases {
		if _, sat := judge(c.s, c.bound); sat != c.saturated {
			t.Errorf("case %d %+v: saturated %v, want %v", i, c.s, sat, c.saturated)
		}
	}
}

// TestClimbStops: a path that saturates is skipped at higher steps only;
// the others keep climbing.
func TestClimbStops(t *testing.T) {
	sc := scenario.Default()
	sc.Paths = specs("direct", "haproxy")
	sc.Sweep = []float64{1000, 4000, 16000}
	plan := NewPlan(sc)
	c := newClimb(plan)
	row := func(name string, st int, sent, p99 float64) {
		w := Window{Step: plan.Steps[st-1], Path: scenario.PathSpec{Name: name}}
		c.observe(w, &results.Path{Name: name, Step: st, AchievedRate: sent, Requests: 1000, LatencyMs: results.Percentiles{P99: p99}}, quiet{})
	}
	row("direct", 1, 1000, 1)
	row("haproxy", 1, 1000, 2)
	row("direct", 2, 4000, 3)
	row("haproxy", 2, 4000, 25) // past 10 × 2 ms
	for _, w := range plan.Windows() {
		want := w.Path.Name == "haproxy" && w.Step.Index == 3
		if c.skips(w) != want {
			t.Errorf("%s at step %d: skipped %v", w.Path.Name, w.Step.Index, !want)
		}
	}
}

// TestSweepStopsClimbing runs a real sweep against a backend that can carry
// about 500 requests/s (five connections, 10 ms each): at 1000/s the path
// clearly saturates (its queue for a connection outgrows the timeout, so
// requests fail), so it is not measured at 2000/s, and its knee is below
// 1000/s. At 50/s a tenth of that capacity leaves room for slow responses
// on a busy test host: at 100/s on four connections, 38% of sends once
// waited for one under -race beside the package's other parallel runs.
func TestSweepStopsClimbing(t *testing.T) {
	t.Parallel()
	sc := shortScenario("direct")
	sc.Rate = scenario.Rate{Shape: "constant"}
	sc.Sweep = []float64{50, 1000, 2000}
	sc.Duration = scenario.Duration(time.Second)
	sc.Warmup = scenario.Duration(200 * time.Millisecond)
	sc.Connections = 5
	sc.Timeout = scenario.Duration(300 * time.Millisecond)
	sc.Backend.Delay = scenario.Duration(10 * time.Millisecond)
	sc.HostStats.Disabled = true
	f, err := Run(context.Background(), NewPlan(sc), Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Paths {
		if p.Step == 3 {
			t.Errorf("%s was measured at 2000/s after saturating", p.Name)
		}
	}
	var notes int
	for _, n := range f.Notes {
		if strings.Contains(n, "not measured above 1000 requests/s") {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("notes %q: want one per path (direct and direct-aa)", f.Notes)
	}
	seen := 0
	for _, s := range f.Summary {
		k := s.Knee
		if k == nil {
			t.Fatalf("%s step %d: no knee", s.Name, s.Step)
		}
		seen++
		if k.Rate >= 1000 || k.SkippedAbove != 1000 || !strings.Contains(k.Reason, "not measured above 1000/s") || k.P99BoundMs <= 0 {
			t.Errorf("%s step %d: knee %+v", s.Name, s.Step, k)
		}
		if s.Step == 2 && (k.Carried || k.Why == "") {
			t.Errorf("%s at 1000/s: carried %v, why %q", s.Name, k.Carried, k.Why)
		}
	}
	if seen != 4 {
		t.Errorf("%d summary entries, want 2 paths × 2 steps", seen)
	}
}
