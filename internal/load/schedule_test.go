package load

import (
	"math"
	"testing"
	"time"
)

func TestScheduleOffsets(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  Rate
		d     time.Duration
		count int64
		// offsets of requests 0, 1, 2... that the shape fixes exactly
		want map[int64]time.Duration
	}{
		{"constant 1000/s", Rate{RPS: 1000}, time.Second, 1000,
			map[int64]time.Duration{0: 0, 1: ms, 999: 999 * ms, 1000: -1}},
		{"constant shape named", Rate{Shape: "constant", RPS: 3}, time.Second, 3,
			map[int64]time.Duration{1: 333333333, 2: 666666667, 3: -1}},
		{"constant fractional count", Rate{RPS: 2.5}, time.Second, 3,
			map[int64]time.Duration{2: 800 * ms, 3: -1}},
		// 0→100/s over 2s: H(t) = 25t², so request k leaves at √(k/25).
		{"linear from zero", Rate{Shape: "linear", RPS: 0, End: 100}, 2 * time.Second, 100,
			map[int64]time.Duration{0: 0, 1: 200 * ms, 25: time.Second, 99: secs(math.Sqrt(99.0 / 25)), 100: -1}},
		// 100→0/s over 2s: H(t) = 100t − 25t², H(2s) = 100.
		{"linear down", Rate{Shape: "linear", RPS: 100, End: 0}, 2 * time.Second, 100,
			map[int64]time.Duration{1: secs((100 - math.Sqrt(10000-100)) / 50), 75: time.Second}},
		{"linear flat is constant", Rate{Shape: "linear", RPS: 10, End: 10}, time.Second, 10,
			map[int64]time.Duration{5: 500 * ms}},
		// Over whole periods a sine sends mean × duration requests; at a
		// half period it is ahead by amplitude·period/π.
		{"sine whole periods", Rate{Shape: "sine", RPS: 100, Amplitude: 50, Period: time.Second}, 2 * time.Second, 200,
			map[int64]time.Duration{0: 0, 100: time.Second, 200: -1}},
		{"sine no amplitude", Rate{Shape: "sine", RPS: 10, Period: time.Second}, time.Second, 10,
			map[int64]time.Duration{3: 300 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSchedule(tc.rate, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Count(); got != tc.count {
				t.Errorf("Count() = %d, want %d", got, tc.count)
			}
			for k, want := range tc.want {
				got, ok := s.Offset(k)
				if want < 0 {
					if ok {
						t.Errorf("Offset(%d) = %s, want past the window", k, got)
					}
					continue
				}
				if !ok || absDur(got-want) > time.Microsecond {
					t.Errorf("Offset(%d) = %s, %v; want %s", k, got, ok, want)
				}
			}
		})
	}
}

// TestScheduleInvariants: for every shape, offsets increase, stay inside
// the window, and Count is exactly the number of offsets.
func TestScheduleInvariants(t *testing.T) {
	rates := []Rate{
		{RPS: 777},
		{Shape: "linear", RPS: 10, End: 500},
		{Shape: "linear", RPS: 500, End: 1},
		{Shape: "sine", RPS: 300, Amplitude: 300, Period: 700 * time.Millisecond},
		{Shape: "sine", RPS: 50, Amplitude: 20, Period: 3 * time.Second},
	}
	for _, r := range rates {
		d := 2500 * time.Millisecond
		s, err := NewSchedule(r, d)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		prev := time.Duration(-1)
		var n int64
		for k := int64(0); ; k++ {
			off, ok := s.Offset(k)
			if !ok {
				break
			}
			if off <= prev && k > 0 || off < 0 || off >= d {
				t.Fatalf("%+v: Offset(%d) = %s after %s", r, k, off, prev)
			}
			prev = off
			n++
		}
		if n != s.Count() {
			t.Errorf("%+v: %d offsets, Count() = %d", r, n, s.Count())
		}
		// The rate between consecutive requests matches RateAt.
		mid := s.Count() / 2
		a, _ := s.Offset(mid)
		b, _ := s.Offset(mid + 1)
		if got, want := 1/(b-a).Seconds(), s.RateAt((a+b)/2); math.Abs(got/want-1) > 0.02 {
			t.Errorf("%+v: local rate %.1f at %s, RateAt says %.1f", r, got, a, want)
		}
	}
}

// TestGridSchedule: a grouped schedule keeps every request and the window,
// puts each request at the start of the slot its own time falls in (so
// never later, and less than a slot earlier), and groups them: at 10k req/s
// in 250 µs slots, 2.5 requests per slot on average.
func TestGridSchedule(t *testing.T) {
	for _, r := range []Rate{{RPS: 10000}, {Shape: "linear", RPS: 100, End: 20000}, {RPS: 300}} {
		s, err := NewSchedule(r, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		step := 250 * time.Microsecond
		g := grid(s, step)
		if g.Count() != s.Count() || g.Duration() != s.Duration() {
			t.Fatalf("%+v: grid count %d duration %s, want %d %s", r, g.Count(), g.Duration(), s.Count(), s.Duration())
		}
		slots := map[time.Duration]int{}
		prev := time.Duration(-1)
		for k := int64(0); k < s.Count(); k++ {
			off, _ := s.Offset(k)
			got, ok := g.Offset(k)
			if !ok || got%step != 0 || got > off || off-got >= step || got < prev {
				t.Fatalf("%+v: request %d at %s, grouped at %s (ok %v, previous %s)", r, k, off, got, ok, prev)
			}
			prev = got
			slots[got]++
		}
		if _, ok := g.Offset(s.Count()); ok {
			t.Errorf("%+v: grid has a request past the schedule's last", r)
		}
		if r.RPS == 10000 && len(slots) != 4000 {
			t.Errorf("10k req/s in 250 µs slots: %d slots used, want 4000", len(slots))
		}
	}
	if s, _ := NewSchedule(Rate{RPS: 10}, time.Second); grid(s, 0) != s {
		t.Error("a zero step changed the schedule")
	}
}

func TestScheduleRejects(t *testing.T) {
	bad := []struct {
		r Rate
		d time.Duration
	}{
		{Rate{RPS: 0}, time.Second},
		{Rate{RPS: -5}, time.Second},
		{Rate{RPS: math.NaN()}, time.Second},
		{Rate{RPS: 10}, 0},
		{Rate{Shape: "linear"}, time.Second},
		{Rate{Shape: "sine", RPS: 10, Amplitude: 11, Period: time.Second}, time.Second},
		{Rate{Shape: "sine", RPS: 10, Amplitude: 5}, time.Second},
		{Rate{Shape: "square", RPS: 10}, time.Second},
	}
	for _, b := range bad {
		if _, err := NewSchedule(b.r, b.d); err == nil {
			t.Errorf("NewSchedule(%+v, %s) accepted", b.r, b.d)
		}
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
