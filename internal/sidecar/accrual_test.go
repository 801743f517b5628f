package sidecar

import (
	"net/http"
	"testing"
	"time"
)

func testPolicy(kind string) *accrualPolicy {
	return &accrualPolicy{
		kind: kind, rate: 0.9, window: 20, consecutive: 7,
		min: float64(time.Second), max: float64(time.Minute), jitter: 0.5,
		float: func() float64 { return 0 },
	}
}

// feed records outcomes on a fresh endpoint; failures are at the given
// positions. It returns the position of the ejection, or -1.
func feed(p *accrualPolicy, n int, fail map[int]bool) int {
	e := newEndpoint("x:80", 0, 0, p.window)
	for i := range n {
		if e.record(p, !fail[i], false, int64(i)) {
			return i
		}
	}
	return -1
}

// TestSuccessRate: the classic Linkerd 1 config (0.9 over 20 requests)
// ejects an endpoint at 0.85 (3 failures in 20) and keeps it at 0.95 (1 in
// 20), and judges nothing before the window is full.
func TestSuccessRate(t *testing.T) {
	p := testPolicy(AccrualSuccessRate)
	three := map[int]bool{4: true, 11: true, 17: true}
	if got := feed(p, 20, three); got != 19 {
		t.Errorf("0.85 over 20: ejected at %d, want at the 20th request (19)", got)
	}
	if got := feed(p, 20, map[int]bool{7: true}); got != -1 {
		t.Errorf("0.95 over 20: ejected at %d, want kept", got)
	}
	// Failures early on alone do not eject: the window must fill first.
	if got := feed(p, 19, map[int]bool{0: true, 1: true, 2: true, 3: true}); got != -1 {
		t.Errorf("ejected at %d before 20 outcomes", got)
	}
	// The window slides: failures 5 and 10 are two in the first full
	// window (0..19); with 24 the window 5..24 holds three.
	slide := map[int]bool{5: true, 10: true, 24: true}
	if got := feed(p, 40, slide); got != 24 {
		t.Errorf("sliding window: ejected at %d, want 24", got)
	}
}

// TestConsecutiveFailures: linkerd2's breaker ejects at the 7th failure in
// a row, and a success in between starts the count over.
func TestConsecutiveFailures(t *testing.T) {
	p := testPolicy(AccrualConsecutive)
	fail := map[int]bool{}
	for i := range 7 {
		fail[i] = true
	}
	if got := feed(p, 10, fail); got != 6 {
		t.Errorf("ejected at %d, want 6", got)
	}
	broken := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 7: true, 8: true}
	if got := feed(p, 10, broken); got != -1 {
		t.Errorf("ejected at %d though a success broke the run", got)
	}
}

// TestBackoff: min×2^k, jitter up to half of that on top, capped at 1 min.
func TestBackoff(t *testing.T) {
	p := testPolicy(AccrualConsecutive)
	for k, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := time.Duration(p.backoff(k)); got != want {
			t.Errorf("backoff(%d) = %v, want %v", k, got, want)
		}
	}
	p.float = func() float64 { return 0.999999 }
	if got := time.Duration(p.backoff(0)); got < 1499*time.Millisecond || got > 1500*time.Millisecond {
		t.Errorf("jittered backoff(0) = %v, want just under 1.5 s", got)
	}
	if got := time.Duration(p.backoff(100)); got != time.Minute {
		t.Errorf("backoff(100) = %v, want the 1 min cap", got)
	}
}

// TestBackoffAndProbe drives one endpoint through the whole cycle through
// the proxy: ejected after 7 failures, no traffic while ejected, a single
// probe when the backoff ends, a failed probe doubles the backoff, a good
// probe re-admits it.
func TestBackoffAndProbe(t *testing.T) {
	p, sc, clk := newTestProxy(t, func(c *Config) {
		c.Accrual = AccrualConsecutive
		c.MaxRetries = 0 // count each request once
		// Round robin, so that re-admission shows as traffic; peak-EWMA
		// between two equally fast endpoints in a sequential test would
		// keep favouring whichever estimate happens to be lower.
		c.Balancer = BalancerRoundRobin
	}, "bad:80", "good:80")
	p.policy.float = func() float64 { return 0 } // no jitter: exact backoffs
	healthy := false
	sc.on("bad:80", func(int, *http.Request) outcome {
		if healthy {
			return outcome{status: 200, latency: time.Millisecond}
		}
		return outcome{status: 500, latency: time.Millisecond}
	})
	sc.on("good:80", always(200, time.Millisecond))
	bad := p.eps[0]

	for i := 0; bad.state.Load() == stateLive; i++ {
		if i > 1000 {
			t.Fatal("never ejected")
		}
		do(p, "GET", "/", "")
	}
	if got := sc.hits("bad:80"); got != 7 {
		t.Fatalf("ejected after %d attempts, want 7", got)
	}
	ejectedAt := clk.now()

	// While ejected (1 s), nothing goes to it.
	for clk.now()-ejectedAt < int64(time.Second)-int64(10*time.Millisecond) {
		do(p, "GET", "/", "")
	}
	if got := sc.hits("bad:80"); got != 7 {
		t.Fatalf("ejected endpoint got %d more requests", got-7)
	}
	clk.advance(20 * time.Millisecond)

	// Backoff over: the next request is its probe, and it fails.
	do(p, "GET", "/", "")
	if got := sc.hits("bad:80"); got != 8 {
		t.Fatalf("after the backoff: %d attempts, want the one probe (8)", got)
	}
	if bad.state.Load() != stateEjected || bad.ejections.Load() != 2 {
		t.Fatalf("failed probe: state %d, ejections %d", bad.state.Load(), bad.ejections.Load())
	}
	// The second ejection lasts 2 s: nothing after 1.5 s...
	clk.advance(1500 * time.Millisecond)
	do(p, "GET", "/", "")
	if got := sc.hits("bad:80"); got != 8 {
		t.Fatalf("probed again after 1.5 s of a 2 s backoff")
	}
	// ...and a probe after 2 s, which now succeeds and re-admits it.
	clk.advance(600 * time.Millisecond)
	healthy = true
	do(p, "GET", "/", "")
	if bad.state.Load() != stateLive {
		t.Fatalf("good probe did not re-admit: state %d", bad.state.Load())
	}
	before := sc.hits("bad:80")
	for range 20 {
		do(p, "GET", "/", "")
	}
	if sc.hits("bad:80") == before {
		t.Error("re-admitted endpoint gets no traffic")
	}
}

// TestSingleProbe: once the backoff is over, exactly one caller wins the
// probe; the others keep away until it answers.
func TestSingleProbe(t *testing.T) {
	p := testPolicy(AccrualConsecutive)
	e := newEndpoint("x:80", 0, 0, 0)
	for i := range 7 {
		e.record(p, false, false, int64(i))
	}
	if e.takeProbe(int64(500 * time.Millisecond)) {
		t.Fatal("probe before the backoff ended")
	}
	now := int64(2 * time.Second)
	if !e.takeProbe(now) || e.takeProbe(now) {
		t.Fatal("want exactly one probe")
	}
	// A probe whose client went away gives the chance to the next request.
	e.abandon(true, now)
	if !e.takeProbe(now) {
		t.Fatal("abandoned probe not offered again")
	}
}

// TestAllEjectedFailsFast: with every endpoint ejected the sidecar answers
// 503 at once, naming why, without queueing or touching an upstream.
func TestAllEjectedFailsFast(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) {
		c.Accrual = AccrualConsecutive
		c.ConsecutiveFailures = 2
		c.MaxRetries = 0
	}, "only:80")
	sc.on("only:80", always(500, time.Millisecond))
	do(p, "GET", "/", "")
	do(p, "GET", "/", "")
	w := do(p, "GET", "/", "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(ProxyErrorHeader) != errNoEndpoint {
		t.Errorf("got %d %q", w.Code, w.Header().Get(ProxyErrorHeader))
	}
	if got := sc.hits("only:80"); got != 2 {
		t.Errorf("upstream got %d attempts, want 2", got)
	}
}
