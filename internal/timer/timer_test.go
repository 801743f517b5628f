package timer

import (
	"sort"
	"sync"
	"testing"
	"time"
)

func newTimer(t testing.TB) *Timer {
	t.Helper()
	tm, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { tm.Close() })
	return tm
}

// TestNeverEarly checks the one hard promise: no waiter returns before its
// deadline, whatever the order in which deadlines arrive.
func TestNeverEarly(t *testing.T) {
	tm := newTimer(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		// Deadlines deliberately out of order, some in the past.
		d := time.Duration((i*7919)%23-3) * 100 * time.Microsecond
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(d)
			tm.SleepUntil(deadline)
			if early := time.Until(deadline); early > 0 {
				errs <- early.String()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a waiter returned %s before its deadline", e)
	}
	if s := tm.Stats(); s.Wakeups != 50 {
		t.Errorf("Stats.Wakeups = %d, want 50", s.Wakeups)
	}
}

// TestEarlierWaiterPreemptsArmedTimer: a waiter that arrives while the thread
// sleeps towards a later deadline must still be woken at its own time, not at
// the later one.
func TestEarlierWaiterPreemptsArmedTimer(t *testing.T) {
	tm := newTimer(t)
	go tm.SleepUntil(time.Now().Add(2 * time.Second))
	time.Sleep(20 * time.Millisecond) // let the thread arm for +2s
	start := time.Now()
	tm.SleepUntil(start.Add(5 * time.Millisecond))
	if el := time.Since(start); el > time.Second {
		t.Fatalf("a 5ms sleep took %s: the earlier deadline did not re-arm the timer", el)
	}
}

func TestAtRunsCallback(t *testing.T) {
	tm := newTimer(t)
	done := make(chan time.Time, 1)
	deadline := time.Now().Add(3 * time.Millisecond)
	tm.At(deadline, func() { done <- time.Now() })
	got := <-done
	if got.Before(deadline) {
		t.Fatalf("At ran %s before its deadline", deadline.Sub(got))
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	tm, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		tm.SleepUntil(time.Now().Add(time.Hour))
		close(released)
	}()
	time.Sleep(10 * time.Millisecond)
	if err := tm.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a waiter sleeping")
	}
	tm.SleepUntil(time.Now().Add(time.Hour)) // after Close: returns at once
}

func TestHeapOrder(t *testing.T) {
	var h []*waiter
	in := []int64{5, 3, 9, 1, 7, 3, 8, 2}
	for _, v := range in {
		heapPush(&h, &waiter{wake: v})
	}
	var out []int64
	for len(h) > 0 {
		out = append(out, heapPop(&h).wake)
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i] < out[j] }) || len(out) != len(in) {
		t.Fatalf("heap gave %v", out)
	}
}

// BenchmarkOvershoot reports how late a 2ms sleep returns with this Timer,
// with the Timer but no final spin, and with time.Sleep, plus the CPU the
// spin costs per wake-up.
func BenchmarkOvershoot(b *testing.B) {
	const d = 2 * time.Millisecond
	run := func(b *testing.B, sleep func(time.Time)) {
		over := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			deadline := time.Now().Add(d)
			sleep(deadline)
			over = append(over, time.Since(deadline))
		}
		sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
		b.ReportMetric(float64(over[len(over)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(over[len(over)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("timer", func(b *testing.B) {
		tm := newTimer(b)
		run(b, tm.SleepUntil)
		s := tm.Stats()
		b.ReportMetric(float64(s.Spin.Microseconds())/float64(max(s.Wakeups, 1)), "spin-µs/op")
		b.ReportMetric(float64(s.Margin.Microseconds()), "margin-µs")
	})
	b.Run("timer-nospin", func(b *testing.B) {
		tm, err := New(Options{NoSpin: true, MinMargin: time.Nanosecond, MaxMargin: time.Nanosecond})
		if err != nil {
			b.Fatal(err)
		}
		defer tm.Close()
		run(b, tm.SleepUntil)
	})
	b.Run("time.Sleep", func(b *testing.B) {
		run(b, func(t time.Time) { time.Sleep(time.Until(t)) })
	})
}
