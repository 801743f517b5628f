package load

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/timer"
)

func startBackend(t testing.TB, cfg backend.Config) *backend.Server {
	t.Helper()
	s, err := backend.Start(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRateAccuracy is issue 2's acceptance figure: 500 req/s for 3 s after
// a 1 s warm-up gives 1500 requests, no errors, achieved within 2%.
func TestRateAccuracy(t *testing.T) {
	b := startBackend(t, backend.Config{Payload: 1024})
	res, err := Run(context.Background(), Config{
		Targets:  []string{b.URL()},
		Rate:     Rate{RPS: 500},
		Warmup:   time.Second,
		Duration: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1500 || res.Unsent != 0 {
		t.Errorf("requests %d (unsent %d), want 1500 scheduled", res.Requests, res.Unsent)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %d (%v), want 0", res.Errors, res.ErrorsByClass)
	}
	if d := res.AchievedRate/500 - 1; d < -0.02 || d > 0.02 {
		t.Errorf("achieved %.1f req/s, want 500 ± 2%%", res.AchievedRate)
	}
	if res.Response.TotalCount() != 1500 {
		t.Errorf("response histogram holds %d values, want 1500", res.Response.TotalCount())
	}
	if len(res.Timeline) != 3 {
		t.Errorf("timeline has %d seconds, want 3", len(res.Timeline))
	}
	p := results.Summarize(res.Response)
	t.Logf("achieved %.1f/s p50 %.3fms p99 %.3fms late %d/%d/%d (all/loop/conn-wait) dispatch p50/p99/max %d/%d/%dns",
		res.AchievedRate, p.P50, p.P99, res.Late.Count, res.Late.Loop, res.Late.ConnWait,
		res.Late.Dispatch.ValueAtQuantile(50), res.Late.Dispatch.ValueAtQuantile(99), res.Late.Dispatch.Max())
}

// strictPrecision asks for the bounds, which hold on a quiet host
// only (see TestPrecision).
var strictPrecision = os.Getenv("MESHBENCH_STRICT_PRECISION") == "1"

// TestPrecision: a 5 ms backend at 200 req/s. The sends (the loop) and the
// delay (package timer) are precise to a few µs; what is left is the
// loopback round trip of the host, which on a 2-vCPU VM is 60–150 µs at
// p50 and 300+ µs at p99 because every wake-up of an idle vCPU costs that
// much, and far more in the tail when other work shares the two vCPUs.
// Three levels of bounds:
//   - always, under the race detector too: no request measured faster than
//     the backend's delay (service time from the actual send, response time
//     from the intended one, which is never later);
//   - by default, without the race detector: p50 at most 5.5 ms, which held
//     with the host at load average 5–11 from other builds and tests (p50
//     5.16–5.33 ms; p99 there was 9–106 ms, so it is logged, not asserted);
//   - with MESHBENCH_STRICT_PRECISION=1, on a quiet host, issue 12's bounds:
//     p50 5.00–5.15 ms, p99 at most 5.5 ms.
func TestPrecision(t *testing.T) {
	b := startBackend(t, backend.Config{Delay: 5 * time.Millisecond})
	retryOnNoise(t, func() (fails []string) {
		res, err := Run(context.Background(), Config{
			Targets:  []string{b.URL()},
			Rate:     Rate{RPS: 200},
			Warmup:   time.Second,
			Duration: 3 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		p, svc := results.Summarize(res.Response), results.Summarize(res.Service)
		t.Logf("p50 %.3fms p90 %.3fms p99 %.3fms max %.3fms; service min/p50 %.3f/%.3f; send lateness p50/p99 %d/%d ns",
			p.P50, p.P90, p.P99, p.Max, svc.Min, svc.P50, res.Late.All.ValueAtQuantile(50), res.Late.All.ValueAtQuantile(99))
		if res.Errors != 0 || res.Requests != 600 {
			t.Fatalf("requests %d, errors %v; want 600 without errors", res.Requests, res.ErrorsByClass)
		}
		// 4.995: the histogram keeps 3 significant digits (4 µs buckets at 5 ms).
		if svc.Min < 4.995 || p.Min < svc.Min || p.P50 < svc.P50 {
			t.Fatalf("response min/p50 %.3f/%.3f ms, service %.3f/%.3f: faster than the 5 ms the backend waits",
				p.Min, p.P50, svc.Min, svc.P50)
		}
		switch {
		case strictPrecision && (p.P50 > 5.15 || p.P99 > 5.5):
			return []string{fmt.Sprintf("p50 %.3f ms, p99 %.3f ms; want at most 5.15 and 5.5", p.P50, p.P99)}
		case !raceEnabled && p.P50 > 5.5:
			return []string{fmt.Sprintf("p50 %.3f ms, want at most 5.5", p.P50)}
		}
		return nil
	})
}

// busyHost is how late package timer's sleeps may be on average before the
// host counts as too busy to judge timing figures.
const busyHost = 250 * time.Microsecond

// retryOnNoise runs attempt until it reports no failure, at most three
// times. Timing figures hold only when the host gives this process CPU when
// it asks; how well it did is measured apart from the load engine, by the
// lateness of package timer's sleeps (the test backends' delays): about
// 25 µs on average on a quiet 2-vCPU VM, tens of ms with five other
// builds on it. A failure on a host that was not busy is an error at once.
// If every attempt failed on a busy host, the test is skipped with the
// figures, unless MESHBENCH_STRICT_PRECISION=1 asks for a verdict.
func retryOnNoise(t *testing.T, attempt func() []string) {
	t.Helper()
	var busy []string
	for i := 1; i <= 3; i++ {
		before := timer.Default().Stats()
		fails := attempt()
		after := timer.Default().Stats()
		if len(fails) == 0 {
			return
		}
		late := (after.LateBy - before.LateBy) / time.Duration(max(after.Sleeps-before.Sleeps, 1))
		if late <= busyHost || strictPrecision {
			for _, f := range fails {
				t.Error(f)
			}
			t.Logf("timer sleeps were late by %s on average", late)
			return
		}
		busy = append(busy, fmt.Sprintf("attempt %d, timer sleeps late by %s on average: %s", i, late, strings.Join(fails, "; ")))
	}
	t.Skipf("host too busy to judge timing:\n%s", strings.Join(busy, "\n"))
}

// TestSendBatch: with SendBatch set, the requests due within one slot leave
// together, so at 8000 req/s in slots of 250 µs (two requests per slot) the
// loop wakes at most about once per two requests. A busy host only makes the
// loop wake later, with more requests due at once, so the bound cannot fail
// from noise. Every request of the schedule is still sent and answered.
// Out-of-range values are refused.
func TestSendBatch(t *testing.T) {
	b := startBackend(t, backend.Config{Payload: 16})
	res, err := Run(context.Background(), Config{
		Targets:   []string{b.URL()},
		Rate:      Rate{RPS: 8000},
		Duration:  400 * time.Millisecond,
		SendBatch: MaxSendBatch,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 3200 || res.Errors != 0 {
		t.Fatalf("requests %d errors %d, want 3200 and 0", res.Requests, res.Errors)
	}
	// 1600 slots; the rest allows for wake-ups by signals, dials and the
	// window's edges.
	if res.Wakeups > 2000 {
		t.Errorf("grouped sends: %d wake-ups for %d requests, want at most 2000", res.Wakeups, res.Requests)
	}
	for _, bad := range []time.Duration{-time.Microsecond, MaxSendBatch + 1} {
		if _, err := Run(context.Background(), Config{Targets: []string{b.URL()}, Rate: Rate{RPS: 10}, Duration: time.Second, SendBatch: bad}); err == nil || !strings.Contains(err.Error(), "send batch") {
			t.Errorf("SendBatch %s: %v, want an error", bad, err)
		}
	}
}

// TestTimedWakeups: at 500 req/s the loop sleeps before nearly every send,
// so its timer wake-ups inside the window number about one per request
// (fewer when a response's arrival woke it first and it then spun, never
// more than the requests plus the window's edges); every wake-up counted as
// late was followed by a send that left late with a connection free, so
// there are no more of them than such sends. Neither count depends on how
// busy the host is.
func TestTimedWakeups(t *testing.T) {
	b := startBackend(t, backend.Config{Payload: 16})
	res, err := Run(context.Background(), Config{
		Targets: []string{b.URL()}, Rate: Rate{RPS: 500}, Duration: 600 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Late
	t.Logf("%d requests, %d timer wake-ups, %d of them late; %d sends late by the loop, %d of them after a late wake-up", res.Requests, l.TimedWakeups, l.WokeLate, l.Loop, l.LoopWokeLate)
	if res.Requests != 300 || res.Errors != 0 {
		t.Fatalf("requests %d errors %d, want 300 and 0", res.Requests, res.Errors)
	}
	if l.TimedWakeups < res.Requests/4 || l.TimedWakeups > res.Requests+2 {
		t.Errorf("%d timer wake-ups for %d requests, want between a quarter of them and all of them", l.TimedWakeups, res.Requests)
	}
	if l.WokeLate < 0 || l.WokeLate > l.Loop+1 {
		t.Errorf("%d late wake-ups but %d sends late by the loop", l.WokeLate, l.Loop)
	}
	// Each late wake-up made at least its own send late, which the host
	// held back; those are part of the loop's late sends.
	if l.LoopWokeLate > l.Loop || l.LoopWokeLate+1 < l.WokeLate {
		t.Errorf("%d of %d loop-late sends attributed to %d late wake-ups", l.LoopWokeLate, l.Loop, l.WokeLate)
	}
}
