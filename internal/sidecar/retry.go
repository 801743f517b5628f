package sidecar

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// budgetSlots is how many slots the budget's window is cut into: old
// requests leave the window a tenth of it at a time rather than all at once.
const budgetSlots = 10

// budget is a retry budget as linkerd2-proxy uses it (tower's TpsBudget):
// over the last window, retries may reach ratio × requests plus a reserve of
// minPerS × window seconds, which lets a quiet service retry at all. A budget
// rather than a per-request count keeps retries from multiplying the load
// on a failing backend: under a total failure storm the extra load stays
// at the ratio.
type budget struct {
	ratio, reserve float64
	slotLen        int64 // ns

	mu    sync.Mutex
	slots [budgetSlots]budgetSlot

	// granted and exhausted are for /metrics.
	granted, exhausted atomic.Uint64
}

type budgetSlot struct {
	gen                  int64 // which slot period the counts belong to
	deposits, withdrawns float64
}

func newBudget(ratio, minPerS float64, windowNs int64) *budget {
	return &budget{
		ratio:   ratio,
		reserve: minPerS * float64(windowNs) / 1e9,
		slotLen: max(windowNs/budgetSlots, 1),
	}
}

// enabled is false when the configuration allows no retries at all.
func (b *budget) enabled() bool { return b.ratio > 0 || b.reserve > 0 }

// slotLocked returns the current slot, emptied if it held an old period.
func (b *budget) slotLocked(now int64) *budgetSlot {
	gen := now / b.slotLen
	s := &b.slots[gen%budgetSlots]
	if s.gen != gen {
		*s = budgetSlot{gen: gen}
	}
	return s
}

// deposit counts one original request (retries are not requests).
func (b *budget) deposit(now int64) {
	b.mu.Lock()
	b.slotLocked(now).deposits++
	b.mu.Unlock()
}

// withdraw asks for one retry and reports whether the budget allows it.
func (b *budget) withdraw(now int64) bool {
	if !b.enabled() {
		return false
	}
	b.mu.Lock()
	cur := b.slotLocked(now)
	var deps, wds float64
	oldest := cur.gen - budgetSlots + 1
	for i := range b.slots {
		if s := &b.slots[i]; s.gen >= oldest && s.gen <= cur.gen {
			deps += s.deposits
			wds += s.withdrawns
		}
	}
	ok := wds+1 <= b.ratio*deps+b.reserve
	if ok {
		cur.withdrawns++
	}
	b.mu.Unlock()
	if ok {
		b.granted.Add(1)
	} else {
		b.exhausted.Add(1)
	}
	return ok
}

// RetryableHeader marks a request as safe to retry although its method is
// not idempotent (a Linkerd ServiceProfile's isRetryable, per request). The
// sidecar removes it before forwarding.
const RetryableHeader = "L5d-Retryable"

// retryable reports whether r may be sent again after a failed attempt:
// idempotent methods (RFC 9110, 9.2.2) and requests marked retryable.
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	v := r.Header[RetryableHeader]
	return len(v) == 1 && (v[0] == "true" || v[0] == "1")
}
