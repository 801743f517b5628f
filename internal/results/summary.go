package results

import (
	"math"
	"time"

	"github.com/meshbench/meshbench/internal/stats"
)

// Sample is one measured window of a row. A row (one path in one round) is
// measured in one or more windows interleaved with the other paths'; each is
// a sample for overhead intervals and gates.
type Sample struct {
	// StartS is when the window opened, in seconds after the row's
	// window_start; DurationS is its length.
	StartS    float64 `json:"t_s"`
	DurationS float64 `json:"duration_s"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Late      int64   `json:"late"`
	P50Ms     float64 `json:"p50_ms"`
	P90Ms     float64 `json:"p90_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
}

// Estimate is a figure with its 95% interval, in ms.
type Estimate struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// Contains reports whether v lies inside the interval.
func (e Estimate) Contains(v float64) bool { return e.Lo <= v && v <= e.Hi }

// OverheadEstimate is a path's overhead at three percentiles.
type OverheadEstimate struct {
	P50 Estimate `json:"p50"`
	P90 Estimate `json:"p90"`
	P99 Estimate `json:"p99"`
}

// Verdicts of a summary entry.
const (
	VerdictAbove    = "above noise"  // the p50 overhead interval lies above 0
	VerdictWithin   = "within noise" // it contains 0
	VerdictBelow    = "below noise"  // it lies below 0: faster than the baseline
	VerdictBaseline = "baseline"     // the path others are compared with
	VerdictUnpaired = "no baseline"  // no baseline window to pair with
	// VerdictFewWindows: fewer pairs than a 95% interval needs
	// (stats.MinSamples95); the interval is then the pairs' range.
	VerdictFewWindows = "too few windows"
)

// Summary is one path (at one sweep step) over the whole run: how many
// windows it was measured in, and its overhead over the baseline with a 95%
// interval from the paired windows (SPEC.md, "Measurement method").
type Summary struct {
	Name    string `json:"name"`
	Step    int    `json:"step,omitempty"`
	Windows int    `json:"windows"`
	// Pairs is how many of the windows were paired with a baseline window.
	Pairs      int               `json:"pairs,omitempty"`
	OverheadMs *OverheadEstimate `json:"overhead_ms,omitempty"`
	// Confidence is the intervals' exact coverage: 0.95 or more, less only
	// when there were too few pairs to reach it.
	Confidence float64 `json:"confidence,omitempty"`
	Verdict    string  `json:"verdict"`
	// Knee is where the path stopped carrying a sweep's load (sweeps only;
	// the same knee on each of the path's entries, with this step's own
	// judgement).
	Knee *Knee `json:"knee,omitempty"`
	// Resilience is how the path met the scenario's faults, its rows'
	// blocks merged (scenarios with faults only).
	Resilience *Resilience `json:"resilience,omitempty"`
}

// Knee is the highest rate of a sweep a path carried. A step is carried
// when the path met its target rate within 1%, with under 1% of its sends
// late for want of a connection (Late.ConnWaitCount: the target held every
// connection; the load generator's own lag is not the path's) and under 1%
// of its requests failed, and its p99 within the bound;
// the knee is the highest rate up to which every measured step was
// carried, so that one noisy step above a failed one does not raise it.
type Knee struct {
	// Rate is the knee, in requests/s; 0 when the lowest step failed.
	Rate float64 `json:"rate"`
	// Reason says why the knee is there: what failed at the lowest
	// failed step, or that every step was carried.
	Reason string `json:"reason"`
	// P99BoundMs is the p99 bound the steps were held to.
	P99BoundMs float64 `json:"p99_bound_ms"`
	// Carried says whether this entry's step was carried; Why, when it
	// was not, says what failed.
	Carried bool   `json:"carried"`
	Why     string `json:"why,omitempty"`
	// SkippedAbove is the rate above which the path was not measured,
	// having clearly saturated there; 0 when it was measured at every step.
	SkippedAbove float64 `json:"skipped_above,omitempty"`
}

// NoiseFloor is the run's A/A overhead, the baseline measured against
// itself: the largest magnitude inside its 95% interval, in ms. An effect
// smaller than this cannot be told from noise in this run.
type NoiseFloor struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Placement records the CPUs each group of processes could run on, as CPU
// lists in the kernel's syntax ("0", "1-3").
type Placement struct {
	Mode    string `json:"mode"` // shared or split
	Loadgen string `json:"loadgen"`
	Backend string `json:"backend"`
	Proxies string `json:"proxies"`
}

// AAName is the name of the second baseline path every run measures, to
// learn its own noise floor (A/A).
const AAName = "direct-aa"

// confidence is the level of every overhead interval.
const confidence = 0.95

// SummarizePaths builds one summary entry per path and sweep step of f, in the
// order paths first appear, with its overhead from paired windows: each of
// the path's windows is paired with the baseline window of the same step
// nearest to it in time, and the overhead at a percentile is the median of
// the paired differences with its sign-test 95% interval (package stats).
// It also returns the noise floor, from the A/A path's entry (nil without
// one). Rows without windows (files written before windows were recorded)
// count as one window each.
func SummarizePaths(f *File) ([]Summary, *NoiseFloor) {
	type key struct {
		name string
		step int
	}
	type win struct {
		at time.Time
		s  Sample
	}
	marked := false
	for _, p := range f.Paths {
		marked = marked || p.Baseline
	}
	var order []key
	byKey := map[key][]win{}
	base := map[int][]win{}
	for _, p := range f.Paths {
		k := key{p.Name, p.Step}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		for _, s := range rowSamples(p) {
			w := win{p.WindowStart.Add(time.Duration(s.StartS * float64(time.Second))), s}
			byKey[k] = append(byKey[k], w)
			if p.Baseline || (!marked && p.Kind == "direct" && p.Name != AAName) {
				base[p.Step] = append(base[p.Step], w)
			}
		}
	}
	isBase := map[key]bool{}
	for _, p := range f.Paths {
		if p.Baseline || (!marked && p.Kind == "direct" && p.Name != AAName) {
			isBase[key{p.Name, p.Step}] = true
		}
	}
	blocks := map[key][]*Resilience{}
	for _, p := range f.Paths {
		k := key{p.Name, p.Step}
		blocks[k] = append(blocks[k], p.Resilience)
	}
	var out []Summary
	var floor *NoiseFloor
	for _, k := range order {
		ws := byKey[k]
		s := Summary{Name: k.name, Step: k.step, Windows: len(ws)}
		if isBase[k] {
			s.Verdict = VerdictBaseline
			out = append(out, s)
			continue
		}
		var d50, d90, d99 []float64
		for _, w := range ws {
			b, ok := nearest(base[k.step], w.at, func(x win) time.Time { return x.at })
			if !ok || w.s.Requests == 0 || b.s.Requests == 0 {
				continue
			}
			d50 = append(d50, w.s.P50Ms-b.s.P50Ms)
			d90 = append(d90, w.s.P90Ms-b.s.P90Ms)
			d99 = append(d99, w.s.P99Ms-b.s.P99Ms)
		}
		s.Pairs = len(d50)
		if s.Pairs == 0 {
			s.Verdict = VerdictUnpaired
			out = append(out, s)
			continue
		}
		i50, i90, i99 := stats.MedianInterval(d50, confidence), stats.MedianInterval(d90, confidence), stats.MedianInterval(d99, confidence)
		s.OverheadMs = &OverheadEstimate{P50: estimate(i50), P90: estimate(i90), P99: estimate(i99)}
		s.Confidence = round3(i50.Coverage)
		switch {
		case s.Pairs < stats.MinSamples95:
			s.Verdict = VerdictFewWindows
		case i50.Lo > 0:
			s.Verdict = VerdictAbove
		case i50.Hi < 0:
			s.Verdict = VerdictBelow
		default:
			s.Verdict = VerdictWithin
		}
		if k.name == AAName && s.Pairs >= stats.MinSamples95 {
			nf := NoiseFloor{P50: reach(i50), P99: reach(i99)}
			if floor == nil {
				floor = &nf
			} else {
				floor.P50, floor.P99 = max(floor.P50, nf.P50), max(floor.P99, nf.P99)
			}
		}
		out = append(out, s)
	}
	for i := range out {
		out[i].Resilience = MergeResilience(blocks[key{out[i].Name, out[i].Step}])
	}
	return out, floor
}

// rowSamples are a row's windows, or the row itself as one window.
func rowSamples(p Path) []Sample {
	if len(p.Windows) > 0 {
		return p.Windows
	}
	l := p.LatencyMs
	return []Sample{{DurationS: p.DurationS, Requests: p.Requests, Errors: p.Errors, Late: p.Late.Count,
		P50Ms: l.P50, P90Ms: l.P90, P99Ms: l.P99, P999Ms: l.P999}}
}

// nearest is the element of xs whose time is closest to t.
func nearest[T any](xs []T, t time.Time, at func(T) time.Time) (T, bool) {
	var best T
	bestD := time.Duration(math.MaxInt64)
	for _, x := range xs {
		d := at(x).Sub(t)
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = x, d
		}
	}
	return best, bestD != time.Duration(math.MaxInt64)
}

func estimate(iv stats.Interval) Estimate {
	return Estimate{Value: round3(iv.Median), Lo: round3(iv.Lo), Hi: round3(iv.Hi)}
}

// reach is the largest magnitude inside an interval.
func reach(iv stats.Interval) float64 { return round3(max(math.Abs(iv.Lo), math.Abs(iv.Hi))) }
