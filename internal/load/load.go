// Package load is meshbench's open-model HTTP load engine.
//
// A pure Schedule fixes when every request is meant to leave; a scheduler
// goroutine hands each request, stamped with that intended time, to a fixed
// pool of workers, one keep-alive connection each, and never waits for a
// response. Response time runs from the intended send time to the last byte
// of the response, so a request that waited for a free connection, or behind
// a stalled server, carries that wait in its latency (no coordinated
// omission). Service time runs from the actual send. Each worker records
// into its own HDR histograms; they are merged when the run ends, so memory
// does not grow with the number of requests.
//
// What is recorded, and why:
//   - Every request intended inside the measured window is exactly one of:
//     sent (counted in Requests, successful or not) or Unsent (still waiting
//     for a free connection when the window closed). Requests + Unsent is
//     the schedule's count.
//   - Failed requests stay in the response-time histogram with the time
//     until the failure was seen, and are counted by class (connect,
//     timeout, 5xx, other). Keeping them in is the honest default: a proxy
//     that fails fast must not look faster than one that answers. Their
//     service time is recorded too when they were sent.
//   - Unsent requests enter the response-time histogram with the time from
//     their intended send to the moment they were given up, which is at
//     least window end − intended.
//   - A request that waited for a connection longer than its timeout is
//     not sent at all; it is a timeout error with its full wait as latency.
//   - Lateness (actual send − intended) is recorded for every send;
//     LateThreshold (1 ms by default) decides which ones count as late.
//     It includes waiting for a free connection, since either way the
//     request left later than the schedule meant. The scheduler's own
//     dispatch lateness is kept apart (Result.Dispatch) to tell the two
//     causes apart.
package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/internal/timer"
)

// Request is what every request sends.
type Request struct {
	Method string // default GET
	Path   string // default "/"; appended to the target URL's path
	Header http.Header
	Body   []byte
}

// Config is one load run against one path.
type Config struct {
	// Targets are base URLs ("http://127.0.0.1:41234"); requests go round
	// robin over them, and the connections are split evenly among them.
	Targets []string
	Request Request
	Rate    scenario.Rate
	// Warmup is sent first at the starting rate and not recorded; Duration
	// is the measured window that follows.
	Warmup, Duration time.Duration
	// Connections is the number of keep-alive connections, one per worker
	// (0 means 64). Waiting for a free one is part of the response time.
	Connections int
	// Timeout bounds each request from its intended send time, waiting for
	// a connection included (0 means 5 s).
	Timeout time.Duration
	// LateThreshold is how late a send must leave to count as late (0 means 1 ms).
	LateThreshold time.Duration
	// OnMeasure, if set, is called in its own goroutine when the measured
	// window opens, so that whatever it starts never delays a send.
	OnMeasure func(start time.Time)
	// Progress, if set, is called about every 250 ms from its own goroutine.
	Progress func(Progress)
	// Timer paces the sends (nil means timer.Default()).
	Timer *timer.Timer
}

// Phase names what the engine is doing, for progress lines.
type Phase string

const (
	PhaseWarmup  Phase = "warmup"
	PhaseMeasure Phase = "measure"
	PhaseDrain   Phase = "drain"
)

// Progress is a snapshot for a progress line.
type Progress struct {
	Phase   Phase
	Elapsed time.Duration // since the phase started
	Total   time.Duration // the phase's planned length
	Sent    int64         // requests sent in the phase
	Errors  int64         // errors in the phase
}

// Error classes.
const (
	ClassConnect = "connect"
	ClassTimeout = "timeout"
	Class5xx     = "5xx"
	ClassOther   = "other"
)

const (
	defaultConnections = 64
	defaultTimeout     = 5 * time.Second
	defaultLate        = time.Millisecond
	// drainOnCancel bounds how long requests in flight may still finish
	// after ctx is cancelled.
	drainOnCancel = time.Second
	// dispatchLead is how long before its intended time a request is handed
	// to a worker. It covers the overshoot of Go's timer (about 1 ms).
	dispatchLead = 3 * time.Millisecond
)

// job is one request handed to a worker.
type job struct {
	intended int64 // ns since engine.base
	measured bool
}

type engine struct {
	cfg     Config
	targets []*target
	tm      *timer.Timer
	base    time.Time
	timeout int64 // ns

	windowStart int64        // ns since base
	windowEnd   atomic.Int64 // ns since base; moved earlier on cancel
	abortAt     atomic.Int64 // ns since base; 0 until cancelled

	workers  []*worker
	timeline *timeline

	phase                  atomic.Value // Phase
	sentWarm, sentMeasured atomic.Int64
	errsMeasured           atomic.Int64
}

func (e *engine) now() int64 { return int64(time.Since(e.base)) }

// Run drives the load cfg describes and returns what it measured. When ctx
// is cancelled it stops sending, lets requests in flight finish for at most
// a second, and returns the partial result with Interrupted set (and a nil
// error).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Connections == 0 {
		cfg.Connections = defaultConnections
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.LateThreshold == 0 {
		cfg.LateThreshold = defaultLate
	}
	switch {
	case len(cfg.Targets) == 0:
		return nil, fmt.Errorf("no target to send load to")
	case cfg.Connections < 0:
		return nil, fmt.Errorf("connections %d: must be positive", cfg.Connections)
	case cfg.Connections < len(cfg.Targets):
		return nil, fmt.Errorf("connections %d: need at least one per target (%d targets)", cfg.Connections, len(cfg.Targets))
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("timeout %s: must be positive", cfg.Timeout)
	case cfg.Warmup < 0:
		return nil, fmt.Errorf("warmup %s: must not be negative", cfg.Warmup)
	}
	sched, err := NewSchedule(cfg.Rate, cfg.Duration)
	if err != nil {
		return nil, err
	}
	var warm Schedule
	if cfg.Warmup > 0 {
		// Warm up at the rate the window starts with (its mean, for a ramp
		// from zero), so connections and caches are ready for it.
		r := sched.RateAt(0)
		if r <= 0 {
			r = MeanRate(sched)
		}
		if warm, err = NewSchedule(scenario.Rate{RPS: r}, cfg.Warmup); err != nil {
			return nil, err
		}
	}
	e := &engine{cfg: cfg, tm: cfg.Timer, timeout: int64(cfg.Timeout)}
	if e.tm == nil {
		e.tm = timer.Default()
	}
	for _, t := range cfg.Targets {
		tg, err := newTarget(t, cfg.Request)
		if err != nil {
			return nil, err
		}
		e.targets = append(e.targets, tg)
	}

	// Queues hold requests waiting for a free worker. They are sized for a
	// timeout's worth of sends at the peak rate, beyond which the oldest
	// waiting requests are timing out anyway; the scheduler never blocks on
	// a full one (see dispatch).
	peak := peakRate(sched)
	if warm != nil {
		peak = max(peak, warm.RateAt(0))
	}
	qcap := int(min(max(peak*cfg.Timeout.Seconds()/float64(len(e.targets))+64, 64), 1<<20))
	queues := make([]chan job, len(e.targets))
	for i := range queues {
		queues[i] = make(chan job, qcap)
	}
	for i := 0; i < cfg.Connections; i++ {
		ti := i % len(e.targets)
		e.workers = append(e.workers, newWorker(e, e.targets[ti]))
	}

	e.base = time.Now()
	// Leave a moment before the first send so that it is not late by the
	// time it takes to start the workers.
	warmStart := int64(5 * time.Millisecond)
	e.windowStart = warmStart + int64(cfg.Warmup)
	e.windowEnd.Store(e.windowStart + int64(cfg.Duration))
	e.timeline = newTimeline(e.windowStart, cfg.Duration)
	e.phase.Store(PhaseWarmup)

	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		q := queues[indexOf(e.targets, w.target)]
		go func() {
			defer wg.Done()
			w.run(q)
		}()
	}

	stopProgress := make(chan struct{})
	var progWG sync.WaitGroup
	if cfg.Progress != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			e.progress(stopProgress)
		}()
	}

	sch := &scheduler{e: e, queues: queues, dispatch: results.NewHistogram()}
	interrupted := sch.run(ctx, warm, sched, warmStart)
	for _, q := range queues {
		close(q)
	}
	e.phase.Store(PhaseDrain)
	wg.Wait()
	close(stopProgress)
	progWG.Wait()

	return e.result(sched, sch, interrupted), nil
}

func indexOf(ts []*target, t *target) int {
	for i, x := range ts {
		if x == t {
			return i
		}
	}
	return 0
}

// peakRate samples the schedule's rate; the shapes are smooth enough that
// a thousand samples find the peak to within a percent.
func peakRate(s Schedule) float64 {
	p := 0.0
	d := s.Duration()
	for i := 0; i <= 1000; i++ {
		p = max(p, s.RateAt(d*time.Duration(i)/1000))
	}
	return p
}

// scheduler turns the schedule into jobs at their intended times.
type scheduler struct {
	e        *engine
	queues   []chan job
	next     int // round-robin target
	dispatch *hdrhistogram.Histogram
	// rec holds requests no queue could take (see send).
	rec recorder
}

// run sends the warm-up, then the measured window; it reports whether ctx
// stopped it early.
func (s *scheduler) run(ctx context.Context, warm, sched Schedule, warmStart int64) bool {
	e := s.e
	s.rec = newRecorder()
	if warm != nil {
		if s.phase(ctx, warm, warmStart, false) {
			return s.cancel()
		}
	}
	e.phase.Store(PhaseMeasure)
	if !s.waitUntil(ctx, e.windowStart) {
		return s.cancel()
	}
	if e.cfg.OnMeasure != nil {
		go e.cfg.OnMeasure(e.base.Add(time.Duration(e.windowStart)))
	}
	if s.phase(ctx, sched, e.windowStart, true) {
		return s.cancel()
	}
	// Requests still queued when the window closes are Unsent: wait for the
	// window's end before letting the workers drain the queues.
	if !s.waitUntil(ctx, e.windowEnd.Load()) {
		return s.cancel()
	}
	return false
}

// phase dispatches every request of sched from start; it returns true if
// ctx was cancelled.
func (s *scheduler) phase(ctx context.Context, sched Schedule, start int64, measured bool) bool {
	for k := int64(0); ; k++ {
		off, ok := sched.Offset(k)
		if !ok {
			return false
		}
		at := start + int64(off)
		// Hand the request over ahead of time: its worker sleeps precisely
		// to the intended time on its own thread and sends at once, which
		// saves the cross-CPU wake-up a hand-over at the intended time would
		// add to every send (50–100 µs on a VM).
		if !s.waitUntil(ctx, at-int64(dispatchLead)) {
			return true
		}
		s.send(job{intended: at, measured: measured})
	}
}

// waitUntil sleeps to about at (ns since base) on Go's timer, which is
// cheap and coarse (it may wake a millisecond late); it returns false if ctx
// ends first.
func (s *scheduler) waitUntil(ctx context.Context, at int64) bool {
	e := s.e
	if d := time.Duration(at - e.now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}

// send hands j to the next target's queue without ever blocking. A full
// queue means more than a timeout's worth of requests already wait for a
// connection; j could not have been sent within its timeout either, so it
// is recorded as a timeout at once, with the timeout as its latency.
func (s *scheduler) send(j job) {
	e := s.e
	q := s.queues[s.next]
	s.next = (s.next + 1) % len(s.queues)
	if j.measured {
		record(s.dispatch, max(e.now()-(j.intended-int64(dispatchLead)), 0))
	}
	select {
	case q <- j:
	default:
		if j.measured {
			s.rec.requests++
			s.rec.fail(ClassTimeout)
			record(s.rec.resp, e.timeout)
			e.timeline.record(j.intended, e.timeout, true)
		}
	}
}

// cancel closes the window now and gives requests in flight a bounded time
// to finish.
func (s *scheduler) cancel() bool {
	e := s.e
	now := e.now()
	if now < e.windowEnd.Load() {
		e.windowEnd.Store(max(now, e.windowStart))
	}
	abort := now + int64(min(drainOnCancel, e.cfg.Timeout))
	e.abortAt.Store(abort)
	for _, w := range e.workers {
		w.abort(e.base.Add(time.Duration(abort)))
	}
	return true
}

func (e *engine) progress(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ph := e.phase.Load().(Phase)
		now := e.now()
		p := Progress{Phase: ph}
		switch ph {
		case PhaseWarmup:
			p.Elapsed, p.Total, p.Sent = time.Duration(now), e.cfg.Warmup, e.sentWarm.Load()
		default:
			p.Elapsed = time.Duration(max(now-e.windowStart, 0))
			p.Total = e.cfg.Duration
			p.Sent, p.Errors = e.sentMeasured.Load(), e.errsMeasured.Load()
		}
		e.cfg.Progress(p)
	}
}

// worker owns one connection and sends one request at a time on it.
type worker struct {
	e      *engine
	target *target
	br     *bufio.Reader
	rec    recorder

	mu   sync.Mutex // guards conn against abort from the scheduler
	conn net.Conn
	uses int // requests carried by conn so far
}

func newWorker(e *engine, t *target) *worker {
	return &worker{e: e, target: t, rec: newRecorder()}
}

func (w *worker) run(q <-chan job) {
	for j := range q {
		w.do(j)
	}
	w.closeConn()
}

func (w *worker) do(j job) {
	e := w.e
	now := e.now()
	if !j.measured {
		e.sentWarm.Add(1)
	}
	if j.measured && now >= e.windowEnd.Load() {
		// The window closed while this request waited for a connection.
		w.rec.unsent++
		lat := now - j.intended
		record(w.rec.resp, lat)
		e.timeline.record(j.intended, lat, false)
		return
	}
	deadline := j.intended + e.timeout
	if a := e.abortAt.Load(); a != 0 && a < deadline {
		deadline = a
	}
	if now >= deadline {
		// It waited for a connection past its timeout: give up unsent.
		w.finish(j, now, now, 0, ClassTimeout, false)
		return
	}
	if now < j.intended {
		e.tm.SleepUntil(e.base.Add(time.Duration(j.intended)))
		now = e.now()
	}
	sent := now
	status, class := w.exchange(deadline)
	end := e.now()
	w.finish(j, sent, end, status, class, true)
}

// exchange sends the request and reads the response, dialling (once more,
// for a keep-alive connection the server closed while idle) as needed. It
// returns the status and the error class, "" on success.
func (w *worker) exchange(deadline int64) (int, string) {
	dl := w.e.base.Add(time.Duration(deadline))
	for attempt := 0; ; attempt++ {
		if w.conn == nil {
			d := net.Dialer{Deadline: dl}
			c, err := d.Dial("tcp", w.target.addr)
			if err != nil {
				return 0, ClassConnect
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			w.mu.Lock()
			w.conn, w.uses = c, 0
			if a := w.e.abortAt.Load(); a != 0 {
				// Cancelled while dialling: keep the shorter deadline.
				dl = minTime(dl, w.e.base.Add(time.Duration(a)))
			}
			w.mu.Unlock()
			if w.br == nil {
				w.br = bufio.NewReaderSize(c, 32<<10)
			} else {
				w.br.Reset(c)
			}
		}
		reused := w.uses > 0
		if err := w.conn.SetDeadline(dl); err != nil {
			w.closeConn()
			return 0, ClassOther
		}
		_, err := w.conn.Write(w.target.raw)
		var status int
		keep := false
		if err == nil {
			status, keep, err = readResponse(w.br, w.target.head)
		}
		if err != nil {
			w.closeConn()
			if reused && attempt == 0 && (errors.Is(err, errNoResponse) || isReset(err)) {
				continue
			}
			return 0, classify(err)
		}
		w.uses++
		if !keep {
			w.closeConn()
		}
		switch {
		case status >= 500:
			return status, Class5xx
		case status >= 400:
			return status, ClassOther
		}
		return status, ""
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func classify(err error) string {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return ClassTimeout
	}
	return ClassOther
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// finish records one request that was sent (or given up after waiting for
// a connection past its timeout, when sentOK is false).
func (w *worker) finish(j job, sent, end int64, status int, class string, wasSent bool) {
	if !j.measured {
		return
	}
	e := w.e
	r := &w.rec
	r.requests++
	e.sentMeasured.Add(1)
	lat := end - j.intended
	record(r.resp, lat)
	late := sent - j.intended
	record(r.late, max(late, 0))
	if late > int64(e.cfg.LateThreshold) {
		r.lateCount++
	}
	if wasSent {
		record(r.svc, end-sent)
	}
	if class != "" {
		r.fail(class)
		e.errsMeasured.Add(1)
	}
	e.timeline.record(j.intended, lat, class != "")
}

// abort shortens the deadline of the request in flight, if any.
func (w *worker) abort(at time.Time) {
	w.mu.Lock()
	if w.conn != nil {
		_ = w.conn.SetDeadline(at)
	}
	w.mu.Unlock()
}

func (w *worker) closeConn() {
	w.mu.Lock()
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
	w.mu.Unlock()
}

// recorder is one worker's record of the measured window.
type recorder struct {
	resp, svc, late  *hdrhistogram.Histogram
	requests, unsent int64
	lateCount        int64
	errors           int64
	connect, timeout int64
	serverErr, other int64
}

func newRecorder() recorder {
	return recorder{resp: results.NewHistogram(), svc: results.NewHistogram(), late: results.NewHistogram()}
}

func (r *recorder) fail(class string) {
	r.errors++
	switch class {
	case ClassConnect:
		r.connect++
	case ClassTimeout:
		r.timeout++
	case Class5xx:
		r.serverErr++
	default:
		r.other++
	}
}

func (r *recorder) merge(o *recorder) {
	r.resp.Merge(o.resp)
	r.svc.Merge(o.svc)
	r.late.Merge(o.late)
	r.requests += o.requests
	r.unsent += o.unsent
	r.lateCount += o.lateCount
	r.errors += o.errors
	r.connect += o.connect
	r.timeout += o.timeout
	r.serverErr += o.serverErr
	r.other += o.other
}
