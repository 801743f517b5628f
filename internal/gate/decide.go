package gate

import (
	"fmt"
	"math"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/stats"
)

// Level is the confidence of every interval a decision rests on.
const Level = 0.95

// side is one side of a comparison: a path in a result.
type side struct {
	f    *results.File
	name string
	role string // for messages: "the baseline", "haproxy-a"
}

// compare decides a comparison of a latency metric: the path in cur
// against ref (the same path in the baseline result, or the rule's other
// path in cur, paired window by window when paired).
func compare(r Rule, cur, ref side, paired bool, floorFiles ...*results.File) Outcome {
	o := Outcome{Rule: r, Path: cur.name}
	y, x := seriesOf(cur.f, cur.name, r.Metric), seriesOf(ref.f, ref.name, r.Metric)
	over := strings.HasPrefix(r.Metric, "overhead.")
	ratio := r.Relative && !over
	if ratio {
		y, x = positive(y), positive(x)
	}
	switch {
	case len(y.vals) == 0:
		o.Decision, o.Skipped = Missing, fmt.Sprintf("%s has no %s samples", cur.name, r.Metric)
		return o
	case len(x.vals) == 0:
		o.Decision, o.Skipped = Missing, fmt.Sprintf("%s has no %s samples for %s", ref.role, r.Metric, ref.name)
		return o
	}
	tr := func(v float64) float64 { return v }
	if ratio {
		tr = math.Log
	}
	var sh stats.Shift
	refVals := x.vals
	if paired {
		bv, av := pairUp(y, x)
		d := make([]float64, len(bv))
		for i := range bv {
			d[i] = tr(bv[i]) - tr(av[i])
		}
		sh, refVals = stats.WilcoxonShift(d, Level), av
	} else {
		sh = stats.MannWhitneyShift(apply(x.vals, tr), apply(y.vals, tr), Level)
	}
	e := &Effect{Unit: "ms", Value: sh.Estimate, Lo: sh.Lo, Hi: sh.Hi, Coverage: sh.Coverage, P: sh.P,
		N: sh.N, M: sh.M, Per: y.per, Paired: paired, Bound: r.Limit}
	if paired {
		e.M = sh.N
	}
	refMedian := stats.Median(refVals)
	floorMs, known := noiseFloor(r.Metric, floorFiles...)
	e.FloorKnown = known
	if ratio {
		e.Unit = "%"
		for _, v := range []*float64{&e.Value, &e.Lo, &e.Hi} {
			*v = 100 * (math.Exp(*v) - 1)
		}
		if refMedian > 0 {
			e.Floor = 100 * floorMs / refMedian
		}
	} else {
		e.Floor = floorMs
		if r.Relative { // a percentage of an overhead: of the other side's median
			e.Bound = math.Abs(refMedian) * r.Limit / 100
		}
	}
	o.Effect = e
	decide(&o, sh.Reaches(Level))
	return o
}

// decide sets the outcome's decision from its effect. For a rule that
// bounds from above (<=) with bound B, raised to the noise floor F when B
// is not negative: the interval above B is a regression; at or below B
// no significant change, or an improvement when it lies below −F; across B
// inconclusive. A rule that bounds from below is the mirror image.
func decide(o *Outcome, enough bool) {
	e, d := o.Effect, o.Rule.direction()
	lo, hi, bound := d*e.Lo, d*e.Hi, d*e.Bound
	if d < 0 {
		lo, hi = hi, lo
	}
	if bound >= 0 {
		bound = max(bound, e.Floor)
	}
	e.Bound = d * bound
	switch {
	case !enough:
		o.Decision, o.MoreSamples = Inconclusive, true
		o.Why = fmt.Sprintf("too few samples for a %.0f%% interval (%s): more rounds (run --max-rounds) would give one", 100*Level, e.Samples())
	case lo > bound:
		o.Decision = Regressed
	case hi <= bound && hi < 0 && hi < -e.Floor:
		o.Decision, o.Pass = Improved, true
	case hi <= bound:
		o.Decision, o.Pass = NoChange, true
	default:
		o.Decision, o.MoreSamples = Inconclusive, true
		o.Why = fmt.Sprintf("the interval straddles the bound %s; more rounds (run --max-rounds) would narrow it", e.Format(e.Bound))
	}
}

// noiseFloor is the largest A/A noise floor of the files at the metric's
// percentile (p50 for p50 and mean, p99 for the tail), in ms.
func noiseFloor(metric string, files ...*results.File) (float64, bool) {
	base := strings.TrimPrefix(strings.TrimPrefix(metric, "service."), "overhead.")
	v, known := 0.0, false
	for _, f := range files {
		if f == nil || f.NoiseFloorMs == nil {
			continue
		}
		known = true
		if base == "p50" || base == "mean" {
			v = max(v, f.NoiseFloorMs.P50)
		} else {
			v = max(v, f.NoiseFloorMs.P99)
		}
	}
	return v, known
}

// positive keeps the values a ratio can be taken of.
func positive(s series) series {
	out := series{per: s.per}
	for i, v := range s.vals {
		if v > 0 {
			out.add(v, s.at[i])
		}
	}
	return out
}

func apply(xs []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
