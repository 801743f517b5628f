package runner

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// row gathers the windows of one path in one round into its result row.
type row struct {
	w        Window // the row's first window
	settings map[string]string
	// faults are the scenario's, which every window of the row met.
	faults  []scenario.Fault
	windows []*measured
	usage   *results.Proxy
	// usageErr is the first reason a window's usage is unknown; the row's
	// usage is then unknown as a whole.
	usageErr error
	hasUsage bool
}

func (rw *row) add(m *measured) {
	rw.windows = append(rw.windows, m)
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
	res := mergeLoad(rw.windows)
	p := &results.Path{Name: w.Path.Name, Kind: w.Path.Kind, Trial: w.Round, Step: w.Step.Index, Order: w.Order, Baseline: w.Path.Name == baseline && baseline != ""}
	if err := pathRow(p, res); err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	var measuredS float64
	var stats, server []*results.HostStats
	for _, m := range rw.windows {
		server = append(server, m.serverStats)
		r := m.load
		measuredS += r.Window().Seconds()
		stats = append(stats, m.stats)
		s := results.Summarize(r.Response)
		p.Windows = append(p.Windows, results.Sample{
			StartS:    round3(r.Start.Sub(res.Start).Seconds()),
			DurationS: round3(r.Window().Seconds()),
			Requests:  r.Requests, Errors: r.Errors, Late: r.Late.Count,
			P50Ms: s.P50, P90Ms: s.P90, P99Ms: s.P99, P999Ms: s.P999,
		})
	}
	p.DurationS = round3(measuredS)
	p.Settings = rw.settings
	p.HostStats = mergeHostStats(stats)
	p.ServerHostStats = mergeHostStats(server)
	p.WindowStart = res.Start.UTC()
	if res.Interrupted {
		p.Warnings = append(p.Warnings, fmt.Sprintf("interrupted: the path was measured for %.1fs of %s", measuredS, full))
	}
	switch {
	case rw.usageErr != nil:
		p.Warnings = append(p.Warnings, fmt.Sprintf("proxy usage unknown: %v", rw.usageErr))
	case rw.hasUsage:
		p.Proxy = rw.usage
	}
	var err error
	if p.Resilience, err = rowResilience(rw.faults, rw.windows, p.Proxy); err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	return p, nil
}

// mergeLoad folds the load results of a row's windows into one: counts
// summed, histograms merged, rates over the measured time only (not the
// other paths' windows in between), timelines placed at their own times.
func mergeLoad(ms []*measured) *load.Result {
	if len(ms) == 1 {
		return ms[0].load
	}
	first := ms[0].load
	out := &load.Result{
		Start: first.Start, End: ms[len(ms)-1].load.End,
		ErrorsByClass: map[string]int64{},
		Late: load.Lateness{Threshold: first.Late.Threshold,
			All: results.NewHistogram(), Dispatch: results.NewHistogram()},
		Response: results.NewHistogram(), Service: results.NewHistogram(),
	}
	var secs, target float64
	for _, m := range ms {
		r := m.load
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
		out.Late.Max = max(out.Late.Max, r.Late.Max)
		for _, h := range [][2]*hdrhistogram.Histogram{
			{out.Late.All, r.Late.All}, {out.Late.Dispatch, r.Late.Dispatch},
			{out.Response, r.Response}, {out.Service, r.Service},
		} {
			if h[1] != nil {
				h[0].Merge(h[1])
			}
		}
		d := r.Window().Seconds()
		secs += d
		target += r.TargetRate * d
		off := r.Start.Sub(first.Start)
		for _, iv := range r.Timeline {
			iv.Start += off
			out.Timeline = append(out.Timeline, iv)
		}
		out.Interrupted = out.Interrupted || r.Interrupted
	}
	if secs > 0 {
		out.AchievedRate = float64(out.Sent) / secs
		out.Throughput = float64(out.Requests-out.Errors) / secs
		out.TargetRate = target / secs
	}
	return out
}

var round3 = results.Round3
