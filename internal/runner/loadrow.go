package runner

import (
	"fmt"
	"time"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
)

// pathRow sets the fields of p that a load run knows: rates, counts,
// lateness, latency and service-time percentiles, histograms, the timeline,
// and warnings that say which side stalled when the figures cannot be
// taken at face value.
func pathRow(p *results.Path, r *load.Result) error {
	p.TargetRate = round3(r.TargetRate)
	p.AchievedRate = round3(r.AchievedRate)
	p.Throughput = round3(r.Throughput)
	p.DurationS = round3(r.Window().Seconds())
	p.Requests, p.Errors, p.Unsent = r.Requests, r.Errors, r.Unsent
	p.ErrorsByClass = make(map[string]int64, len(r.ErrorsByClass))
	for k, v := range r.ErrorsByClass {
		p.ErrorsByClass[k] = v
	}
	lateness := results.Summarize(r.Late.All)
	p.Late = results.Late{
		Count:         r.Late.Count,
		LoopCount:     r.Late.Loop,
		ConnWaitCount: r.Late.ConnWait,
		MaxMs:         lateness.Max,
		P99Ms:         lateness.P99,
		ThresholdMs:   float64(r.Late.Threshold) / float64(time.Millisecond),
		TimedWakeups:  r.Late.TimedWakeups,
		WokeLate:      r.Late.WokeLate,

		LoopWokeLateCount: r.Late.LoopWokeLate,
	}
	p.LatencyMs = results.Summarize(r.Response)
	p.ServiceTimeMs = results.Summarize(r.Service)
	var err error
	if p.Histogram, err = results.EncodeHistogram(r.Response); err != nil {
		return err
	}
	if p.ServiceHistogram, err = results.EncodeHistogram(r.Service); err != nil {
		return err
	}
	p.Timeline = compactTimeline(r.Timeline, 0)
	p.Warnings = append(p.Warnings, stallWarnings(r)...)
	return nil
}

// compactTimeline summarises the load engine's timeline slices for the
// result (p50, p99, max of each), placed off later than they were: a
// window's offset within its row.
func compactTimeline(ivs []load.Interval, off time.Duration) []results.Interval {
	out := make([]results.Interval, 0, len(ivs))
	for _, iv := range ivs {
		s := results.Summarize(iv.Response)
		out = append(out, results.Interval{
			StartS: round3((off + iv.Start).Seconds()), Requests: iv.Requests, Errors: iv.Errors,
			P50Ms: s.P50, P99Ms: s.P99, MaxMs: s.Max,
		})
	}
	return out
}

// stallWarnings say which side held the load back: the load generator
// itself (sends late with a free connection), or the target (sends late
// because slow responses held every connection, requests with no response
// in time, requests that never got a connection).
func stallWarnings(r *load.Result) []string {
	var out []string
	share := func(n int64) float64 { return 100 * float64(n) / float64(r.Sent) }
	if r.Sent > 0 && float64(r.Late.Loop) > 0.01*float64(r.Sent) {
		out = append(out, loopLateWarning(r, share(r.Late.Loop)))
	}
	if r.Sent > 0 && float64(r.Late.ConnWait) > 0.01*float64(r.Sent) {
		out = append(out, fmt.Sprintf(
			"target too slow for the connections allowed: %.1f%% of sends left more than %s late because slow responses held every connection",
			share(r.Late.ConnWait), r.Late.Threshold))
	}
	if stalled := r.ErrorsByClass[load.ClassTimeout] + r.ErrorsByClass[load.ClassUnfinished]; r.Requests > 0 && float64(stalled) > 0.01*float64(r.Requests) {
		out = append(out, fmt.Sprintf(
			"target stalled: %.1f%% of requests got no response (%d timed out, %d unfinished when the run was interrupted)",
			100*float64(stalled)/float64(r.Requests), r.ErrorsByClass[load.ClassTimeout], r.ErrorsByClass[load.ClassUnfinished]))
	}
	if r.Unsent > 0 {
		out = append(out, fmt.Sprintf(
			"%d requests were still waiting for a free connection when the run was interrupted (errors of class unfinished, in the latency record)", r.Unsent))
	}
	return out
}

// loopLateWarning names the cause of sends the load generator made late
// with a connection free. When at least half of them were due before a
// timer wake-up of the loop that came late returned, the host did not run
// the loop in time, which no load generator that sleeps between sends
// avoids: the warning says so, with the shares, instead of blaming the load
// generator's capacity.
func loopLateWarning(r *load.Result, latePct float64) string {
	worst := r.Late.Max.Round(time.Microsecond)
	if r.Late.TimedWakeups > 0 && 2*r.Late.LoopWokeLate >= r.Late.Loop {
		return fmt.Sprintf(
			"load generator woken late by the host: %.1f%% of sends left more than %s late with a connection free (worst %s), %d of those %d after one of its timer wake-ups (%.2f%% of them) came more than %s late: the host's scheduling (`meshbench host` measures it as sleep jitter), not the load generator's CPU",
			latePct, r.Late.Threshold, worst, r.Late.LoopWokeLate, r.Late.Loop,
			100*float64(r.Late.WokeLate)/float64(r.Late.TimedWakeups), r.Late.Threshold)
	}
	return fmt.Sprintf(
		"load generator could not keep up: %.1f%% of sends left more than %s late with a connection free (worst %s)",
		latePct, r.Late.Threshold, worst)
}
