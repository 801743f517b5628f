package load

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one Run measured over its measured window, as plain data:
// counts, histograms (ns) and a timeline. Turning it into a result-file row,
// and deciding what deserves a warning, is the caller's business.
type Result struct {
	// Start and End bound the measured window (End is earlier than planned
	// when the run was interrupted).
	Start, End  time.Time
	Interrupted bool
	// TargetRate is the schedule's mean rate, AchievedRate the requests
	// that left per second of window, Throughput the successful responses
	// per second of window.
	TargetRate, AchievedRate, Throughput float64

	// Requests counts the requests intended inside the window, each with
	// its outcome: a response, or an error of one of the classes. Without
	// an interruption it is the schedule's count. Sent counts those that
	// left. Unsent counts those still waiting for a free connection when
	// the run was interrupted (errors of class unfinished).
	Requests, Sent, Unsent int64
	// Errors counts failed requests; ErrorsByClass splits them by class
	// (ClassConnect, ClassTimeout, Class5xx, ClassOther, ClassUnfinished),
	// every class present.
	Errors        int64
	ErrorsByClass map[string]int64
	// Pending counts requests in flight or waiting for a connection when
	// the window closed; the engine waited for their outcome after it, up
	// to their timeout (interrupted, up to the drain's bound).
	Pending int64
	// Wakeups counts the times the load generator's loops blocked and woke,
	// over the whole run, warm-up and drain included: at high rates about
	// one per request, or one per group of sends with Config.SendBatch.
	Wakeups int64

	Late Lateness
	// Response is response time (intended send → last byte), Service is
	// service time (actual send → last byte), both in ns. Failed requests
	// are in both; requests never sent only in Response.
	Response, Service *hdrhistogram.Histogram
	// Timeline splits the window by intended send time.
	Timeline []Interval
}

// Lateness says how late sends left and why: the load generator's own lag
// (Loop), or waiting for a free connection (ConnWait) because slow responses
// held every connection the engine may open.
type Lateness struct {
	// Threshold is how late a send must leave to count (Config.LateThreshold).
	Threshold time.Duration
	// Count is the sends that left more than Threshold late: Loop + ConnWait.
	Count, Loop, ConnWait int64
	// Max is the latest send's lateness.
	Max time.Duration
	// All holds every send's lateness (actual − intended send time, ns).
	All *hdrhistogram.Histogram
	// Dispatch holds the loop's own lateness (ns) for the sends that had a
	// free connection at their intended time: the load generator's
	// precision, apart from waits for a connection.
	Dispatch *hdrhistogram.Histogram
	// TimedWakeups counts the times, inside the window, that a loop slept
	// until a send was nearly due and its timer woke it; WokeLate those of
	// them that returned more than Threshold after the send was due. Every
	// send made after such a wake-up is late however little work the loop
	// had: the host did not run the loop's thread in time (a vCPU halted
	// and woken late, or taken by another tenant), which `meshbench host`
	// measures as sleep jitter.
	TimedWakeups, WokeLate int64
	// LoopWokeLate counts the sends of Loop that were due before such a
	// late wake-up returned: the loop's late sends the host caused.
	LoopWokeLate int64
}

// Interval is one slice of the measured window, by intended send time.
type Interval struct {
	// Start is the slice's offset from the window start; Length its length.
	Start, Length    time.Duration
	Requests, Errors int64
	// Response holds the slice's response times (ns, 2 significant
	// digits); nil when no request of the slice has an outcome.
	Response *hdrhistogram.Histogram
}

// Window is the length of the measured window.
func (r *Result) Window() time.Duration { return r.End.Sub(r.Start) }

// result turns the merged record into a Result; end is where the measured
// window closed (ns since base).
func (e *engine) result(all *recorder, end int64, interrupted bool) *Result {
	end = max(end, e.winStart)
	win := time.Duration(end - e.winStart)
	r := &Result{
		Start:       e.base.Add(time.Duration(e.winStart)),
		End:         e.base.Add(time.Duration(end)),
		Interrupted: interrupted,
		TargetRate:  MeanRate(e.sched),
		Requests:    all.requests, Sent: all.sent, Unsent: all.unsent,
		Errors:        all.errors,
		ErrorsByClass: map[string]int64{},
		Pending:       all.pending,
		Wakeups:       all.wakeups,
		Late: Lateness{
			Threshold: e.cfg.LateThreshold,
			Count:     all.lateCount, Loop: all.lateLoop, ConnWait: all.lateWait,
			Max:      time.Duration(all.late.Max()),
			All:      all.late,
			Dispatch: all.dispatch,

			TimedWakeups: all.timedWakeups, WokeLate: all.wokeLate, LoopWokeLate: all.lateStalled,
		},
		Response: all.resp,
		Service:  all.svc,
	}
	for c := classConnect; c < numClasses; c++ {
		r.ErrorsByClass[classNames[c]] = all.byClass[c]
	}
	if win > 0 {
		r.AchievedRate = float64(all.sent) / win.Seconds()
		r.Throughput = float64(all.requests-all.errors) / win.Seconds()
	}
	r.Timeline = e.timeline.intervals(win)
	return r
}
