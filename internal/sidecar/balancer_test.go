package sidecar

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestEWMAPicksFaster: of two endpoints, one answering in 5 ms and one in
// 50 ms, peak-EWMA p2c sends almost everything to the fast one once each
// has answered.
func TestEWMAPicksFaster(t *testing.T) {
	p, sc, _ := newTestProxy(t, nil, "fast:80", "slow:80")
	sc.on("fast:80", always(200, 5*time.Millisecond))
	sc.on("slow:80", always(200, 50*time.Millisecond))
	for range 200 {
		if w := do(p, "GET", "/", ""); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	// The slow endpoint may be picked while it still carries the default
	// estimate (30 ms), at most once: its first answer sets its estimate to
	// 50 ms, the peak, above anything the fast one ever shows.
	if n := sc.hits("slow:80"); n > 1 {
		t.Errorf("slow endpoint got %d of 200 requests, want at most 1", n)
	}
}

// TestEWMAAmongThree: p2c compares a random pair. The fastest endpoint wins
// every pair it is drawn in (two pairs of three), the middle one wins the
// pair without the fastest, and the slowest, once it has answered, wins none.
func TestEWMAAmongThree(t *testing.T) {
	p, sc, _ := newTestProxy(t, nil, "a:80", "b:80", "c:80")
	sc.on("a:80", always(200, 2*time.Millisecond))
	sc.on("b:80", always(200, 10*time.Millisecond))
	sc.on("c:80", always(200, 80*time.Millisecond))
	for range 300 {
		do(p, "GET", "/", "")
	}
	a, b, c := sc.hits("a:80"), sc.hits("b:80"), sc.hits("c:80")
	// a wins each pair it is drawn in (2/3 of draws); b wins the b-c pair.
	if a < 180 || c > 1 || a+b+c != 300 {
		t.Errorf("hits a=%d b=%d c=%d, want a ≳ 2/3, c ≤ 1", a, b, c)
	}
}

// TestEWMADecay: an endpoint that was slow once is tried again after its
// estimate decayed, rather than shunned forever.
func TestEWMADecay(t *testing.T) {
	decay := float64(10 * time.Second)
	e := newEndpoint("x:80", float64(30*time.Millisecond), 0, 0)
	e.observe(int64(time.Millisecond), float64(500*time.Millisecond), decay)
	if c := e.cost(int64(time.Millisecond), decay); c != float64(500*time.Millisecond) {
		t.Fatalf("peak not taken at once: cost %v", time.Duration(c))
	}
	later := int64(time.Millisecond + 30*time.Second) // three decay times
	if c := e.cost(later, decay); c > float64(30*time.Millisecond) {
		t.Errorf("after 30 s of decay the estimate is still %v", time.Duration(c))
	}
	// Outstanding requests multiply the cost.
	e.outstanding.Add(3)
	c1 := e.cost(later, decay)
	e.outstanding.Add(-3)
	if c0 := e.cost(later, decay); c1 < 3.9*c0 {
		t.Errorf("cost with 3 in flight %v, idle %v: want ×4", c1, c0)
	}
}

// TestP2CLeastOutstanding: Linkerd 1's p2c prefers the endpoint with fewer
// requests in flight.
func TestP2CLeastOutstanding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := balancer{kind: BalancerP2C, intn: r.IntN}
	busy, idle := newEndpoint("busy:80", 0, 0, 0), newEndpoint("idle:80", 0, 0, 0)
	busy.outstanding.Store(5)
	for range 50 {
		if got := b.pick([]*endpoint{busy, idle}, 0); got != idle {
			t.Fatalf("picked %s", got.addr)
		}
	}
}

// TestRoundRobin rotates over the candidates it is given.
func TestRoundRobin(t *testing.T) {
	b := balancer{kind: BalancerRoundRobin}
	eps := []*endpoint{newEndpoint("a", 0, 0, 0), newEndpoint("b", 0, 0, 0), newEndpoint("c", 0, 0, 0)}
	var got string
	for range 6 {
		got += b.pick(eps, 0).addr
	}
	if got != "abcabc" {
		t.Errorf("order %q", got)
	}
}
