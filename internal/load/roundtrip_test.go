package load

import (
	"crypto/tls"
	"runtime"
	"testing"
	"time"
)

// stepper drives a loop by hand, one request at a time: the send and
// receive path of the engine without its schedule, for allocation checks
// and benchmarks of the per-request cost.
type stepper struct {
	l *loop
}

func newStepper(tb testing.TB, cfg Config) *stepper {
	tb.Helper()
	cfg.Rate, cfg.Duration = Rate{RPS: 1}, MaxDuration
	e, err := newEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := newLoop(e, 0, 1)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.close)
	tb.Cleanup(addProcs(1)) // the loop keeps its P while it waits, as in Run
	e.base = time.Now()
	e.winEnd = int64(MaxDuration)
	e.timeline = newTimeline(0, MaxDuration)
	e.phase.Store(PhaseMeasure)
	l.poll.setBase(l.now())
	l.rec = newRecorder()
	l.win.opened = true // the window is open from the start, the schedule idle
	return &stepper{l: l}
}

// roundTrip sends one request now and returns when it has its outcome.
func (s *stepper) roundTrip() {
	l := s.l
	now := l.now()
	l.enqueue(job{intended: now, measured: true}, now)
	for l.pool.inflight > 0 {
		l.wait(l.now())
		l.step(l.now())
	}
}

func (s *stepper) check(tb testing.TB, n int64) {
	tb.Helper()
	if r := s.l.rec; r.requests != n || r.errors != 0 {
		tb.Fatalf("%d requests, %d errors (%v); want %d without errors", r.requests, r.errors, r.byClass, n)
	}
}

// tlsOKServer is okServer behind TLS, on 127.0.0.1; it returns the URL and
// a Config that trusts it.
func tlsOKServer(tb testing.TB) (string, Config) {
	tb.Helper()
	srv, _ := tlsServer(tb, nil, nil) // only for its certificate
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.TLS)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go okServer(c)
		}
	}()
	return "https://" + ln.Addr().String(), Config{RootCAs: certPool(srv)}
}

// TestAllocs: sending a request and reading its response allocates
// nothing in the engine once the connection is up. The servers are in this
// process and, over plain TCP, allocate nothing per request either, so
// every allocation counted would be the engine's. Over TLS, crypto/tls
// itself allocates a 24-byte reader each time it reads a record from the
// socket (Conn.readFromUntil), once per request at each end: 2 in all.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	plain := rawServer(t, okServer)
	tlsURL, tlsCfg := tlsOKServer(t)
	for _, c := range []struct {
		name string
		cfg  Config
		max  float64
	}{
		{"http", Config{Targets: []string{plain}}, 0},
		{"https", Config{Targets: []string{tlsURL}, RootCAs: tlsCfg.RootCAs}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStepper(t, c.cfg)
			s.roundTrip() // connects
			const runs = 2000
			allocs := allocsPerRun(runs, s.roundTrip)
			s.check(t, runs+2) // allocsPerRun warms up with one more
			t.Logf("%.2f allocations per request", allocs)
			if allocs > c.max {
				t.Errorf("%.2f allocations per request, want at most %g", allocs, c.max)
			}
		})
	}
}

// allocsPerRun is testing.AllocsPerRun without its GOMAXPROCS(1): the loop
// holds a P of its own while it waits (see poller), so with one P the
// in-process server would run only when the runtime preempts the loop.
func allocsPerRun(runs int, f func()) float64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	// Whole allocations per run, as AllocsPerRun counts them: the odd
	// allocation of a runtime or test goroutine meanwhile is not the loop's.
	return float64((after.Mallocs - before.Mallocs) / uint64(runs))
}

// BenchmarkRoundTrip is the engine's cost per request on its send and
// receive path: one request at a time against an in-process server that
// allocates nothing, so ns/op is a loopback round trip with both ends in
// this process, cpu-ns/op the CPU the process spent on it (both ends,
// from getrusage), and allocs/op the engine's own.
//
//	go test -run '^$' -bench RoundTrip -benchmem ./internal/load
func BenchmarkRoundTrip(b *testing.B) {
	tlsURL, tlsCfg := tlsOKServer(b)
	for name, cfg := range map[string]Config{
		"http":  {Targets: []string{rawServer(b, okServer)}},
		"https": {Targets: []string{tlsURL}, RootCAs: tlsCfg.RootCAs},
	} {
		b.Run(name, func(b *testing.B) {
			s := newStepper(b, cfg)
			s.roundTrip()
			b.ReportAllocs()
			b.ResetTimer()
			u0, s0 := cpuTime()
			for i := 0; i < b.N; i++ {
				s.roundTrip()
			}
			u1, s1 := cpuTime()
			b.StopTimer()
			b.ReportMetric(float64(u1-u0+s1-s0)/float64(b.N), "cpu-ns/op")
			s.check(b, int64(b.N)+1)
		})
	}
}
