package runner

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// row gathers the windows of one path in one round into its result row. It
// folds each window in as it comes and keeps only what the row reports of
// it (a sample, host figures, a resilience block, the timeline's summaries),
// so that a long run of many short windows holds memory flat: a window's
// histograms are merged into the row's, not kept.
type row struct {
	w        Window // the row's first window
	settings map[string]string
	// faults are the scenario's, which every window of the row met.
	faults []scenario.Fault

	acc       *load.Result // every window so far, merged; no timeline
	weighted  float64      // Σ target rate × window length
	measuredS float64
	samples   []results.Sample
	timeline  []results.Interval
	stats     []*results.HostStats
	server    []*results.HostStats
	blocks    []*results.Resilience
	resErr    error

	usage *results.Proxy
	// usageErr is the first reason a window's usage is unknown; the row's
	// usage is then unknown as a whole.
	usageErr error
	hasUsage bool
	// warnings are the runner's about the row (a proxy that died).
	warnings []string
}

func (rw *row) add(m *measured) {
	r := m.load
	if rw.acc == nil {
		rw.acc = &load.Result{
			Start: r.Start, ErrorsByClass: map[string]int64{},
			Late: load.Lateness{Threshold: r.Late.Threshold,
				All: results.NewHistogram(), Dispatch: results.NewHistogram()},
			Response: results.NewHistogram(), Service: results.NewHistogram(),
		}
	}
	if len(rw.faults) > 0 && rw.resErr == nil {
		b, err := windowResilience(rw.faults, r)
		rw.blocks, rw.resErr = append(rw.blocks, b), err
	}
	off := r.Start.Sub(rw.acc.Start)
	s := results.Summarize(r.Response)
	rw.samples = append(rw.samples, results.Sample{
		StartS:    round3(off.Seconds()),
		DurationS: round3(r.Window().Seconds()),
		Requests:  r.Requests, Errors: r.Errors, Late: r.Late.Count,
		P50Ms: s.P50, P90Ms: s.P90, P99Ms: s.P99, P999Ms: s.P999,
	})
	rw.timeline = append(rw.timeline, compactTimeline(r.Timeline, off)...)
	rw.stats = append(rw.stats, m.stats)
	rw.server = append(rw.server, m.serverStats)
	rw.measuredS += r.Window().Seconds()
	rw.weighted += r.TargetRate * r.Window().Seconds()
	mergeInto(rw.acc, r)
	switch {
	case m.usageErr != nil:
		if rw.usageErr == nil {
			rw.usageErr = m.usageErr
		}
	case m.usage != nil:
		rw.hasUsage = true
		rw.usage = addUsage(rw.usage, m.usage)
	}
}

// result is the row as the result file has it: counts and histograms over
// all its windows, one sample per window.
func (rw *row) result(baseline string, full time.Duration) (*results.Path, error) {
	w := rw.w
	res := rw.acc
	if secs := rw.measuredS; secs > 0 {
		// Rates over the measured time only, not the other paths' windows
		// in between.
		res.AchievedRate = float64(res.Sent) / secs
		res.Throughput = float64(res.Requests-res.Errors) / secs
		res.TargetRate = rw.weighted / secs
	}
	p := &results.Path{Name: w.Path.Name, Kind: w.Path.Kind, Trial: w.Round, Step: w.Step.Index, Order: w.Order, Baseline: w.Path.Name == baseline && baseline != ""}
	if err := pathRow(p, res); err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	p.Windows = rw.samples
	p.Timeline = rw.timeline
	p.DurationS = round3(rw.measuredS)
	p.Settings = rw.settings
	p.HostStats = mergeHostStats(rw.stats)
	p.ServerHostStats = mergeHostStats(rw.server)
	p.WindowStart = res.Start.UTC()
	if res.Interrupted {
		p.Warnings = append(p.Warnings, fmt.Sprintf("interrupted: the path was measured for %.1fs of %s", rw.measuredS, full))
	}
	switch {
	case rw.usageErr != nil:
		p.Warnings = append(p.Warnings, fmt.Sprintf("proxy usage unknown: %v", rw.usageErr))
	case rw.hasUsage:
		p.Proxy = rw.usage
	}
	p.Warnings = append(p.Warnings, rw.warnings...)
	if rw.resErr != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, rw.resErr)
	}
	p.Resilience = rowResilience(rw.blocks, p.Proxy)
	return p, nil
}

// mergeInto adds one window's load result to the row's: counts summed,
// histograms merged, the end moved to the window's. Rates are set by the
// row, over its measured time.
func mergeInto(out, r *load.Result) {
	out.End = r.End
	out.Requests += r.Requests
	out.Sent += r.Sent
	out.Unsent += r.Unsent
	out.Pending += r.Pending
	out.Errors += r.Errors
	for k, v := range r.ErrorsByClass {
		out.ErrorsByClass[k] += v
	}
	out.Late.Count += r.Late.Count
	out.Late.Loop += r.Late.Loop
	out.Late.ConnWait += r.Late.ConnWait
	out.Late.TimedWakeups += r.Late.TimedWakeups
	out.Late.WokeLate += r.Late.WokeLate
	out.Late.LoopWokeLate += r.Late.LoopWokeLate
	out.Late.Max = max(out.Late.Max, r.Late.Max)
	for _, h := range [][2]*hdrhistogram.Histogram{
		{out.Late.All, r.Late.All}, {out.Late.Dispatch, r.Late.Dispatch},
		{out.Response, r.Response}, {out.Service, r.Service},
	} {
		if h[1] != nil {
			h[0].Merge(h[1])
		}
	}
	out.Interrupted = out.Interrupted || r.Interrupted
}

var round3 = results.Round3
