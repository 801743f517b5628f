package sidecar

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryBudgetStorm: every endpoint fails every request for a minute at
// 100 requests/s. Retries stay within the budget (20% of requests plus
// 10/s), however many retries per request are allowed, and the budget is
// actually spent (it is not just refusing everything).
func TestRetryBudgetStorm(t *testing.T) {
	p, sc, clk := newTestProxy(t, func(c *Config) {
		c.Accrual = AccrualNone // keep every endpoint in, failing
		c.MaxRetries = 10
	}, "a:80", "b:80", "c:80")
	for _, h := range []string{"a:80", "b:80", "c:80"} {
		sc.on(h, always(503, 0))
	}
	const rps, secs = 100, 60
	n := 0
	for range rps * secs {
		if w := do(p, "GET", "/", ""); w.Code != 503 {
			t.Fatalf("status %d", w.Code)
		}
		n++
		clk.advance(time.Second / rps)
	}
	retries := len(sc.calls) - n
	// Within any 10 s window: 0.2 × 1000 requests + 10/s × 10 s = 300.
	// Over 60 s that is 6 windows; allow one window's reserve for the
	// window sliding by slots.
	limit := int(0.2*float64(n)) + 10*secs + 100
	if retries > limit {
		t.Errorf("%d retries for %d requests, budget allows at most %d", retries, n, limit)
	}
	if retries < int(0.2*float64(n)) {
		t.Errorf("only %d retries for %d requests: budget not spent", retries, n)
	}
	if int(p.budget.granted.Load()) != retries || p.budget.exhausted.Load() == 0 {
		t.Errorf("metrics: granted %d (want %d), exhausted %d (want > 0)",
			p.budget.granted.Load(), retries, p.budget.exhausted.Load())
	}
	t.Logf("%d requests, %d retries (%.1f%%), %d refused by the budget",
		n, retries, 100*float64(retries)/float64(n), p.budget.exhausted.Load())
}

// TestRetryGoesElsewhere: a failed idempotent request is retried on an
// endpoint it has not tried, and the client sees the good answer.
func TestRetryGoesElsewhere(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) { c.Balancer = BalancerRoundRobin }, "bad:80", "good:80")
	sc.on("bad:80", always(500, time.Millisecond))
	sc.on("good:80", always(200, time.Millisecond))
	for range 10 {
		if w := do(p, "GET", "/", ""); w.Code != 200 || w.Header().Get("X-Upstream") != "good:80" {
			t.Fatalf("got %d from %q", w.Code, w.Header().Get("X-Upstream"))
		}
	}
	for i := 1; i < len(sc.calls); i++ {
		if sc.calls[i] == "bad:80" && sc.calls[i-1] == "bad:80" {
			t.Fatal("retried on the endpoint that just failed")
		}
	}
}

// TestRetryOnlyRetryable: a POST that failed with 500 may have had effects
// and is not retried; marked retryable it is, with its body replayed
// intact; a refused connection carried nothing, so a POST without a body
// goes elsewhere.
func TestRetryOnlyRetryable(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) { c.Balancer = BalancerRoundRobin }, "a:80", "b:80")
	first := true
	fail := func(n int, r *http.Request) outcome {
		if first {
			first = false
			return outcome{status: 500}
		}
		return outcome{status: 200}
	}
	sc.on("a:80", fail)
	sc.on("b:80", fail)

	if w := do(p, "POST", "/", "payload"); w.Code != 500 || len(sc.calls) != 1 {
		t.Errorf("plain POST: %d after %d attempts, want 500 after 1", w.Code, len(sc.calls))
	}

	first, sc.calls, sc.body = true, nil, nil
	if w := do(p, "POST", "/", "payload", RetryableHeader, "true"); w.Code != 200 || len(sc.calls) != 2 {
		t.Fatalf("retryable POST: %d after %d attempts, want 200 after 2", w.Code, len(sc.calls))
	}
	if sc.body[0] != "payload" || sc.body[1] != "payload" {
		t.Errorf("bodies sent %q, want the payload twice", sc.body)
	}

	refusedOnce := true
	sc.on("a:80", func(int, *http.Request) outcome {
		if refusedOnce {
			refusedOnce = false
			return outcome{err: refused}
		}
		return outcome{status: 200}
	})
	sc.on("b:80", sc.eps["a:80"])
	sc.calls = nil
	if w := do(p, "POST", "/", ""); w.Code != 200 || len(sc.calls) != 2 {
		t.Errorf("refused bodiless POST: %d after %d attempts, want 200 after 2", w.Code, len(sc.calls))
	}
}

// TestTimeouts: an attempt that hangs past attempt_timeout is abandoned and
// retried elsewhere; when everything hangs the total timeout answers 504.
func TestTimeouts(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) {
		c.Balancer = BalancerRoundRobin
		c.AttemptTimeout = 20 * time.Millisecond
		c.Timeout = 200 * time.Millisecond
		c.MaxRetries = 1
	}, "hang:80", "ok:80")
	sc.on("hang:80", func(int, *http.Request) outcome { return outcome{hang: true} })
	sc.on("ok:80", always(200, 0))
	for range 4 {
		if w := do(p, "GET", "/", ""); w.Code != 200 {
			t.Fatalf("got %d, want 200 from the retry", w.Code)
		}
	}
	sc.on("ok:80", sc.eps["hang:80"])
	if w := do(p, "GET", "/", ""); w.Code != http.StatusGatewayTimeout || w.Header().Get(ProxyErrorHeader) != errTimeout {
		t.Errorf("all hanging: got %d %q, want 504", w.Code, w.Header().Get(ProxyErrorHeader))
	}
}
