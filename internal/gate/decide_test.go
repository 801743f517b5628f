package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/results"
)

func decide(t *testing.T, cur, base *results.File, opt gate.Options, texts ...string) []gate.Outcome {
	t.Helper()
	v, err := gate.Decide(cur, base, texts, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v.Outcomes
}

func one(t *testing.T, cur, base *results.File, text string) gate.Outcome {
	t.Helper()
	out := decide(t, cur, base, gate.Options{}, text)
	if len(out) != 1 {
		t.Fatalf("%s: %d outcomes, want 1: %v", text, len(out), out)
	}
	return out[0]
}

// TestDecisionsAgainstBaseline covers each decision of a comparison with a
// baseline result: 5 rounds of 2 windows a side unless said otherwise,
// window p99 with 5% noise, the rule allowing +10%.
func TestDecisionsAgainstBaseline(t *testing.T) {
	t.Parallel()
	five := synth{rounds: 5, windows: 2, noise: 0.05}
	for _, c := range []struct {
		name      string
		cur, base synth
		curMs     float64
		want      gate.Decision
		why       string
	}{
		{"clear regression", five, five, 1.3, gate.Regressed, ""},
		{"same distribution, noise", five, five, 1.0, gate.NoChange, ""},
		{"improvement", five, five, 0.7, gate.Improved, ""},
		{"too few samples", synth{rounds: 3, windows: 1, noise: 0.05}, synth{rounds: 3, windows: 1, noise: 0.05}, 1.3, gate.Inconclusive, "too few samples"},
		{"interval straddles the bound", synth{rounds: 5, windows: 2, noise: 0.15}, synth{rounds: 5, windows: 2, noise: 0.15}, 1.1, gate.Inconclusive, "straddles the bound +10.0%"},
	} {
		c.cur.seed, c.base.seed = 1, 2
		cur := c.cur.file(spec{"direct", "direct", 0.5}, spec{"haproxy", "haproxy", c.curMs})
		base := c.base.file(spec{"direct", "direct", 0.5}, spec{"haproxy", "haproxy", 1.0})
		o := one(t, cur, base, "haproxy.p99<=+10%")
		if o.Decision != c.want || o.Effect == nil || !strings.Contains(o.Why, c.why) {
			t.Errorf("%s: %s", c.name, o)
			continue
		}
		e := o.Effect
		wantPass := c.want == gate.NoChange || c.want == gate.Improved
		if o.Pass != wantPass || e.Paired || e.Unit != "%" || e.Per != "windows" || e.N != c.cur.rounds*c.cur.windows || e.M != e.N {
			t.Errorf("%s: pass %v, effect %+v", c.name, o.Pass, e)
		}
		if o.MoreSamples != (c.want == gate.Inconclusive) {
			t.Errorf("%s: more samples %v", c.name, o.MoreSamples)
		}
		if c.want == gate.Regressed && !(e.Lo > 10 && e.Value > 20 && e.Value < 40) {
			t.Errorf("%s: effect %+v, want about +30%% with the interval above +10%%", c.name, e)
		}
		if !strings.Contains(o.String(), string(c.want)) || !strings.Contains(o.String(), "10 vs 10 windows") && e.N == 10 {
			t.Errorf("%s: line %q", c.name, o)
		}
	}
}

// TestSameDistributionRarelyRegresses: 400 pairs of results drawn from one
// distribution, gated with no allowance at all (+0%, no noise floor): a
// regression is a false positive, which a 95% interval keeps to at most
// 2.5% (one side); 5% leaves room for the draw.
func TestSameDistributionRarelyRegresses(t *testing.T) {
	t.Parallel()
	regressed := 0
	const pairs = 400
	for i := uint64(0); i < pairs; i++ {
		a := synth{seed: 2 * i, rounds: 5, windows: 2, noise: 0.1}.file(spec{"haproxy", "haproxy", 1})
		b := synth{seed: 2*i + 1, rounds: 5, windows: 2, noise: 0.1}.file(spec{"haproxy", "haproxy", 1})
		if one(t, a, b, "haproxy.p99<=+0%").Decision == gate.Regressed {
			regressed++
		}
	}
	if regressed > pairs/20 {
		t.Errorf("%d of %d same-distribution pairs regressed", regressed, pairs)
	}
	t.Logf("%d of %d same-distribution pairs regressed at +0%%", regressed, pairs)
}

// TestNoiseFloorRaisesTheBound: a real 5% rise is a regression against a
// +0% rule, but not when the run's A/A noise floor is 10% of the figure.
func TestNoiseFloorRaisesTheBound(t *testing.T) {
	t.Parallel()
	s := synth{rounds: 5, windows: 2, noise: 0.01}
	base := s.file(spec{"haproxy", "haproxy", 1})
	s.seed = 7
	cur := s.file(spec{"haproxy", "haproxy", 1.05})
	if o := one(t, cur, base, "haproxy.p99<=+0%"); o.Decision != gate.Regressed || o.Effect.FloorKnown {
		t.Errorf("no floor: %s", o)
	}
	cur.NoiseFloorMs = &results.NoiseFloor{P50: 0.01, P99: 0.1}
	o := one(t, cur, base, "haproxy.p99<=+0%")
	if o.Decision != gate.NoChange || !o.Effect.FloorKnown || o.Effect.Floor < 9 || o.Effect.Floor > 11 || o.Effect.Bound != o.Effect.Floor {
		t.Errorf("10%% floor: %s (%+v)", o, o.Effect)
	}
	if !strings.Contains(o.String(), "A/A floor 10.") {
		t.Errorf("line does not show the floor: %s", o)
	}
}

// TestABPairedUnderDrift: two variants of a path measured interleaved in
// one run, on a host whose speed drifts by 30% from round to round. Each
// window is paired with the other variant's nearest window, so the drift
// cancels: +10% against a +5% bound is a regression, the same path twice
// is no significant change.
func TestABPairedUnderDrift(t *testing.T) {
	t.Parallel()
	f := synth{seed: 3, rounds: 5, windows: 2, noise: 0.02, drift: 0.3}.file(
		spec{"direct", "direct", 0.5}, spec{"haproxy-a", "haproxy", 1.0},
		spec{"haproxy-b", "haproxy", 1.1}, spec{"haproxy-a2", "haproxy", 1.0})
	o := one(t, f, nil, "haproxy-b.p99 <= haproxy-a.p99 +5%")
	if o.Decision != gate.Regressed || !o.Effect.Paired || o.Effect.N != 10 || !strings.Contains(o.String(), "10 paired windows") {
		t.Errorf("b against a: %s", o)
	}
	if o := one(t, f, nil, "haproxy-a2.p99 <= haproxy-a.p99 +5%"); o.Decision != gate.NoChange {
		t.Errorf("a2 against a: %s", o)
	}
	// An added delay as a duration: p50 is a third of p99 here, so b adds
	// about 33 us at p50.
	if o := one(t, f, nil, "haproxy-b.p50 <= haproxy-a.p50 +10us"); o.Decision != gate.Regressed || o.Effect.Unit != "ms" {
		t.Errorf("+10us: %s", o)
	}
	if o := one(t, f, nil, "haproxy-b.p50 <= haproxy-a.p50 +100us"); o.Decision != gate.NoChange {
		t.Errorf("+100us: %s", o)
	}
	// * compares every other path with haproxy-a, and skips haproxy-a.
	out := decide(t, f, nil, gate.Options{}, "*.p99 <= haproxy-a.p99 +5%")
	if len(out) != 3 {
		t.Errorf("* against haproxy-a: %v", out)
	}
}

// TestRoundFiguresAndOverhead: figures windows do not keep are compared
// per round; overhead per window is the window minus the nearest baseline
// window, in ms.
func TestRoundFiguresAndOverhead(t *testing.T) {
	t.Parallel()
	s := synth{seed: 4, rounds: 5, windows: 2, noise: 0.03}
	base := s.file(spec{"direct", "direct", 0.5}, spec{"haproxy", "haproxy", 1.0})
	s.seed = 5
	cur := s.file(spec{"direct", "direct", 0.5}, spec{"haproxy", "haproxy", 1.3})
	o := one(t, cur, base, "haproxy.service.p99<=+10%")
	if o.Decision != gate.Regressed || o.Effect.Per != "rounds" || o.Effect.N != 5 {
		t.Errorf("service.p99: %s", o)
	}
	o = one(t, cur, base, "haproxy.overhead.p99<=+10%")
	if o.Decision != gate.Regressed || o.Effect.Unit != "ms" || o.Effect.Value < 0.2 || o.Effect.Value > 0.4 {
		t.Errorf("overhead.p99 (0.5 ms to 0.8 ms): %s", o)
	}
}

// TestAbsoluteRulesStillHold: a limit in ms is the merged figure against
// the limit, decided as holds or fails.
func TestAbsoluteRulesStillHold(t *testing.T) {
	t.Parallel()
	f := synth{seed: 6, rounds: 2, windows: 2, noise: 0.01}.file(spec{"linkerd", "linkerd", 4})
	out := decide(t, f, nil, gate.Options{}, "linkerd.p99<=5ms", "linkerd.p99<=3ms")
	if out[0].Decision != gate.Holds || !out[0].Pass || out[1].Decision != gate.Fails || out[1].Pass {
		t.Errorf("%v", out)
	}
}

func TestAllowInconclusive(t *testing.T) {
	t.Parallel()
	s := synth{seed: 8, rounds: 2, windows: 1, noise: 0.05}
	base := s.file(spec{"haproxy", "haproxy", 1})
	v, err := gate.Decide(s.file(spec{"haproxy", "haproxy", 1}), base, []string{"haproxy.p99<=+10%"}, gate.Options{AllowInconclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	o := v.Outcomes[0]
	if o.Decision != gate.Inconclusive || !o.Pass || !o.Allowed || o.Status() != "WARN" || v.Failed() != 0 {
		t.Errorf("%s", o)
	}
}

// TestInterruptedFails: a partial result, or a partial baseline, adds a
// failing outcome that --allow-inconclusive does not let through.
func TestInterruptedFails(t *testing.T) {
	t.Parallel()
	s := synth{seed: 9, rounds: 5, windows: 2, noise: 0.05}
	cur, base := s.file(spec{"haproxy", "haproxy", 1}), s.file(spec{"haproxy", "haproxy", 1})
	cur.Interrupted = true
	v, err := gate.Decide(cur, base, []string{"haproxy.p99<=5ms"}, gate.Options{AllowInconclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if v.Failed() != 1 || len(v.Outcomes) != 2 || !strings.Contains(v.Outcomes[1].String(), "FAIL  result complete") {
		t.Errorf("%v", v.Outcomes)
	}
}

// TestBadRules: every malformed rule, and every rule naming what the
// result lacks, is bad input (exit 2).
func TestBadRules(t *testing.T) {
	t.Parallel()
	f := synth{seed: 10, rounds: 5, windows: 2, noise: 0.05}.file(spec{"haproxy", "haproxy", 1}, spec{"haproxy-a", "haproxy", 1})
	for _, text := range []string{
		"haproxy.p99<=haproxy-a.p50 +5%", // unlike metrics
		"haproxy.p99<=haproxy.p99",       // a path against itself
		"haproxy.p99<=-100%",             // no latency falls that far
		"haproxy.p99<=nosuch.p99 +5%",    // no such path to compare with
		"nosuch.p99<=haproxy-a.p99",      // no such path
		"haproxy.p99<=+10%",              // a baseline rule without a baseline
		"haproxy.p98<=1ms",               // no such metric
		"haproxy.p99<=haproxy-a.p99 +fast",
		"haproxy.p99<=*.p99",
		"haproxy.p99<=5 ms",
	} {
		_, err := gate.Decide(f, nil, []string{text}, gate.Options{})
		if err == nil || !errext.IsBadInput(err) || errext.Code(err) != errext.BadInputExit {
			t.Errorf("%q: %v", text, err)
		}
	}
}

// TestFilesWithoutWindows: files written before windows and window times
// were kept give one sample per round: overhead from each row's own, A/B
// pairs by round.
func TestFilesWithoutWindows(t *testing.T) {
	t.Parallel()
	strip := func(f *results.File) *results.File {
		for i := range f.Paths {
			f.Paths[i].Windows, f.Paths[i].WindowStart = nil, time.Time{}
		}
		return f
	}
	s := synth{seed: 40, rounds: 6, windows: 3, noise: 0.03}
	paths := []spec{{"direct", "direct", 0.5}, {"haproxy-a", "haproxy", 1}, {"haproxy", "haproxy", 1}}
	base := strip(s.file(paths...))
	s.seed++
	paths[2].ms = 1.4
	cur := strip(s.file(paths...))
	o := one(t, cur, base, "haproxy.overhead.p99<=+10%")
	if o.Decision != gate.Regressed || o.Effect.Per != "rounds" || o.Effect.N != 6 {
		t.Errorf("overhead: %s", o)
	}
	o = one(t, cur, nil, "haproxy.p99 <= haproxy-a.p99 +10%")
	if o.Decision != gate.Regressed || !o.Effect.Paired || o.Effect.N != 6 || o.Effect.Per != "rounds" {
		t.Errorf("A/B: %s", o)
	}
}
