package load

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// TestPartsCoverSchedule: the parts of a schedule split n ways hold every
// request of it exactly once, at its own offset, each part in order.
func TestPartsCoverSchedule(t *testing.T) {
	for _, r := range []Rate{
		{RPS: 1000},
		{RPS: 7},
		{Shape: ShapeLinear, RPS: 0, End: 100},
		{Shape: ShapeSine, RPS: 100, Amplitude: 50, Period: 300 * time.Millisecond},
	} {
		s, err := NewSchedule(r, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2, 3, 8} {
			seen := make([]bool, s.Count())
			var total int64
			for i := 0; i < n; i++ {
				p := share(s, i, n)
				var k int64
				prev := time.Duration(-1)
				for ; ; k++ {
					off, ok := p.Offset(k)
					if !ok {
						break
					}
					j := k*int64(n) + int64(i)
					if want, _ := s.Offset(j); off != want || seen[j] {
						t.Fatalf("%+v in %d parts: part %d request %d is %s (seen %v), want request %d at %s once",
							r, n, i, k, off, seen[j], j, want)
					}
					if off < prev {
						t.Fatalf("%+v in %d parts: part %d goes back in time at request %d", r, n, i, k)
					}
					seen[j], prev = true, off
				}
				if k != p.Count() {
					t.Errorf("%+v in %d parts: part %d has %d requests, Count() says %d", r, n, i, k, p.Count())
				}
				total += k
			}
			if total != s.Count() {
				t.Errorf("%+v in %d parts: %d requests in all, want %d", r, n, total, s.Count())
			}
		}
	}
}

func TestConnShare(t *testing.T) {
	for _, c := range []struct{ conns, n int }{{64, 1}, {64, 2}, {65, 2}, {7, 3}, {2, 2}} {
		sum := 0
		for i := 0; i < c.n; i++ {
			s := connShare(c.conns, i, c.n)
			if s < c.conns/c.n || s > c.conns/c.n+1 {
				t.Errorf("%d connections over %d loops: loop %d gets %d", c.conns, c.n, i, s)
			}
			sum += s
		}
		if sum != c.conns {
			t.Errorf("%d connections over %d loops: %d given out", c.conns, c.n, sum)
		}
	}
}

func TestLoopsFor(t *testing.T) {
	cpus := usableCPUs()
	for _, c := range []struct {
		cfg  Config
		peak float64
		want int
	}{
		{Config{Connections: 64, Targets: []string{"a"}}, 2000, 1},
		{Config{Connections: 64, Targets: []string{"a"}}, loopRate, 1},
		{Config{Connections: 64, Targets: []string{"a"}}, loopRate + 1, min(2, cpus)},
		{Config{Connections: 64, Targets: []string{"a"}}, 100 * loopRate, cpus},
		{Config{Connections: 64, Targets: []string{"a"}, Loops: 3}, 10, 3},
		// each loop needs a connection per target
		{Config{Connections: 4, Targets: []string{"a", "b", "c"}, Loops: 3}, 10, 1},
	} {
		if got := loopsFor(&c.cfg, c.peak); got != c.want {
			t.Errorf("loopsFor(%d connections, %d targets, Loops %d; peak %g) = %d, want %d",
				c.cfg.Connections, len(c.cfg.Targets), c.cfg.Loops, c.peak, got, c.want)
		}
	}
}

// TestSeveralLoops runs the load on three loops against a real server: every
// request of the schedule has exactly one outcome, the histograms hold
// them all, OnMeasure runs once, and GOMAXPROCS is back where it was.
func TestSeveralLoops(t *testing.T) {
	url := rawServer(t, okServer)
	procsBefore := runtime.GOMAXPROCS(0)
	measured := make(chan struct{}, 3)
	res, err := Run(context.Background(), Config{
		Targets: []string{url}, Rate: Rate{RPS: 600}, Loops: 3, Connections: 6,
		Warmup: 100 * time.Millisecond, Duration: time.Second,
		OnMeasure: func(time.Time) { measured <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 600 || res.Sent != 600 || res.Errors != 0 {
		t.Fatalf("requests %d, sent %d, errors %v; want 600 sent without errors", res.Requests, res.Sent, res.ErrorsByClass)
	}
	if n := res.Response.TotalCount(); n != 600 {
		t.Errorf("response histogram holds %d, want 600", n)
	}
	if n := res.Service.TotalCount(); n != 600 {
		t.Errorf("service histogram holds %d, want 600", n)
	}
	if n := res.Late.All.TotalCount(); n != 600 {
		t.Errorf("lateness histogram holds %d, want 600", n)
	}
	var inTimeline int64
	for _, iv := range res.Timeline {
		inTimeline += iv.Requests
	}
	if inTimeline != 600 {
		t.Errorf("timeline holds %d requests, want 600", inTimeline)
	}
	if p := results.Summarize(res.Response); p.Min <= 0 {
		t.Errorf("response min %.3f ms", p.Min)
	}
	// OnMeasure runs in a goroutine of its own; Run may return before it.
	<-measured
	if n := len(measured); n != 0 {
		t.Errorf("OnMeasure called %d times, want once", n+1)
	}
	if p := runtime.GOMAXPROCS(0); p != procsBefore {
		t.Errorf("GOMAXPROCS %d after the run, %d before", p, procsBefore)
	}
}
