package load

import (
	"fmt"
	"math"
	"time"
)

// Shape names how a Rate varies over its window.
type Shape string

// The rate shapes; the empty Shape means ShapeConstant.
const (
	ShapeConstant Shape = "constant"
	ShapeLinear   Shape = "linear"
	ShapeSine     Shape = "sine"
)

// Rate is the load's intended rate over a window. Which fields count
// depends on the shape:
//   - constant: RPS requests/s throughout;
//   - linear: from RPS at the window start to End at its end;
//   - sine: RPS + Amplitude·sin(2πt/Period), starting at the mean and rising.
type Rate struct {
	Shape     Shape
	RPS       float64
	End       float64
	Amplitude float64
	Period    time.Duration
}

// Check reports whether r describes a rate NewSchedule can build, with an
// error that names the offending field and value. It is what NewSchedule
// checks, exported so that input validation can apply the same rule before
// anything starts.
func (r Rate) Check() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	switch r.Shape {
	case "", ShapeConstant:
		if bad(r.RPS) || r.RPS == 0 {
			return fmt.Errorf("rate %g: must be a positive number of requests/s", r.RPS)
		}
	case ShapeLinear:
		if bad(r.RPS) || bad(r.End) || (r.RPS == 0 && r.End == 0) {
			return fmt.Errorf("linear rate %g→%g: both ends must be ≥ 0 and one > 0", r.RPS, r.End)
		}
	case ShapeSine:
		switch {
		case bad(r.RPS) || r.RPS == 0:
			return fmt.Errorf("sine rate %g: the mean must be positive", r.RPS)
		case bad(r.Amplitude) || r.Amplitude > r.RPS:
			return fmt.Errorf("sine amplitude %g: must be between 0 and the mean rate %g", r.Amplitude, r.RPS)
		case r.Period <= 0:
			return fmt.Errorf("sine period %s: must be positive", r.Period)
		}
	default:
		return fmt.Errorf("rate shape %q: want constant, linear or sine", r.Shape)
	}
	if peak := max(r.RPS+r.Amplitude, r.End); peak > MaxRate {
		return fmt.Errorf("rate %g requests/s: above the load engine's bound of %g", peak, float64(MaxRate))
	}
	return nil
}

// Schedule fixes, before anything is sent, when each request of a window is
// meant to leave. It is a pure function: the same k always gives the same
// offset, and nothing in it reads the clock.
type Schedule interface {
	// Offset is the intended send time of request k (0-based) from the
	// window start. ok is false once request k would fall at or past the
	// end of the window.
	Offset(k int64) (off time.Duration, ok bool)
	// Count is the number of requests in the window.
	Count() int64
	// RateAt is the intended rate, in requests/s, at offset t.
	RateAt(t time.Duration) float64
	// Duration is the window length.
	Duration() time.Duration
}

// NewSchedule builds the schedule of rate r over a window of length d.
//
// Every shape is defined by its cumulative request count H(t), the number
// of requests meant to have left by time t; request k leaves at the t where
// H(t) = k, so request 0 leaves at the window start. This is the same
// definition as the pacers of vegeta's lib (hits(t)), inverted so that the
// engine asks "when does request k leave" instead of "how long to wait".
//
//   - constant: H(t) = rps·t
//   - linear:   the rate ramps from rps at 0 to end at d
//   - sine:     rate(t) = rps + amplitude·sin(2πt/period), starting at the
//     mean and rising (vegeta's MeanUp); amplitude may not exceed rps.
func NewSchedule(r Rate, d time.Duration) (Schedule, error) {
	if d <= 0 {
		return nil, fmt.Errorf("duration %s: must be positive", d)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	switch {
	case r.Shape == ShapeLinear && r.RPS != r.End:
		return &linear{a: r.RPS, b: r.End, d: d}, nil
	case r.Shape == ShapeSine && r.Amplitude != 0:
		return &sine{m: r.RPS, a: r.Amplitude, p: r.Period.Seconds(), d: d}, nil
	default:
		return &constant{rps: r.RPS, d: d}, nil
	}
}

// count is the number of k ≥ 0 with offset(k) < d, given H(d).
func count(hd float64) int64 {
	// A k with H⁻¹(k) < d exists for every integer k < H(d); the epsilon
	// keeps float noise at an exact integer from adding a request at d.
	return int64(math.Ceil(hd - 1e-9))
}

func secs(t float64) time.Duration { return time.Duration(math.Round(t * 1e9)) }

type constant struct {
	rps float64
	d   time.Duration
}

func (c *constant) Offset(k int64) (time.Duration, bool) {
	if k < 0 || k >= c.Count() {
		return 0, false
	}
	return secs(float64(k) / c.rps), true
}
func (c *constant) Count() int64                 { return count(c.rps * c.d.Seconds()) }
func (c *constant) RateAt(time.Duration) float64 { return c.rps }
func (c *constant) Duration() time.Duration      { return c.d }

// linear ramps from a to b requests/s: H(t) = a·t + s·t²/2 with s = (b-a)/d.
type linear struct {
	a, b float64
	d    time.Duration
}

func (l *linear) slope() float64 { return (l.b - l.a) / l.d.Seconds() }
func (l *linear) h(t float64) float64 {
	return l.a*t + l.slope()*t*t/2
}
func (l *linear) Offset(k int64) (time.Duration, bool) {
	if k < 0 || k >= l.Count() {
		return 0, false
	}
	if k == 0 {
		return 0, true
	}
	// Root of s/2·t² + a·t - k = 0, in the form that stays exact when s is
	// tiny or negative: t = 2k / (a + √(a² + 2sk)).
	disc := l.a*l.a + 2*l.slope()*float64(k)
	return secs(2 * float64(k) / (l.a + math.Sqrt(math.Max(disc, 0)))), true
}
func (l *linear) Count() int64 { return count(l.h(l.d.Seconds())) }
func (l *linear) RateAt(t time.Duration) float64 {
	return l.a + l.slope()*t.Seconds()
}
func (l *linear) Duration() time.Duration { return l.d }

// sine: rate(t) = m + a·sin(2πt/p), so H(t) = m·t + a·p/(2π)·(1 - cos(2πt/p)).
type sine struct {
	m, a, p float64
	d       time.Duration
}

func (s *sine) h(t float64) float64 {
	w := 2 * math.Pi / s.p
	return s.m*t + s.a/w*(1-math.Cos(w*t))
}
func (s *sine) rate(t float64) float64 { return s.m + s.a*math.Sin(2*math.Pi*t/s.p) }
func (s *sine) Offset(k int64) (time.Duration, bool) {
	if k < 0 || k >= s.Count() {
		return 0, false
	}
	// H is increasing and m·t ≤ H(t) ≤ m·t + a·p/π, which brackets the root;
	// Newton steps that leave the bracket fall back to bisection.
	kf := float64(k)
	lo := math.Max(0, (kf-s.a*s.p/math.Pi)/s.m)
	hi := kf / s.m
	t := (lo + hi) / 2
	for i := 0; i < 100 && hi-lo > 1e-10; i++ {
		f := s.h(t) - kf
		if math.Abs(f) < 1e-9 {
			break
		}
		if f > 0 {
			hi = t
		} else {
			lo = t
		}
		next := t - f/s.rate(t)
		if r := s.rate(t); r <= 0 || next <= lo || next >= hi {
			next = (lo + hi) / 2
		}
		t = next
	}
	return secs(t), true
}
func (s *sine) Count() int64                   { return count(s.h(s.d.Seconds())) }
func (s *sine) RateAt(t time.Duration) float64 { return s.rate(t.Seconds()) }
func (s *sine) Duration() time.Duration        { return s.d }

// MeanRate is a schedule's requests per second over its window.
func MeanRate(s Schedule) float64 { return float64(s.Count()) / s.Duration().Seconds() }

// gridded is a schedule whose requests leave in groups: each one at the
// start of the step-long slot of the window its offset falls in. It is the
// schedule that Config.SendBatch sends; the intended send time of each
// request, from which its response time counts, is its slot's start.
type gridded struct {
	Schedule
	step time.Duration
}

// grid is s with its requests grouped into slots of step; a step of 0
// leaves s as it is.
func grid(s Schedule, step time.Duration) Schedule {
	if s == nil || step <= 0 {
		return s
	}
	return gridded{s, step}
}

func (g gridded) Offset(k int64) (time.Duration, bool) {
	off, ok := g.Schedule.Offset(k)
	return off - off%g.step, ok
}
