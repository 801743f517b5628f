package sidecar

import (
	"math"
	"sync"
	"sync/atomic"
)

// endpoint is one upstream as the balancer, the failure accrual and the
// metrics see it. Its mutex guards the latency estimate and the accrual
// state; the counters are atomic so that /metrics never waits on requests.
type endpoint struct {
	addr string
	idx  int // position in the proxy's list, for the tried-set of retries

	outstanding atomic.Int64
	// state is stateLive, stateEjected or stateProbing (accrual.go).
	state atomic.Int32

	mu sync.Mutex
	// rtt is the peak-EWMA latency estimate in ns, as of rttAt (ns on the
	// proxy's clock).
	rtt   float64
	rttAt int64
	acc   accrual

	requests, failures, ejections atomic.Uint64
}

func newEndpoint(addr string, defaultRTT float64, now int64, window int) *endpoint {
	return &endpoint{addr: addr, rtt: defaultRTT, rttAt: now, acc: newAccrual(window)}
}

// decayLocked moves the estimate toward 0 for the time that passed since it
// was last touched, as tower's PeakEwma (used by linkerd2-proxy) does on
// every cost read: an endpoint nobody has tried for a while looks cheap
// again, so a slow spell is not held against it forever.
func (e *endpoint) decayLocked(now int64, decay float64) {
	e.observeLocked(now, 0, decay)
}

// observeLocked folds one latency into the estimate. A latency above the
// estimate replaces it at once (the "peak" in peak-EWMA: a slow endpoint is
// penalised immediately); a lower one is averaged in with a weight that
// grows with the time since the last update.
func (e *endpoint) observeLocked(now int64, rtt float64, decay float64) {
	if rtt > e.rtt {
		e.rtt = rtt
	} else if elapsed := now - e.rttAt; elapsed > 0 {
		w := math.Exp(-float64(elapsed) / decay)
		e.rtt = e.rtt*w + rtt*(1-w)
	}
	if now > e.rttAt {
		e.rttAt = now
	}
}

// observe records a finished attempt's latency.
func (e *endpoint) observe(now int64, rtt float64, decay float64) {
	e.mu.Lock()
	e.observeLocked(now, rtt, decay)
	e.mu.Unlock()
}

// cost is tower's PeakEwma cost: the decayed estimate times the requests in
// flight plus one, so that of two equally fast endpoints the idler one wins.
func (e *endpoint) cost(now int64, decay float64) float64 {
	e.mu.Lock()
	e.decayLocked(now, decay)
	est := e.rtt
	e.mu.Unlock()
	return est * float64(e.outstanding.Load()+1)
}

// balancer picks one endpoint among candidates that failure accrual has
// already declared available. It is a concrete type with a switch rather
// than an interface so that the candidate slice, which lives on the
// caller's stack, does not escape to the heap on every request.
type balancer struct {
	kind  string
	decay float64 // ns
	// intn returns a uniform int in [0, n); injected so that tests are
	// deterministic.
	intn func(n int) int
	rr   atomic.Uint64
}

func (b *balancer) pick(cands []*endpoint, now int64) *endpoint {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	if b.kind == BalancerRoundRobin {
		return cands[int((b.rr.Add(1)-1)%uint64(len(cands)))]
	}
	// Power of two choices (Mitzenmacher): two distinct endpoints at
	// random, keep the cheaper. Nearly as good as scanning for the best,
	// without herding every request onto the one endpoint that looked
	// best a moment ago.
	n := len(cands)
	i := b.intn(n)
	j := b.intn(n - 1)
	if j >= i {
		j++
	}
	a, c := cands[i], cands[j]
	if b.kind == BalancerP2C {
		if c.outstanding.Load() < a.outstanding.Load() {
			return c
		}
		return a
	}
	if c.cost(now, b.decay) < a.cost(now, b.decay) {
		return c
	}
	return a
}
