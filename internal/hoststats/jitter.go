package hoststats

import (
	"context"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/results"
)

const (
	jitterTick = time.Millisecond
	// stallMin is the shortest gap between two clock reads of the busy
	// loop that counts as time lost: reads come every few tens of ns, so
	// 10 µs means the thread was off its CPU (preempted, an interrupt, a
	// vCPU descheduled by the hypervisor).
	stallMin = 10 * time.Microsecond
)

// runJitter is a hiccup meter in two halves. The sleep loop asks for 1 ms
// and records how late it wakes: timer slack plus scheduling delay, which is
// what a proxy waiting on epoll sees. The busy loop spins for 1 ms at a time
// and records the longest gap between two clock reads in each: time the
// thread wanted the CPU and did not have it, which is steal and preemption
// without any timer in the way. The busy loop also catches the Go
// runtime's own preemption of long-running goroutines; a Go proxy lives
// with that too.
func runJitter(ctx context.Context, d time.Duration) *results.JitterProbe {
	p := &results.JitterProbe{}
	if d < 10*jitterTick {
		p.Error = "no time left to run"
		return p
	}
	p.CPUSeconds = onThread(func() {
		p.Sleep = sleepLoop(ctx, d/2)
		p.Busy = busyLoop(ctx, d/2)
	})
	return p
}

func sleepLoop(ctx context.Context, d time.Duration) results.JitterLoop {
	h := results.NewHistogram()
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		t0 := time.Now()
		time.Sleep(jitterTick)
		_ = h.RecordValue(int64(max(time.Since(t0)-jitterTick, 0)))
	}
	return loopSummary(h, time.Since(start), beyondMedian(h))
}

// beyondMedian sums the lateness of the sleep loop past its median. Every
// wake-up is late by the timer's slack (tens to hundreds of µs, a constant
// of the kernel and the Go runtime); what lies beyond the median is the
// part that varies, the jitter. Read from the histogram's buckets, so
// within its three digits.
func beyondMedian(h *hdrhistogram.Histogram) time.Duration {
	med := h.ValueAtQuantile(50)
	var ns int64
	for _, b := range h.Distribution() {
		if b.Count > 0 && b.To > med {
			ns += ((b.From+b.To)/2 - med) * b.Count
		}
	}
	return time.Duration(max(ns, 0))
}

func busyLoop(ctx context.Context, d time.Duration) results.JitterLoop {
	h := results.NewHistogram()
	var lost time.Duration
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		t0 := time.Now()
		last, worst := t0, time.Duration(0)
		for {
			now := time.Now()
			gap := now.Sub(last)
			worst = max(worst, gap)
			if gap >= stallMin {
				lost += gap
			}
			last = now
			if now.Sub(t0) >= jitterTick {
				break
			}
		}
		_ = h.RecordValue(int64(worst))
	}
	return loopSummary(h, time.Since(start), lost)
}

func loopSummary(h *hdrhistogram.Histogram, elapsed, lost time.Duration) results.JitterLoop {
	s := results.Summarize(h)
	return results.JitterLoop{
		Samples:   s.Count,
		DurationS: round3(elapsed.Seconds()),
		P50Ms:     s.P50,
		P99Ms:     s.P99,
		P999Ms:    s.P999,
		MaxMs:     s.Max,
		LostPct:   pct(float64(lost), float64(elapsed)),
	}
}
