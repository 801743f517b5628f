package sidecar

import "math"

// Endpoint states. An endpoint is live (the balancer may pick it), ejected
// (until its backoff ends) or probing (its backoff ended and exactly one
// request, the probe, is on its way to it; nothing else is sent until the
// probe answers).
const (
	stateLive int32 = iota
	stateEjected
	stateProbing
)

// accrual is one endpoint's failure-accrual record, guarded by the
// endpoint's mutex. The state itself is atomic so that the request path can
// skip a live endpoint's lock.
type accrual struct {
	// window is a ring of the last outcomes (true: failure) for the
	// success-rate policy; n of them are filled, fails of them failed.
	window      []bool
	next, n     int
	fails       int
	consecutive int
	// penalties counts ejections since the endpoint last proved healthy;
	// it is the exponent of the backoff.
	penalties int
	// sinceAdmit counts outcomes since the last re-admission; once a full
	// judging span passed without an ejection, penalties start over.
	sinceAdmit int
	until      int64 // ns on the proxy clock; meaningful when ejected
}

func newAccrual(window int) accrual { return accrual{window: make([]bool, window)} }

// accrualPolicy decides when an endpoint is ejected and for how long.
type accrualPolicy struct {
	kind        string
	rate        float64
	window      int
	consecutive int
	// min, max: backoff bounds in ns; jitter: share of the backoff added
	// at random.
	min, max, jitter float64
	// float returns a uniform float in [0, 1); injected for tests.
	float func() float64
}

// backoff is how long the k-th ejection in a row lasts: min×2^k plus up to
// jitter×that, capped at max. Jitter keeps endpoints ejected together (a
// shared dependency failing) from all coming back in the same instant.
func (p *accrualPolicy) backoff(k int) int64 {
	base := p.min * math.Pow(2, float64(min(k, 62)))
	d := base * (1 + p.jitter*p.float())
	return int64(math.Min(d, p.max))
}

// span is how many outcomes the policy needs to judge an endpoint.
func (p *accrualPolicy) span() int {
	if p.kind == AccrualConsecutive {
		return p.consecutive
	}
	return p.window
}

// takeProbe turns an ejected endpoint whose backoff has run out into a
// probing one, and reports whether this caller won it: only that caller
// sends to the endpoint until the probe answers.
func (e *endpoint) takeProbe(now int64) bool {
	if e.state.Load() != stateEjected {
		return false
	}
	e.mu.Lock()
	due := now >= e.acc.until
	e.mu.Unlock()
	return due && e.state.CompareAndSwap(stateEjected, stateProbing)
}

// record folds one outcome into the endpoint's accrual and reports whether
// it ejected the endpoint. probe says the request was the endpoint's probe.
func (e *endpoint) record(p *accrualPolicy, ok, probe bool, now int64) bool {
	if p.kind == AccrualNone {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a := &e.acc
	if probe {
		if ok {
			// Re-admitted with a clean record: the endpoint is judged
			// afresh on the requests it gets from now on.
			clear(a.window)
			a.next, a.n, a.fails, a.consecutive, a.sinceAdmit = 0, 0, 0, 0, 0
			e.state.Store(stateLive)
			return false
		}
		e.ejectLocked(p, now)
		return true
	}
	if e.state.Load() != stateLive {
		// A request sent before the ejection came back late: the verdict
		// is already in, and the probe decides what happens next.
		return false
	}
	a.sinceAdmit++
	if ok {
		a.consecutive = 0
	} else {
		a.consecutive++
	}
	if len(a.window) > 0 {
		if a.n == len(a.window) {
			if a.window[a.next] {
				a.fails--
			}
		} else {
			a.n++
		}
		a.window[a.next] = !ok
		if !ok {
			a.fails++
		}
		a.next = (a.next + 1) % len(a.window)
	}
	eject := false
	switch p.kind {
	case AccrualSuccessRate:
		// Judge only a full window: one failure among the first few
		// requests says nothing about the endpoint.
		eject = a.n == len(a.window) && float64(a.n-a.fails) < p.rate*float64(a.n)
	case AccrualConsecutive:
		eject = a.consecutive >= p.consecutive
	}
	if eject {
		e.ejectLocked(p, now)
		return true
	}
	if a.sinceAdmit >= p.span() {
		// It stayed in for a whole judging span: forgive past ejections,
		// so the next one starts from the shortest backoff again. Until
		// then a flapping endpoint keeps its growing penalty.
		a.penalties = 0
	}
	return false
}

func (e *endpoint) ejectLocked(p *accrualPolicy, now int64) {
	a := &e.acc
	a.until = now + p.backoff(a.penalties)
	a.penalties++
	clear(a.window)
	a.next, a.n, a.fails, a.consecutive, a.sinceAdmit = 0, 0, 0, 0, 0
	e.state.Store(stateEjected)
	e.ejections.Add(1)
}

// abandon undoes a probe whose client went away before the endpoint
// answered: the endpoint stays ejected and the next request probes it.
func (e *endpoint) abandon(probe bool, now int64) {
	if !probe {
		return
	}
	e.mu.Lock()
	e.acc.until = now
	e.mu.Unlock()
	e.state.CompareAndSwap(stateProbing, stateEjected)
}
