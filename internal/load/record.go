package load

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/results"
)

// recorder is one loop's record of the measured window.
type recorder struct {
	resp, svc, late, dispatch *hdrhistogram.Histogram
	requests, sent, unsent    int64
	pending                   int64
	lateCount                 int64
	lateLoop, lateWait        int64
	errors                    int64
	byClass                   [numClasses]int64
}

func newRecorder() recorder {
	return recorder{
		resp: results.NewHistogram(), svc: results.NewHistogram(),
		late: results.NewHistogram(), dispatch: results.NewHistogram(),
	}
}

func (r *recorder) fail(c class) {
	r.errors++
	r.byClass[c]++
}

// record adds v (ns) to h, clamped to the histogram's range so that no
// value is ever dropped (hdrhistogram refuses values above its maximum).
func record(h *hdrhistogram.Histogram, v int64) {
	_ = h.RecordValue(min(max(v, 0), results.HistMax))
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

// intervals returns the seconds the window actually covered.
func (t *timeline) intervals(win time.Duration) []Interval {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(int(math.Ceil(win.Seconds())), len(t.secs))
	out := make([]Interval, 0, n)
	for i := 0; i < n; i++ {
		iv := Interval{Start: time.Duration(i) * time.Second, Length: time.Second}
		if s := t.secs[i]; s != nil {
			iv.Requests, iv.Errors, iv.Response = s.requests, s.errs, s.h
		}
		out = append(out, iv)
	}
	return out
}
