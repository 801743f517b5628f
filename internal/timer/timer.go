// Package timer sleeps to an absolute time with microsecond precision, for
// the load scheduler's send times and the test backend's added delays.
//
// Go's own timers overshoot a 5 ms sleep by about 250 µs on a busy VM, and a
// bare clock_nanosleep by about 130 µs (80 µs with the thread's timer slack
// set to 1 ns): too coarse for a benchmark whose results are quoted in tens of
// microseconds. SleepUntil therefore works in three stages:
//
//  1. far from the deadline, Go's runtime timer (cheap, no thread held);
//  2. the last ~2 ms, clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on the
//     calling goroutine's own thread, with 1 ns timer slack, to a margin
//     before the deadline;
//  3. a spin on the clock for whatever is left of the margin.
//
// Why the calling thread sleeps, not one shared timer thread: on a VM every
// cross-CPU wake-up is an inter-processor interrupt that costs 50–100 µs when
// the other vCPU is idle. A shared thread woken by the kernel must then wake
// the waiting goroutine on another thread, paying that twice; measured here,
// the shared design needed a 290 µs margin and 87 µs of spin per wake-up, the
// per-thread one about a third of that. Threads are held only for the final
// stage, so concurrent waiters cost rate × 2 ms threads at most.
//
// The margin adapts: each sleep observes how late the kernel actually woke
// the thread, and a frugal streaming quantile estimate of that lateness
// becomes the next margin. A high quantile spins longer and is late less
// often.
package timer

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Timer. The zero value is the default.
type Options struct {
	// Quantile of observed wake-up lateness used as the margin (0 means
	// 0.9). Higher: more spinning, fewer late returns.
	Quantile float64
	// MinMargin and MaxMargin bound the margin (0 means 5 µs and 1 ms).
	MinMargin, MaxMargin time.Duration
	// NoSpin skips the final spin and sleeps right to the deadline in the
	// kernel: late by the wake-up latency, for comparison in benchmarks.
	NoSpin bool
}

// Timer holds the adaptive margin shared by its callers. It is safe for
// concurrent use and needs no cleanup.
type Timer struct {
	opts Options
	base time.Time
	// kbase is CLOCK_MONOTONIC, the clock of clock_nanosleep, at base. Go's
	// monotonic time runs on the same clock, so the two differ by a constant.
	kbase  int64
	margin atomic.Int64 // ns

	statMu sync.Mutex
	stats  Stats
}

// Stats counts what a Timer did, for benchmarks and reports.
type Stats struct {
	Sleeps int64         // calls that had to wait
	Late   int64         // calls that returned more than 1 µs after the deadline
	Spin   time.Duration // total spin time
	// LateBy is the total time by which late calls missed their deadline.
	LateBy time.Duration
	Margin time.Duration // current margin
}

// coarseLead is how long before the deadline Go's timer must hand over to
// the kernel sleep; it covers Go's timer overshoot with room to spare.
const coarseLead = 3 * time.Millisecond

var (
	defaultOnce  sync.Once
	defaultTimer *Timer
)

// Default returns the process-wide Timer.
func Default() *Timer {
	defaultOnce.Do(func() { defaultTimer = New(Options{}) })
	return defaultTimer
}

// New returns a Timer with its own margin estimate.
func New(opts Options) *Timer {
	if opts.Quantile <= 0 || opts.Quantile >= 1 {
		opts.Quantile = 0.9
	}
	if opts.MinMargin <= 0 {
		opts.MinMargin = 5 * time.Microsecond
	}
	if opts.MaxMargin <= 0 {
		opts.MaxMargin = time.Millisecond
	}
	t := &Timer{opts: opts, base: time.Now()}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		t.kbase = ts.Nano() - int64(time.Since(t.base))
	}
	// Start near the wake-up latency of a typical VM; the estimate moves to
	// this host's within a few hundred sleeps.
	t.margin.Store(int64(min(max(80*time.Microsecond, opts.MinMargin), opts.MaxMargin)))
	return t
}

// SleepUntil returns at deadline or very soon after it, never before.
func (t *Timer) SleepUntil(deadline time.Time) {
	at := int64(deadline.Sub(t.base))
	now := t.now()
	if now >= at {
		return
	}
	if d := time.Duration(at-now) - coarseLead; d > 0 {
		time.Sleep(d)
	}
	margin := t.margin.Load()
	if t.opts.NoSpin {
		margin = 0
	}
	wake := at - margin
	if now = t.now(); now < wake {
		// Timer slack is per thread and the goroutine may be on any thread;
		// setting it costs less than the 50 µs of default slack it removes.
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		ts := unix.NsecToTimespec(t.kbase + wake)
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
		}
		now = t.now()
		if !t.opts.NoSpin {
			t.observe(now - wake)
		}
	}
	start := now
	for now < at {
		now = t.now()
	}
	t.count(now-start, now-at)
}

// Sleep is SleepUntil(time.Now().Add(d)).
func (t *Timer) Sleep(d time.Duration) { t.SleepUntil(time.Now().Add(d)) }

func (t *Timer) now() int64 { return int64(time.Since(t.base)) }

// observe feeds one wake-up lateness into the streaming quantile estimate
// of the margin: each observation moves it up by q steps or down by 1-q
// steps, so it settles where a share q of observations lie below it.
func (t *Timer) observe(lat int64) {
	const step = 4 * float64(time.Microsecond)
	q := t.opts.Quantile
	m := t.margin.Load()
	if lat > m {
		m += int64(step * q)
	} else {
		m -= int64(step * (1 - q))
	}
	m = min(max(m, int64(t.opts.MinMargin)), int64(t.opts.MaxMargin))
	t.margin.Store(m)
}

func (t *Timer) count(spin, late int64) {
	t.statMu.Lock()
	t.stats.Sleeps++
	t.stats.Spin += time.Duration(spin)
	if late > int64(time.Microsecond) {
		t.stats.Late++
		t.stats.LateBy += time.Duration(late)
	}
	t.statMu.Unlock()
}

// Stats returns the counters so far.
func (t *Timer) Stats() Stats {
	t.statMu.Lock()
	s := t.stats
	t.statMu.Unlock()
	s.Margin = time.Duration(t.margin.Load())
	return s
}
