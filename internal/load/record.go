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
	lateStalled               int64 // of lateLoop: due before a late timer wake-up
	errors                    int64
	// wakeups counts the loop's waits that blocked and returned, over the
	// whole run (warm-up and drain included).
	wakeups int64
	// timedWakeups counts, inside the window, the loop's sleeps until a
	// send that ended on their timer; wokeLate those of them that returned
	// more than the late threshold after the send was due.
	timedWakeups, wokeLate int64
	byClass                [numClasses]int64
}

func newRecorder() recorder {
	return recorder{
		resp: results.NewHistogram(), svc: results.NewHistogram(),
		late: results.NewHistogram(), dispatch: results.NewHistogram(),
	}
}

// merge adds o's record to r's.
func (r *recorder) merge(o *recorder) {
	r.resp.Merge(o.resp)
	r.svc.Merge(o.svc)
	r.late.Merge(o.late)
	r.dispatch.Merge(o.dispatch)
	r.requests += o.requests
	r.sent += o.sent
	r.unsent += o.unsent
	r.pending += o.pending
	r.lateCount += o.lateCount
	r.lateLoop += o.lateLoop
	r.lateWait += o.lateWait
	r.lateStalled += o.lateStalled
	r.errors += o.errors
	r.wakeups += o.wakeups
	r.timedWakeups += o.timedWakeups
	r.wokeLate += o.wokeLate
	for c := range r.byClass {
		r.byClass[c] += o.byClass[c]
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

// timeline keeps one small histogram per slice of the window, keyed by
// intended send time. Slices are a second long, or longer for windows of
// more than MaxTimeline seconds, so that there are never more than
// MaxTimeline of them; each is made when a request first falls in it. Two
// significant digits are plenty for a chart and keep a slice to about
// 27 KB.
type timeline struct {
	start int64 // window start, ns since base
	width int64 // slice length, ns
	mu    sync.Mutex
	secs  []*slice
}

type slice struct {
	h              *hdrhistogram.Histogram
	requests, errs int64
}

func newTimeline(start int64, d time.Duration) *timeline {
	n := int64(math.Ceil(d.Seconds() / MaxTimeline))
	return &timeline{start: start, width: max(n, 1) * int64(time.Second)}
}

func (t *timeline) record(intended, lat int64, failed bool) {
	i := int((intended - t.start) / t.width)
	if i < 0 {
		return
	}
	i = min(i, MaxTimeline-1)
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.secs) <= i {
		t.secs = append(t.secs, nil)
	}
	s := t.secs[i]
	if s == nil {
		s = &slice{h: hdrhistogram.New(results.HistMin, results.HistMax, 2)}
		t.secs[i] = s
	}
	s.requests++
	if failed {
		s.errs++
	}
	_ = s.h.RecordValue(min(max(lat, 0), results.HistMax))
}

// intervals returns the slices the window actually covered.
func (t *timeline) intervals(win time.Duration) []Interval {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(int((int64(win)+t.width-1)/t.width), MaxTimeline)
	out := make([]Interval, 0, n)
	for i := 0; i < n; i++ {
		iv := Interval{Start: time.Duration(int64(i) * t.width), Length: time.Duration(t.width)}
		if i < len(t.secs) && t.secs[i] != nil {
			s := t.secs[i]
			iv.Requests, iv.Errors, iv.Response = s.requests, s.errs, s.h
		}
		out = append(out, iv)
	}
	return out
}
