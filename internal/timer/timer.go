// Package timer sleeps to an absolute time with microsecond precision, for
// the test backend's added delays (and anything else that must not trust
// Go's timers, which overshoot a 5 ms sleep by about 250 µs on a VM).
//
// Waiters share one Linux timerfd, armed with an absolute CLOCK_MONOTONIC
// time (timerfd hrtimers carry no timer slack, unlike a thread's sleeps),
// and a heap of deadlines. A serving goroutine waits for the timerfd through
// Go's netpoller, so no thread and no P are held while nothing is due: a
// thread blocked in clock_nanosleep keeps its P from the rest of the
// process until sysmon takes it back, which on two cores added hundreds of
// microseconds to everything else (measured). The timerfd fires a margin
// before the earliest deadline; the serving goroutine wakes the waiter
// through a channel (on the same P, so without waking another thread), and
// the waiter spins on the clock for the rest of the way.
//
// The margin adapts: each waiter observes how late it actually woke against
// the time it asked to be woken, and a frugal streaming estimate of a
// quantile of that lateness becomes the next margin. A higher quantile
// spins longer and is late less often.
package timer

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Timer. The zero value is the default.
type Options struct {
	// Quantile of observed wake-up lateness used as the margin (0 means
	// 0.75). Higher: more spinning, fewer late returns.
	Quantile float64
	// MinMargin and MaxMargin bound the margin (0 means 5 µs and 150 µs).
	// The cap matters: a spinning waiter holds a P, and on a small host
	// busy Ps delay the netpoller that wakes the next waiters, which would
	// push the estimate, and the spinning, ever higher.
	MinMargin, MaxMargin time.Duration
	// NoSpin wakes waiters at their deadline and returns at once: late by
	// the wake-up latency, for comparison in benchmarks.
	NoSpin bool
}

// Timer serves precise sleeps to any number of goroutines.
type Timer struct {
	opts  Options
	base  time.Time
	kbase int64 // CLOCK_MONOTONIC at base; Go's monotonic clock is the same one
	tfd   int
	file  *os.File
	rc    syscall.RawConn

	mu    sync.Mutex
	heap  []*waiter
	armed int64 // ns since base the timerfd is set for; 0 when not set
	wake  chan struct{}

	margin  atomic.Int64 // ns
	fallbak bool         // no timerfd: Go's timers only

	statMu sync.Mutex
	stats  Stats
	pool   sync.Pool
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

type waiter struct {
	at, wake int64 // deadline and wake-up time, ns since base
	ch       chan struct{}
}

var (
	defaultOnce  sync.Once
	defaultTimer *Timer
)

// Default returns the process-wide Timer.
func Default() *Timer {
	defaultOnce.Do(func() { defaultTimer = New(Options{}) })
	return defaultTimer
}

// New starts a Timer. If the kernel offers no timerfd it falls back to Go's
// timers (correct, never early, but coarse). A Timer lives as long as the
// process; its serving goroutine parks in the netpoller when idle.
func New(opts Options) *Timer {
	if opts.Quantile <= 0 || opts.Quantile >= 1 {
		opts.Quantile = 0.75
	}
	if opts.MinMargin <= 0 {
		opts.MinMargin = 5 * time.Microsecond
	}
	if opts.MaxMargin <= 0 {
		opts.MaxMargin = 150 * time.Microsecond
	}
	t := &Timer{opts: opts, base: time.Now(), tfd: -1, wake: make(chan struct{}, 1)}
	t.pool.New = func() any { return &waiter{ch: make(chan struct{}, 1)} }
	// Start near the wake-up latency of a typical VM; the estimate moves to
	// this host's within a few hundred sleeps.
	t.margin.Store(int64(min(max(80*time.Microsecond, opts.MinMargin), opts.MaxMargin)))
	var ts unix.Timespec
	err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if err == nil {
		t.kbase = ts.Nano() - int64(time.Since(t.base))
		t.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	}
	if err == nil {
		// A non-blocking fd given to os.NewFile goes to the netpoller.
		t.file = os.NewFile(uintptr(t.tfd), "meshbench-timer")
		t.rc, err = t.file.SyscallConn()
	}
	if err != nil {
		t.fallbak = true
		return t
	}
	go t.serve()
	return t
}

func (t *Timer) now() int64 { return int64(time.Since(t.base)) }

// SleepUntil returns at deadline or very soon after it, never before.
func (t *Timer) SleepUntil(deadline time.Time) {
	at := int64(deadline.Sub(t.base))
	now := t.now()
	if now >= at {
		return
	}
	if t.fallbak {
		time.Sleep(time.Duration(at - now))
		return
	}
	margin := t.margin.Load()
	if t.opts.NoSpin {
		margin = 0
	}
	if wake := at - margin; wake > now {
		w := t.pool.Get().(*waiter)
		w.at, w.wake = at, wake
		t.push(w)
		<-w.ch
		t.pool.Put(w)
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

func (t *Timer) push(w *waiter) {
	t.mu.Lock()
	heapPush(&t.heap, w)
	if t.heap[0] == w && (t.armed == 0 || w.wake < t.armed) {
		t.arm(w.wake)
	}
	t.mu.Unlock()
}

// arm sets the timerfd to fire at wake (ns since base). Called with mu held.
func (t *Timer) arm(wake int64) {
	abs := max(t.kbase+wake, 1) // 0 would disarm; a past time fires at once
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(abs)}
	if err := unix.TimerfdSettime(t.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		// Cannot happen with a valid fd; make the serving goroutine poll.
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	t.armed = wake
}

// serve wakes waiters as their time comes.
func (t *Timer) serve() {
	var buf [8]byte
	var due []*waiter
	ready := func(fd uintptr) bool {
		_, err := unix.Read(int(fd), buf[:])
		return err != unix.EAGAIN
	}
	for {
		t.mu.Lock()
		now := t.now()
		due = due[:0]
		for len(t.heap) > 0 && t.heap[0].wake <= now {
			due = append(due, heapPop(&t.heap))
		}
		t.armed = 0
		if len(t.heap) > 0 {
			t.arm(t.heap[0].wake)
		}
		t.mu.Unlock()
		for _, w := range due {
			w.ch <- struct{}{}
		}
		if len(due) > 0 {
			continue // the heap may have changed while we sent
		}
		select {
		case <-t.wake:
			continue
		default:
		}
		// Park in the netpoller until the timerfd expires.
		if err := t.rc.Read(ready); err != nil {
			return
		}
	}
}

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

func heapPush(h *[]*waiter, w *waiter) {
	*h = append(*h, w)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].wake <= s[i].wake {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func heapPop(h *[]*waiter) *waiter {
	s := *h
	n := len(s) - 1
	w := s[0]
	s[0] = s[n]
	s[n] = nil
	s = s[:n]
	*h = s
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s[r].wake < s[l].wake {
			c = r
		}
		if s[i].wake <= s[c].wake {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	return w
}
