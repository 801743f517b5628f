package load

import (
	"math"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestScheduleMatchesVegeta checks the schedules against vegeta's pacers,
// which SPEC.md names as the definition of the rate shapes: the same rate
// at every instant, and request k due exactly where vegeta's cumulative
// hit count reaches k.
//
// vegeta's pacers answer "how long until the next hit, given elapsed time
// and hits sent", and count a hit due once the cumulative count reaches its
// 1-based number: after k hits, the next is due when hits(t) ≥ k+1. Ours
// are 0-based (request 0 leaves at the window start), so our request k is
// vegeta's hit after k−1 sent.
func TestScheduleMatchesVegeta(t *testing.T) {
	const d = 10 * time.Second
	per := func(rps float64) vegeta.Rate { return vegeta.Rate{Freq: int(rps), Per: time.Second} }
	cases := []struct {
		name  string
		rate  Rate
		pacer vegeta.Pacer
	}{
		{"constant", Rate{Shape: "constant", RPS: 1000}, vegeta.ConstantPacer{Freq: 1000, Per: time.Second}},
		{"linear", Rate{Shape: "linear", RPS: 200, End: 3000},
			vegeta.LinearPacer{StartAt: per(200), Slope: (3000 - 200) / d.Seconds()}},
		{"sine", Rate{Shape: "sine", RPS: 500, Amplitude: 300, Period: 4 * time.Second},
			vegeta.SinePacer{Period: 4 * time.Second, Mean: per(500), Amp: per(300), StartAt: vegeta.MeanUp}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSchedule(c.rate, d)
			if err != nil {
				t.Fatal(err)
			}
			for at := time.Duration(0); at < d; at += 250 * time.Millisecond {
				if ours, theirs := s.RateAt(at), c.pacer.Rate(at); math.Abs(ours-theirs) > 1e-6*theirs+1e-9 {
					t.Fatalf("rate at %s: ours %.6f, vegeta %.6f", at, ours, theirs)
				}
			}
			const eps = 2 * time.Microsecond
			checked := 0
			for k := int64(2); k < s.Count(); k += 97 {
				off, ok := s.Offset(k)
				if !ok {
					t.Fatalf("request %d of %d has no offset", k, s.Count())
				}
				hit := uint64(k - 1)
				if w, _ := c.pacer.Pace(off+eps, hit); w > 0 {
					t.Fatalf("request %d at %s: vegeta says wait %s just after it", k, off, w)
				}
				if w, _ := c.pacer.Pace(off-eps, hit); w <= 0 {
					t.Fatalf("request %d at %s: vegeta says it was already due just before", k, off)
				}
				checked++
			}
			if checked < 20 {
				t.Fatalf("only %d requests checked", checked)
			}
		})
	}
}
