package load

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/results"
)

// Result is what one Run measured over its measured window.
type Result struct {
	// Start and End bound the measured window (End is earlier than planned
	// when the run was interrupted).
	Start, End time.Time
	// Requests were sent (or given up after waiting for a connection past
	// their timeout); Unsent still waited for a connection when the window
	// closed. Requests + Unsent is what the schedule called for.
	Requests, Errors, Unsent int64
	ErrorsByClass            map[string]int64 // connect, timeout, 5xx, other
	// LateCount sends left more than LateThreshold after their intended
	// time; LateMax is the worst; Lateness holds every send's lateness (ns).
	LateCount     int64
	LateMax       time.Duration
	LateThreshold time.Duration
	Lateness      *hdrhistogram.Histogram
	// Dispatch is the event loop's own lateness (ns) for sends that had a
	// free connection: the load generator's precision, apart from waits
	// for a connection.
	Dispatch *hdrhistogram.Histogram
	// Response is response time (intended send → last byte), Service is
	// service time (actual send → last byte), both in ns.
	Response, Service *hdrhistogram.Histogram
	// AchievedRate is Requests per second of window, TargetRate the
	// schedule's mean rate, Throughput successful responses per second.
	AchievedRate, TargetRate, Throughput float64
	// Timeline has one entry per second of the window, by intended send time.
	Timeline    []results.Interval
	Interrupted bool
}

// Window is the length of the measured window.
func (r *Result) Window() time.Duration { return r.End.Sub(r.Start) }

// Fill sets the fields of p that a load run knows: rates, counts, lateness,
// latency and service-time percentiles, histograms, the timeline, and a
// warning when the load generator could not keep up.
func (r *Result) Fill(p *results.Path) error {
	p.TargetRate = round3(r.TargetRate)
	p.AchievedRate = round3(r.AchievedRate)
	p.Throughput = round3(r.Throughput)
	p.DurationS = round3(r.Window().Seconds())
	p.Requests, p.Errors, p.Unsent = r.Requests, r.Errors, r.Unsent
	p.ErrorsByClass = map[string]int64{}
	for k, v := range r.ErrorsByClass {
		p.ErrorsByClass[k] = v
	}
	p.Late = results.Late{
		Count:       r.LateCount,
		MaxMs:       ms(r.LateMax.Nanoseconds()),
		ThresholdMs: ms(r.LateThreshold.Nanoseconds()),
	}
	if r.Lateness != nil && r.Lateness.TotalCount() > 0 {
		p.Late.P99Ms = ms(r.Lateness.ValueAtQuantile(99))
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
	p.Timeline = r.Timeline
	if sent := r.Requests; sent > 0 && float64(r.LateCount) > 0.01*float64(sent) {
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"load generator could not keep up: %.1f%% of sends left more than %s late (worst %s)",
			100*float64(r.LateCount)/float64(sent), r.LateThreshold, r.LateMax.Round(time.Microsecond)))
	}
	if r.Unsent > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"%d requests were still waiting for a free connection when the window closed (counted as unsent, in the latency record)", r.Unsent))
	}
	return nil
}

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// record adds v (ns) to h, clamped to the histogram's range so that no
// value is ever dropped (hdrhistogram refuses values above its maximum).
func record(h *hdrhistogram.Histogram, v int64) {
	_ = h.RecordValue(min(max(v, 0), results.HistMax))
}

// result turns the merged record into a Result; end is where the measured
// window closed (ns since base).
func (e *engine) result(all *recorder, end int64, interrupted bool) *Result {
	end = max(end, e.winStart)
	win := time.Duration(end - e.winStart)
	r := &Result{
		Start:    e.base.Add(time.Duration(e.winStart)),
		End:      e.base.Add(time.Duration(end)),
		Requests: all.requests, Errors: all.errors, Unsent: all.unsent,
		ErrorsByClass: map[string]int64{
			ClassConnect: all.connect, ClassTimeout: all.timeout,
			Class5xx: all.serverErr, ClassOther: all.other,
		},
		LateCount:     all.lateCount,
		LateMax:       time.Duration(all.late.Max()),
		LateThreshold: e.cfg.LateThreshold,
		Lateness:      all.late,
		Dispatch:      all.dispatch,
		Response:      all.resp,
		Service:       all.svc,
		TargetRate:    MeanRate(e.sched),
		Interrupted:   interrupted,
	}
	if win > 0 {
		r.AchievedRate = float64(all.requests) / win.Seconds()
		r.Throughput = float64(all.requests-all.errors) / win.Seconds()
	}
	r.Timeline = e.timeline.intervals(win)
	return r
}

// timeline keeps one small histogram per second of the window, keyed by
// intended send time. Two significant digits are plenty for a chart and
// keep each second to a few tens of kilobytes.
type timeline struct {
	start int64 // window start, ns since base
	mu    sync.Mutex
	secs  []*second
}

type second struct {
	h              *hdrhistogram.Histogram
	requests, errs int64
}

func newTimeline(start int64, d time.Duration) *timeline {
	n := int(math.Ceil(d.Seconds()))
	return &timeline{start: start, secs: make([]*second, n)}
}

func (t *timeline) record(intended, lat int64, failed bool) {
	i := int((intended - t.start) / int64(time.Second))
	if i < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if i >= len(t.secs) {
		i = len(t.secs) - 1
		if i < 0 {
			return
		}
	}
	s := t.secs[i]
	if s == nil {
		s = &second{h: hdrhistogram.New(results.HistMin, results.HistMax, 2)}
		t.secs[i] = s
	}
	s.requests++
	if failed {
		s.errs++
	}
	_ = s.h.RecordValue(min(max(lat, 0), results.HistMax))
}

// intervals summarises the seconds the window actually covered.
func (t *timeline) intervals(win time.Duration) []results.Interval {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(int(math.Ceil(win.Seconds())), len(t.secs))
	out := make([]results.Interval, 0, n)
	for i := 0; i < n; i++ {
		iv := results.Interval{StartS: float64(i)}
		if s := t.secs[i]; s != nil {
			iv.Requests, iv.Errors = s.requests, s.errs
			iv.P50Ms = ms(s.h.ValueAtQuantile(50))
			iv.P99Ms = ms(s.h.ValueAtQuantile(99))
			iv.MaxMs = ms(s.h.Max())
		}
		out = append(out, iv)
	}
	return out
}
