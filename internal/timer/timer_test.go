package timer

import (
	"sort"
	"sync"
	"testing"
	"time"
)

// TestNeverEarly checks the one hard promise: no caller returns before its
// deadline, whatever the order in which deadlines arrive.
func TestNeverEarly(t *testing.T) {
	tm := New(Options{})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		// Deadlines deliberately out of order, some in the past, some far
		// enough to go through the coarse stage.
		d := time.Duration((i*7919)%43-3) * 100 * time.Microsecond
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
		t.Errorf("a sleeper returned %s before its deadline", e)
	}
	if s := tm.Stats(); s.Sleeps == 0 || s.Sleeps > 50 {
		t.Errorf("Stats.Sleeps = %d, want between 1 and 50", s.Sleeps)
	}
}

// TestMarginFollowsLateness: the margin estimate rises when wake-ups are
// later than it and falls when they are earlier, within its bounds.
func TestMarginFollowsLateness(t *testing.T) {
	tm := New(Options{Quantile: 0.5, MinMargin: 10 * time.Microsecond, MaxMargin: 300 * time.Microsecond})
	for i := 0; i < 1000; i++ {
		tm.observe(int64(200 * time.Microsecond))
	}
	if m := tm.Stats().Margin; m < 190*time.Microsecond || m > 210*time.Microsecond {
		t.Errorf("after 1000 wake-ups 200µs late, margin = %s, want ≈200µs", m)
	}
	for i := 0; i < 1000; i++ {
		tm.observe(int64(time.Second))
	}
	if m := tm.Stats().Margin; m != 300*time.Microsecond {
		t.Errorf("margin = %s, want the 300µs cap", m)
	}
	for i := 0; i < 1000; i++ {
		tm.observe(0)
	}
	if m := tm.Stats().Margin; m != 10*time.Microsecond {
		t.Errorf("margin = %s, want the 10µs floor", m)
	}
}

// BenchmarkOvershoot reports how late a sleep returns with this Timer, with
// the timerfd wake-up alone (NoSpin), and with time.Sleep, plus the CPU the
// spin costs per sleep. Sleeps of 1.5 ms exercise the kernel stage only,
// 5 ms the coarse stage too.
func TestHeapOrder(t *testing.T) {
	var h []*waiter
	in := []int64{5, 3, 9, 1, 7, 3, 8, 2, 6, 0}
	for _, v := range in {
		heapPush(&h, &waiter{wake: v})
	}
	var out []int64
	for len(h) > 0 {
		out = append(out, heapPop(&h).wake)
	}
	if len(out) != len(in) || !sort.SliceIsSorted(out, func(i, j int) bool { return out[i] < out[j] }) {
		t.Fatalf("heap gave %v", out)
	}
}

func BenchmarkOvershoot(b *testing.B) {
	run := func(b *testing.B, d time.Duration, sleep func(time.Time)) {
		over := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			deadline := time.Now().Add(d)
			sleep(deadline)
			over = append(over, time.Since(deadline))
		}
		sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
		b.ReportMetric(float64(over[len(over)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(over[len(over)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
	for _, d := range []time.Duration{1500 * time.Microsecond, 5 * time.Millisecond} {
		b.Run("timer/"+d.String(), func(b *testing.B) {
			tm := New(Options{})
			run(b, d, tm.SleepUntil)
			s := tm.Stats()
			b.ReportMetric(float64(s.Spin.Nanoseconds())/1e3/float64(max(s.Sleeps, 1)), "spin-µs/op")
			b.ReportMetric(float64(s.Margin.Nanoseconds())/1e3, "margin-µs")
		})
		b.Run("nospin/"+d.String(), func(b *testing.B) {
			run(b, d, New(Options{NoSpin: true}).SleepUntil)
		})
		b.Run("time.Sleep/"+d.String(), func(b *testing.B) {
			run(b, d, func(t time.Time) { time.Sleep(time.Until(t)) })
		})
	}
}
