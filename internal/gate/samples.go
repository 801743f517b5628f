package gate

import (
	"math"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// series is one side of a comparison: a path's values of a metric in one
// result, one per measured window (or per round), with when each was
// measured so that two paths' windows can be paired.
type series struct {
	vals []float64
	at   []time.Time
	// per is what one value is: "windows" or "rounds".
	per string
}

func (s *series) add(v float64, at time.Time) {
	s.vals = append(s.vals, v)
	s.at = append(s.at, at)
}

// windowFigure reads a latency percentile from a window sample; ok is
// false for figures windows do not keep (service time, p9999, max, mean).
func windowFigure(metric string) (get func(results.Sample) float64, ok bool) {
	switch strings.TrimPrefix(metric, "overhead.") {
	case "p50":
		return func(s results.Sample) float64 { return s.P50Ms }, true
	case "p90":
		return func(s results.Sample) float64 { return s.P90Ms }, true
	case "p99":
		return func(s results.Sample) float64 { return s.P99Ms }, true
	case "p999":
		return func(s results.Sample) float64 { return s.P999Ms }, true
	}
	return nil, false
}

// rowsOf are the rows of f merged under name (a path, or PATH@RATErps in a
// sweep).
func rowsOf(f *results.File, name string) []results.Path {
	var out []results.Path
	for _, p := range f.Paths {
		if results.MergedName(p) == name {
			out = append(out, p)
		}
	}
	return out
}

// stamped is a window sample and when it opened.
type stamped struct {
	at time.Time
	s  results.Sample
}

// windowsOf are a row's windows, or the row itself as one window when the
// file kept none; windows without requests carry no latency and are left out.
func windowsOf(p results.Path) []stamped {
	ws := p.Windows
	if len(ws) == 0 {
		l := p.LatencyMs
		ws = []results.Sample{{DurationS: p.DurationS, Requests: l.Count, P50Ms: l.P50, P90Ms: l.P90, P99Ms: l.P99, P999Ms: l.P999}}
	}
	out := make([]stamped, 0, len(ws))
	for _, s := range ws {
		if s.Requests > 0 {
			out = append(out, stamped{p.WindowStart.Add(time.Duration(s.StartS * float64(time.Second))), s})
		}
	}
	return out
}

// isBaseline says whether a row is the one others' overhead is measured
// against, as results.SummarizePaths decides it.
func isBaseline(f *results.File) func(results.Path) bool {
	marked := false
	for _, p := range f.Paths {
		marked = marked || p.Baseline
	}
	return func(p results.Path) bool {
		return p.Baseline || (!marked && p.Kind == "direct" && p.Name != results.AAName)
	}
}

// seriesOf collects the samples of metric for the path name in f. Window
// figures (p50, p90, p99, p999) come one per window (a row without windows
// is one); overhead at them is each window minus the baseline window of the
// same step nearest to it in time. The figures windows do not keep, and
// overhead in files without windows, come one per round.
func seriesOf(f *results.File, name, metric string) series {
	rows := rowsOf(f, name)
	get, perWindow := windowFigure(metric)
	hasWindows := false
	for _, p := range rows {
		hasWindows = hasWindows || len(p.Windows) > 0
	}
	over := strings.HasPrefix(metric, "overhead.")
	var s series
	// Without windows, a row's own overhead is against the baseline of its
	// round, which pairing by time could not find in files without times.
	if !perWindow || (over && !hasWindows) {
		s.per = "rounds"
		for _, p := range rows {
			if v, ok := value(results.Merged{Path: p}, metric); ok {
				s.add(v, p.WindowStart)
			}
		}
		return s
	}
	s.per = "rounds"
	if hasWindows {
		s.per = "windows"
	}
	base := map[int][]stamped{}
	if over {
		isBase := isBaseline(f)
		for _, p := range f.Paths {
			if isBase(p) {
				base[p.Step] = append(base[p.Step], windowsOf(p)...)
			}
		}
	}
	for _, p := range rows {
		for _, w := range windowsOf(p) {
			v := get(w.s)
			if over {
				b, ok := nearest(base[p.Step], w.at)
				if !ok {
					continue
				}
				v -= get(b.s)
			}
			s.add(v, w.at)
		}
	}
	return s
}

// nearest is the window of xs closest in time to t.
func nearest(xs []stamped, t time.Time) (stamped, bool) {
	var best stamped
	bestD := time.Duration(math.MaxInt64)
	for _, x := range xs {
		d := x.at.Sub(t)
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = x, d
		}
	}
	return best, bestD != time.Duration(math.MaxInt64)
}

// pairUp pairs each sample of b with the sample of a nearest to it in
// time, or by position when either side has no times (older files).
func pairUp(b, a series) (bv, av []float64) {
	timed := len(a.at) > 0
	for _, t := range append(append([]time.Time{}, a.at...), b.at...) {
		timed = timed && !t.IsZero()
	}
	if !timed {
		n := min(len(a.vals), len(b.vals))
		return b.vals[:n], a.vals[:n]
	}
	for i, v := range b.vals {
		j, bestD := 0, time.Duration(math.MaxInt64)
		for k, t := range a.at {
			d := t.Sub(b.at[i])
			if d < 0 {
				d = -d
			}
			if d < bestD {
				j, bestD = k, d
			}
		}
		bv, av = append(bv, v), append(av, a.vals[j])
	}
	return bv, av
}
