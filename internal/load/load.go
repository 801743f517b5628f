// Package load is meshbench's open-model HTTP load engine.
//
// A pure Schedule fixes when every request is meant to leave. An event
// loop (loop.go) owns a bounded pool of keep-alive connections in an epoll
// set of its own: it sleeps in epoll_pwait2 until just before the next
// intended send time and spins the last microseconds, sends, and reads the
// responses that arrived meanwhile. It never waits for a response before
// sending: a request with no free connection waits in a queue, keeping its
// intended time. Response time runs from the intended send time to the
// arrival of the last byte of the response, taken from the kernel's
// receive timestamp (SO_TIMESTAMPNS) rather than from when the loop read
// it, so the loop's own wake-up delay is not in it; time spent waiting for
// a connection or behind a stalled server is (no coordinated omission).
// Service time runs from the actual send. The loop records into HDR
// histograms, so memory does not grow with the number of requests.
//
// Why a loop on raw sockets rather than a worker goroutine per connection:
// every goroutine hand-off that wakes another thread is a futex and, on a
// VM, often an inter-processor interrupt, and the loop needs none per
// request. It also sends from the goroutine that slept, so the send time is
// not delayed by a hand-off. And because responses carry their receive
// timestamps, the loop need not wake for a response when its next send is
// due within 2 ms: it reads the response then, at no cost to accuracy,
// which leaves one wake-up per request; with Config.SendBatch, which groups
// the schedule's requests into short slots, one per slot. Above 40k req/s
// several loops split the schedule, one per CPU the process may use
// (loops.go).
//
// What is recorded, and why:
//   - Every request intended inside the measured window is counted in
//     Requests with exactly one outcome: a response (successful or not) or
//     an error of one class. Requests is the schedule's count unless the
//     run was interrupted. A run whose target never answers therefore
//     shows errors, never "0 errors".
//   - Requests of the window still in flight or waiting for a connection
//     when it closes (Pending) are waited for, up to their timeout, so
//     each gets its real outcome and latency.
//   - The error classes: connect (refused, unreachable, TLS handshake
//     failed), timeout (no response within Timeout of the intended send),
//     5xx, other (other statuses, broken connections, malformed responses)
//     and unfinished (an interrupted run stopped waiting: still waiting for
//     a free connection, counted in Unsent too, or in flight when the
//     drain ran out).
//   - Failed requests stay in the response-time histogram with the time
//     until the failure was seen. Keeping them in is the honest default: a
//     proxy that fails fast must not look faster than one that answers.
//     Their service time is recorded too when they were sent.
//   - Unsent requests enter the response-time histogram with the time from
//     their intended send to the interruption.
//   - A request that waited for a connection longer than its timeout is
//     not sent at all; it is a timeout error with its full wait as latency.
//   - A connection the server closed while idle is reopened and the request
//     sent once more, as HTTP clients do; any other failure is final.
//   - Lateness (actual send − intended) is recorded for every send;
//     LateThreshold (1 ms by default) decides which ones count as late.
//     It includes waiting for a free connection, since either way the
//     request left later than the schedule meant. Result.Late tells the
//     causes apart: the loop's own lag (Loop, Dispatch) and waits for a
//     connection that slow responses held (ConnWait).
package load

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
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
	Rate    Rate
	// Warmup is sent first at the starting rate and not recorded; Duration
	// is the measured window that follows.
	Warmup, Duration time.Duration
	// Connections caps the open keep-alive connections (0 means 64). They
	// are opened as needed. Waiting for a free one is part of response time.
	Connections int
	// Loops is how many event loops, each a thread with its own share of
	// the schedule and of the connections, send the load. 0 means one per
	// 40k req/s of peak rate, up to one per CPU the process may use.
	Loops int
	// Timeout bounds each request from its intended send time, waiting for
	// a connection included (0 means 5 s).
	Timeout time.Duration
	// LateThreshold is how late a send must leave to count as late (0 means 1 ms).
	LateThreshold time.Duration
	// SendBatch groups the schedule's requests into slots this long: each
	// leaves at the start of the slot its intended time falls in, and that
	// start is its intended time, from which its response time counts. At
	// rates above one request per slot the loop then wakes once per group
	// instead of once per request, which is most of its CPU cost (see
	// MaxSendBatch); the load arrives in small bursts rather than evenly.
	// 0 sends every request at its own time. At most MaxSendBatch.
	SendBatch time.Duration
	// Phase delays the whole schedule, warm-up and window, so that several
	// load agents sharing one rate (run --share) interleave their sends
	// instead of sending together. 0 is no delay.
	Phase time.Duration
	// OnMeasure, if set, is called in its own goroutine when the measured
	// window opens, so that whatever it starts never delays a send.
	OnMeasure func(start time.Time)
	// Progress, if set, is called about every 250 ms from its own goroutine.
	Progress func(Progress)

	// RootCAs are the authorities trusted for https targets; nil means the
	// host's trust store, which on Linux honours SSL_CERT_FILE and
	// SSL_CERT_DIR.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate from https targets, for
	// test endpoints with self-signed certificates. The connection is
	// still encrypted; the server is just not authenticated.
	InsecureSkipVerify bool
}

// Phase names what the engine is doing, for progress lines.
type Phase string

// Phases, in order.
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
	Sent    int64         // requests of the phase with an outcome
	Errors  int64         // errors in the phase
	Waiting int64         // requests waiting for a free connection now
}

// Error classes, the keys of Result.ErrorsByClass.
const (
	ClassConnect = "connect" // no connection: refused, unreachable, TLS handshake failed
	ClassTimeout = "timeout" // no response within Config.Timeout of the intended send
	Class5xx     = "5xx"     // the server answered with a 5xx status
	ClassOther   = "other"   // anything else: other statuses, broken connections, malformed responses
	// ClassUnfinished: no outcome when an interrupted run stopped waiting:
	// still waiting for a connection, or in flight when the drain ran out.
	ClassUnfinished = "unfinished"
)

// class indexes the error classes inside the loop, where a string per
// failure would cost a comparison chain; 0 is success.
type class uint8

const (
	noError class = iota
	classConnect
	classTimeout
	class5xx
	classOther
	classUnfinished
	numClasses
)

var classNames = [numClasses]string{"", ClassConnect, ClassTimeout, Class5xx, ClassOther, ClassUnfinished}

// The engine's own bounds. Run refuses a Config beyond them, so that what it
// allocates and the nanosecond arithmetic of its clock stay bounded whatever
// the input; validation elsewhere can name them in its messages.
//
// What memory depends on: one connection slot per connection actually opened
// (at most MaxConnections, and no more than the requests outstanding at
// once); the queue of requests waiting for a free connection, 16 bytes each,
// at most rate × timeout of them (MaxRate × MaxTimeout: 96 MB when a target
// holds every connection for a minute at the highest rate); the timeline,
// at most MaxTimeline slices of about 27 KB; and a fixed set of histograms.
const (
	// MaxRate is the highest intended rate at any instant, requests/s.
	MaxRate = 100_000
	// MaxConnections is the most connections one Run may open.
	MaxConnections = 10_000
	// MaxTimeout is the longest request timeout.
	MaxTimeout = time.Minute
	// MaxDuration is the longest warm-up and the longest measured window.
	MaxDuration = 7 * 24 * time.Hour
	// MaxTimeline is the most slices Result.Timeline has: one per second
	// up to this many seconds of window, longer slices beyond.
	MaxTimeline = 300
)

const (
	defaultConnections = 64
	defaultTimeout     = 5 * time.Second
	defaultLate        = time.Millisecond
	// drainOnCancel bounds how long requests in flight may still finish
	// after ctx is cancelled.
	drainOnCancel = time.Second
	// warmStart is the gap between Run's start and the first send, so the
	// first one is not late by the time it takes to set the loop up.
	warmStart = 5 * time.Millisecond
)

// MaxSendBatch bounds Config.SendBatch. A wake-up of the loop (a context
// switch, and on a VM the timer's exits) costs more than the send it makes
// at 10k req/s, so grouping sends pays at high rates: measured on a 2-vCPU
// KVM guest against nginx at 10k req/s (scripts/loadgen-cost.sh), slots of
// 250 µs took the load generator's CPU per request below wrk2's, 200 µs 8%
// more than 250, and 300 µs no less. A slot this long holds at most a
// quarter of the late threshold's default.
const MaxSendBatch = 250 * time.Microsecond

// job is one request the schedule called for.
type job struct {
	intended int64 // ns since engine.base
	measured bool
	waited   bool // it queued for a free connection
	// stalled: it was due before a timer wake-up that came late returned
	// (see loop.wokeLateAt), so whatever lateness it has the host began.
	stalled bool
}

// engine is what Run shares with the loop and the progress reporter.
type engine struct {
	cfg       Config
	targets   []*target
	base      time.Time
	timeout   int64 // ns
	warm      Schedule
	sched     Schedule
	timeline  *timeline
	winStart  int64 // ns since base
	winEnd    int64 // planned end, ns since base
	phase     atomic.Value
	sentWarm  atomic.Int64
	sentMeas  atomic.Int64
	errsMeas  atomic.Int64
	waiting   atomic.Int64
	cancelled atomic.Bool
}

func (e *engine) now() int64 { return int64(time.Since(e.base)) }

// Run drives the load cfg describes and returns what it measured. When ctx
// is cancelled it stops sending, lets requests in flight finish for at most
// a second, and returns the partial result with Interrupted set (and a nil
// error).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	e, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	n := loopsFor(&e.cfg, peakRate(cfg.Rate))
	loops := make([]*loop, 0, n)
	defer func() {
		for _, l := range loops {
			l.close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := newLoop(e, i, n)
		if err != nil {
			return nil, err
		}
		loops = append(loops, l)
	}

	e.base = time.Now()
	e.winStart = int64(warmStart + e.cfg.Phase + e.cfg.Warmup)
	e.winEnd = e.winStart + int64(e.cfg.Duration)
	e.timeline = newTimeline(e.winStart, e.cfg.Duration)
	e.phase.Store(PhaseWarmup)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if cfg.Progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.progress(stop)
		}()
	}
	wg.Add(1)
	go func() {
		// The loop sleeps in epoll; cancellation reaches it through an eventfd.
		defer wg.Done()
		select {
		case <-ctx.Done():
			e.cancelled.Store(true)
			for _, l := range loops {
				l.wake()
			}
		case <-stop:
		}
	}()
	res := e.runLoops(loops)
	close(stop)
	wg.Wait()
	return res, nil
}

func newEngine(cfg Config) (*engine, error) {
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
	case cfg.Loops < 0:
		return nil, fmt.Errorf("loops %d: must not be negative", cfg.Loops)
	case cfg.SendBatch < 0 || cfg.SendBatch > MaxSendBatch:
		return nil, fmt.Errorf("send batch %s: must be between 0 and %s", cfg.SendBatch, MaxSendBatch)
	case cfg.Connections > MaxConnections:
		return nil, fmt.Errorf("connections %d: above the load engine's bound of %d", cfg.Connections, MaxConnections)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("timeout %s: must be positive", cfg.Timeout)
	case cfg.Timeout > MaxTimeout:
		return nil, fmt.Errorf("timeout %s: above the load engine's bound of %s", cfg.Timeout, MaxTimeout)
	case cfg.Warmup < 0:
		return nil, fmt.Errorf("warmup %s: must not be negative", cfg.Warmup)
	case cfg.Warmup > MaxDuration:
		return nil, fmt.Errorf("warmup %s: above the load engine's bound of %s", cfg.Warmup, MaxDuration)
	case cfg.Duration > MaxDuration:
		return nil, fmt.Errorf("duration %s: above the load engine's bound of %s", cfg.Duration, MaxDuration)
	case cfg.Phase < 0:
		return nil, fmt.Errorf("phase %s: must not be negative", cfg.Phase)
	}
	sched, err := NewSchedule(cfg.Rate, cfg.Duration)
	if err != nil {
		return nil, err
	}
	e := &engine{cfg: cfg, sched: grid(sched, cfg.SendBatch), timeout: int64(cfg.Timeout)}
	if cfg.Warmup > 0 {
		// Warm up at the rate the window starts with (its mean, for a ramp
		// from zero), so connections and caches are ready for it.
		r := sched.RateAt(0)
		if r <= 0 {
			r = MeanRate(sched)
		}
		if e.warm, err = NewSchedule(Rate{RPS: r}, cfg.Warmup); err != nil {
			return nil, err
		}
		e.warm = grid(e.warm, cfg.SendBatch)
		if cfg.Phase > 0 {
			e.warm = delayed{e.warm, cfg.Phase}
		}
	}
	for _, t := range cfg.Targets {
		tg, err := newTarget(t, cfg.Request, &cfg)
		if err != nil {
			return nil, err
		}
		e.targets = append(e.targets, tg)
	}
	return e, nil
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
		p := Progress{Phase: ph, Waiting: e.waiting.Load()}
		switch ph {
		case PhaseWarmup:
			p.Elapsed, p.Total, p.Sent = time.Duration(now), e.cfg.Warmup, e.sentWarm.Load()
		default:
			p.Elapsed = time.Duration(max(now-e.winStart, 0))
			p.Total = e.cfg.Duration
			p.Sent, p.Errors = e.sentMeas.Load(), e.errsMeas.Load()
		}
		e.cfg.Progress(p)
	}
}

// delayed is a warm-up schedule that starts phase later, so that the window
// after it (which starts at warmStart+Phase+Warmup) follows it seamlessly.
type delayed struct {
	Schedule
	phase time.Duration
}

func (d delayed) Offset(k int64) (time.Duration, bool) {
	off, ok := d.Schedule.Offset(k)
	return off + d.phase, ok
}
