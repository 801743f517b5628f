// Package timer wakes goroutines at an absolute time with microsecond
// precision, for the load scheduler's send times and the test backend's added
// delays.
//
// Go's own timers overshoot a 5 ms sleep by about 250 µs on a busy VM, and a
// bare clock_nanosleep by about 130 µs: too coarse for a benchmark whose
// results are quoted in tens of microseconds. A Timer therefore keeps its
// waiters in a heap served by one dedicated OS thread that blocks on a Linux
// timerfd armed with an absolute CLOCK_MONOTONIC time (timer slack set to
// 1 ns on that thread). The kernel is asked to wake the thread a margin before
// the earliest deadline; the woken waiter then spins the rest of the way on the
// clock itself, so the goroutine hand-off latency is inside the margin rather
// than added to the deadline.
//
// The margin adapts: the Timer tracks a quantile of how late the kernel and
// scheduler actually deliver wake-ups (a frugal streaming estimate) and asks
// for that much head start. A high quantile spins longer and is late less
// often; the default (0.9) keeps the average spin near 10–20 µs per wake-up
// on the VMs this was tuned on, which is cheap enough for thousands of
// wake-ups per second.
package timer

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Timer. The zero value is the default.
type Options struct {
	// Quantile of observed wake-up latency used as the head start (0 means
	// 0.9). Higher: more spinning, fewer late wake-ups.
	Quantile float64
	// MinMargin and MaxMargin bound the head start (0 means 5 µs and 1 ms).
	MinMargin, MaxMargin time.Duration
	// NoSpin turns the final spin off: waiters return as soon as they are
	// woken (then up to the kernel's wake-up latency late). For comparisons.
	NoSpin bool
}

// Timer serves precise sleeps to any number of goroutines from one OS thread.
type Timer struct {
	opts Options
	base time.Time // every deadline is kept as ns since base (monotonic)
	// kbase is CLOCK_MONOTONIC (the kernel's clock for timerfd) at base.
	kbase int64
	tfd   int

	mu       sync.Mutex
	heap     []*waiter
	armed    int64 // ns since base the timerfd is armed for; 0 when disarmed
	sleeping bool  // the thread is blocked reading the timerfd
	closed   bool
	done     chan struct{}
	// stopped mirrors closed for the lock-free check in SleepUntil.
	stopped atomic.Bool

	margin atomic.Int64 // current head start, ns
	stats  Stats
	statMu sync.Mutex

	pool sync.Pool
}

// Stats counts what a Timer did, for benchmarks and reports.
type Stats struct {
	Wakeups int64         // waiters served
	Late    int64         // waiters that saw their deadline already passed when woken
	Spin    time.Duration // total time waiters spent spinning
	Margin  time.Duration // current head start
}

type waiter struct {
	at int64 // deadline, ns since base
	// wake is at minus the margin when the waiter was queued.
	wake int64
	ch   chan struct{}
	fn   func()
	idx  int
}

var (
	defaultOnce  sync.Once
	defaultTimer *Timer
	defaultErr   error
)

// Default returns the process-wide Timer, starting it on first use. If the
// kernel offers no timerfd, it returns a Timer that falls back to Go's
// timers (coarse, but correct), and the error says so.
func Default() *Timer {
	defaultOnce.Do(func() {
		defaultTimer, defaultErr = New(Options{})
		if defaultErr != nil {
			defaultTimer = &Timer{opts: Options{NoSpin: true}, tfd: -1, base: time.Now()}
		}
	})
	return defaultTimer
}

// DefaultErr reports why Default fell back to Go's timers, or nil.
func DefaultErr() error { Default(); return defaultErr }

// New starts a Timer and its thread. Close stops it.
func New(opts Options) (*Timer, error) {
	if opts.Quantile <= 0 || opts.Quantile >= 1 {
		opts.Quantile = 0.9
	}
	if opts.MinMargin <= 0 {
		opts.MinMargin = 5 * time.Microsecond
	}
	if opts.MaxMargin <= 0 {
		opts.MaxMargin = time.Millisecond
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	t := &Timer{opts: opts, tfd: tfd, done: make(chan struct{})}
	t.base = time.Now()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		unix.Close(tfd)
		return nil, fmt.Errorf("clock_gettime: %w", err)
	}
	t.kbase = ts.Nano() - int64(time.Since(t.base))
	// Start from the wake-up latency of a typical VM; the estimate moves to
	// this host's within a few hundred wake-ups.
	t.margin.Store(int64(100 * time.Microsecond))
	t.pool.New = func() any { return &waiter{ch: make(chan struct{}, 1)} }
	ready := make(chan error, 1)
	go t.loop(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Timer) now() int64 { return int64(time.Since(t.base)) }

// SleepUntil returns at deadline, or very soon after it; never before, unless
// the Timer is closed, which releases every sleeper at once.
func (t *Timer) SleepUntil(deadline time.Time) {
	if t.stopped.Load() {
		return
	}
	at := int64(deadline.Sub(t.base))
	if t.tfd < 0 {
		if d := time.Until(deadline); d > 0 {
			time.Sleep(d)
		}
		return
	}
	now := t.now()
	margin := t.margin.Load()
	if at-now > margin {
		w := t.pool.Get().(*waiter)
		w.at, w.wake, w.fn = at, at-margin, nil
		t.push(w)
		<-w.ch
		woke := t.now()
		t.observe(woke - w.wake)
		t.pool.Put(w)
		if t.stopped.Load() {
			return
		}
		now = woke
	}
	t.spin(at, now)
}

// Sleep is SleepUntil(time.Now().Add(d)).
func (t *Timer) Sleep(d time.Duration) { t.SleepUntil(time.Now().Add(d)) }

// spin waits on the clock from now until at.
func (t *Timer) spin(at, now int64) {
	if now >= at {
		if now > at+int64(time.Microsecond) {
			t.count(0, true)
		} else {
			t.count(0, false)
		}
		return
	}
	if t.opts.NoSpin {
		time.Sleep(time.Duration(at - now)) // not reached with a working timerfd unless NoSpin
		t.count(0, false)
		return
	}
	start := now
	for now < at {
		now = t.now()
	}
	t.count(now-start, false)
}

func (t *Timer) count(spin int64, late bool) {
	t.statMu.Lock()
	t.stats.Wakeups++
	t.stats.Spin += time.Duration(spin)
	if late {
		t.stats.Late++
	}
	t.statMu.Unlock()
}

// observe feeds one wake-up latency (how long after the armed time the
// waiter actually ran) into the streaming quantile estimate of the margin.
// Each observation moves the estimate by a fixed step, up with weight q and
// down with weight 1-q, so it settles where a share q of observations lie
// below it.
func (t *Timer) observe(lat int64) {
	const step = int64(time.Microsecond)
	q := t.opts.Quantile
	m := t.margin.Load()
	if lat > m {
		m += int64(float64(step) * q * 4)
	} else {
		m -= int64(float64(step) * (1 - q) * 4)
	}
	m = max(m, int64(t.opts.MinMargin))
	m = min(m, int64(t.opts.MaxMargin))
	t.margin.Store(m)
}

// Stats returns the counters so far.
func (t *Timer) Stats() Stats {
	t.statMu.Lock()
	s := t.stats
	t.statMu.Unlock()
	s.Margin = time.Duration(t.margin.Load())
	return s
}

func (t *Timer) push(w *waiter) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		w.ch <- struct{}{}
		return
	}
	heapPush(&t.heap, w)
	if t.heap[0] == w && t.sleeping && (t.armed == 0 || w.wake < t.armed) {
		t.arm(w.wake)
	}
	t.mu.Unlock()
}

// arm sets the timerfd to fire at wake (ns since base). Called with mu held.
func (t *Timer) arm(wake int64) {
	abs := t.kbase + wake
	if abs < 1 {
		abs = 1 // 0 would disarm; any past time fires at once
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(abs)}
	// A failure here cannot be reported to anyone useful; the thread re-arms
	// on its next pass, and SleepUntil callers fall through on Close.
	_ = unix.TimerfdSettime(t.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil)
	t.armed = wake
}

func (t *Timer) loop(ready chan<- error) {
	runtime.LockOSThread()
	// Timer slack is per thread: 1 ns asks the kernel not to batch our
	// wake-up with others (the default slack is 50 µs).
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
		ready <- fmt.Errorf("prctl(PR_SET_TIMERSLACK): %w", err)
		return
	}
	ready <- nil
	defer close(t.done)
	var buf [8]byte
	var due []*waiter
	for {
		t.mu.Lock()
		for {
			if t.closed {
				for _, w := range t.heap {
					w.ch <- struct{}{}
				}
				t.heap = nil
				t.mu.Unlock()
				return
			}
			now := t.now()
			due = due[:0]
			for len(t.heap) > 0 && t.heap[0].wake <= now {
				due = append(due, heapPop(&t.heap))
			}
			if len(due) > 0 {
				t.mu.Unlock()
				for _, w := range due {
					if w.fn != nil {
						w.fn()
					} else {
						w.ch <- struct{}{}
					}
				}
				t.mu.Lock()
				continue
			}
			if len(t.heap) == 0 {
				t.armed = 0 // the timerfd already fired or was never armed
			} else if t.armed != t.heap[0].wake {
				t.arm(t.heap[0].wake)
			}
			break
		}
		t.sleeping = true
		t.mu.Unlock()
		_, err := unix.Read(t.tfd, buf[:])
		t.mu.Lock()
		t.sleeping = false
		if err == nil {
			t.armed = 0
		}
		t.mu.Unlock()
		if errors.Is(err, unix.EBADF) {
			return
		}
	}
}

// At runs fn on the Timer's thread at deadline (no spin: fn runs up to the
// kernel's wake-up latency after deadline, never before it minus the margin).
// fn must be quick and must not block. It exists for callers that hand work
// on to other goroutines anyway.
func (t *Timer) At(deadline time.Time, fn func()) {
	w := &waiter{at: int64(deadline.Sub(t.base)), fn: fn}
	w.wake = w.at
	t.push(w)
}

// Close stops the thread and releases every waiter at once.
func (t *Timer) Close() error {
	if t.tfd < 0 {
		return nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.stopped.Store(true)
	// Fire the timerfd now so the thread leaves its read.
	t.arm(-t.kbase)
	t.mu.Unlock()
	<-t.done
	return unix.Close(t.tfd)
}

func heapPush(h *[]*waiter, w *waiter) {
	w.idx = len(*h)
	*h = append(*h, w)
	up(*h, w.idx)
}

func heapPop(h *[]*waiter) *waiter {
	old := *h
	n := len(old) - 1
	w := old[0]
	old[0] = old[n]
	old[0].idx = 0
	old[n] = nil
	*h = old[:n]
	if n > 0 {
		down(*h, 0)
	}
	return w
}

func up(h []*waiter, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].wake <= h[i].wake {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].idx, h[i].idx = p, i
		i = p
	}
}

func down(h []*waiter, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h[r].wake < h[l].wake {
			c = r
		}
		if h[i].wake <= h[c].wake {
			return
		}
		h[i], h[c] = h[c], h[i]
		h[i].idx, h[c].idx = i, c
		i = c
	}
}
