package scenario

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Fault is one change to one backend replica, At after a measured window
// opens. Exactly one action is set: ErrorRate, Delay, Kill, Blackhole or
// Reset. The replica is restored RestoreAfter later, or when the window
// ends.
type Fault struct {
	At      Duration `yaml:"at" json:"at"`
	Replica int      `yaml:"replica" json:"replica"` // 0-based
	// ErrorRate makes the replica answer this share of requests with 500.
	ErrorRate *float64 `yaml:"error_rate" json:"error_rate,omitempty"`
	// Delay adds this much service time to the replica's answers.
	Delay *Duration `yaml:"delay" json:"delay,omitempty"`
	// Kill closes the replica's listener and connections: connecting to it
	// is refused.
	Kill bool `yaml:"kill" json:"kill,omitempty"`
	// Blackhole makes the replica accept connections and requests and
	// never answer, which only the paths' timeouts end.
	Blackhole bool `yaml:"blackhole" json:"blackhole,omitempty"`
	// Reset makes the replica close every connection, open or new, with a
	// TCP reset (RST) instead of answering.
	Reset bool `yaml:"reset" json:"reset,omitempty"`
	// RestoreAfter ends the fault this long after At: the replica answers
	// normally again (a killed one listens again on the same port).
	// 0 keeps the fault until the window ends.
	RestoreAfter Duration `yaml:"restore_after" json:"restore_after,omitempty"`
}

// Fault actions, as Fault.Action names them (the YAML keys).
const (
	FaultErrorRate = "error_rate"
	FaultDelay     = "delay"
	FaultKill      = "kill"
	FaultBlackhole = "blackhole"
	FaultReset     = "reset"
)

// FaultActions lists the fault actions.
var FaultActions = []string{FaultErrorRate, FaultDelay, FaultKill, FaultBlackhole, FaultReset}

// actions lists the actions f sets; a valid fault sets exactly one.
func (f Fault) actions() []string {
	var out []string
	for _, a := range []struct {
		name string
		set  bool
	}{
		{FaultErrorRate, f.ErrorRate != nil},
		{FaultDelay, f.Delay != nil},
		{FaultKill, f.Kill},
		{FaultBlackhole, f.Blackhole},
		{FaultReset, f.Reset},
	} {
		if a.set {
			out = append(out, a.name)
		}
	}
	return out
}

// Action names the fault's action (one of FaultActions); "" when f sets
// none or several, which Validate refuses.
func (f Fault) Action() string {
	if a := f.actions(); len(a) == 1 {
		return a[0]
	}
	return ""
}

// End is when the fault ends, from the window's start; ok is false when it
// lasts until the window ends.
func (f Fault) End() (end time.Duration, ok bool) {
	if f.RestoreAfter == 0 {
		return 0, false
	}
	return f.At.D() + f.RestoreAfter.D(), true
}

// Knee bounds the p99 a sweep step may show and still count as carried.
// A path's knee is the highest rate of the sweep at which its step met its
// target rate within 1%, had under 1% late sends, and kept its p99 within
// this bound; a path may stop climbing once it has clearly passed it.
// At most one of P99Max and P99Factor is set; the zero Knee means a
// P99Factor of DefaultKneeP99Factor.
type Knee struct {
	// P99Max is a fixed bound on the p99.
	P99Max Duration `yaml:"p99_max" json:"p99_max,omitempty"`
	// P99Factor bounds the p99 at this many times the path's own p99 at
	// the sweep's lowest rate.
	P99Factor float64 `yaml:"p99_factor" json:"p99_factor,omitempty"`
}

// DefaultKneeP99Factor is the knee's bound when the scenario names none:
// a p99 ten times the path's p99 at the lowest rate.
const DefaultKneeP99Factor = 10

// MaxKneeP99Factor bounds Knee.P99Factor: past a thousandfold the p99 is
// the timeout's, not the path's.
const MaxKneeP99Factor = 1000

// P99Bound is the highest p99 a step may show and count as carried, given
// the path's p99 at the sweep's lowest rate.
func (k Knee) P99Bound(lowestRateP99 time.Duration) time.Duration {
	if k.P99Max > 0 {
		return k.P99Max.D()
	}
	f := k.P99Factor
	if f == 0 {
		f = DefaultKneeP99Factor
	}
	return time.Duration(f * float64(lowestRateP99))
}

func (k Knee) validate(sweep bool) error {
	if k == (Knee{}) {
		return nil
	}
	if !sweep {
		return errAt("knee", "knee applies to a sweep; this scenario has none")
	}
	if k.P99Max != 0 && k.P99Factor != 0 {
		return errAt("knee", "knee: give p99_max or p99_factor, not both")
	}
	if k.P99Max != 0 {
		return checkDuration("knee.p99_max", "knee p99_max", k.P99Max.D(), 0, MaxTimeout, "", "MaxTimeout")
	}
	if !(k.P99Factor > 1 && k.P99Factor <= MaxKneeP99Factor) || math.IsInf(k.P99Factor, 0) {
		return errAt("knee.p99_factor", "knee p99_factor must be above 1 and at most %d (MaxKneeP99Factor), got %g", MaxKneeP99Factor, k.P99Factor)
	}
	return nil
}

// DefaultWindow is the length of an interleaved window when the scenario
// does not set one.
const DefaultWindow = time.Second

// WindowLength is the length of one measured window: Window when set;
// otherwise DefaultWindow where paths can be interleaved (a constant rate or
// a sweep, and no faults, which fire at set times of one window), else the
// whole Duration. A length of Duration or more is one window per path per
// round.
func (s *Scenario) WindowLength() time.Duration {
	d := s.Duration.D()
	switch {
	case s.Window > 0:
		return min(s.Window.D(), d)
	case !s.Interleavable():
		return d
	}
	return min(DefaultWindow, d)
}

// Interleavable reports whether the scenario's windows may be cut short and
// interleaved: faults fire at set times of one window, and a linear or sine
// rate shapes one window.
func (s *Scenario) Interleavable() bool {
	return len(s.Faults) == 0 && (len(s.Sweep) > 0 || s.Rate.Shape == ShapeConstant || s.Rate.Shape == "")
}

func (s *Scenario) checkFaults() error {
	if len(s.Faults) > MaxFaults {
		return errAt("faults", "at most %d faults (MaxFaults), got %d", MaxFaults, len(s.Faults))
	}
	win := s.WindowLength()
	for i, f := range s.Faults {
		at := fmt.Sprintf("faults[%d]", i)
		if f.At < 0 || f.At.D() >= win {
			return errAt(at+".at", "%s: at %s must fall inside the measured window (%s long)", at, f.At.D(), win)
		}
		if f.Replica < 0 || f.Replica >= s.Backend.Replicas {
			return errAt(at+".replica", "%s: replica %d does not exist (replicas 0 to %d)", at, f.Replica, s.Backend.Replicas-1)
		}
		if a := f.actions(); len(a) != 1 {
			return errAt(at, "%s: set exactly one of %s (got %d)", at, strings.Join(FaultActions, ", "), len(a))
		}
		if f.ErrorRate != nil && !(*f.ErrorRate >= 0 && *f.ErrorRate <= 1) {
			return errAt(at+".error_rate", "%s: error_rate must be within 0 and 1, got %g", at, *f.ErrorRate)
		}
		if f.Delay != nil {
			if err := checkDuration(at+".delay", at+": delay", f.Delay.D(), 0, MaxDelay, "", "MaxDelay"); err != nil {
				return err
			}
		}
		if f.RestoreAfter < 0 {
			return errAt(at+".restore_after", "%s: restore_after must not be negative, got %s", at, f.RestoreAfter.D())
		}
		if end, ok := f.End(); ok && end >= win {
			return errAt(at+".restore_after", "%s: restored at %s, past the measured window (%s long); nothing after the fault would be measured", at, end, win)
		}
		if j := s.overlapping(i); j >= 0 {
			return errAt(at+".at", "%s: replica %d is still under faults[%d] at %s; faults on one replica may not overlap (end the first with restore_after)", at, f.Replica, j, f.At.D())
		}
	}
	return nil
}

// overlapping returns the index of an earlier fault on the same replica
// that is still in force when fault i starts, or when fault i is in force
// as that one starts; -1 if none.
func (s *Scenario) overlapping(i int) int {
	f := s.Faults[i]
	for j, g := range s.Faults[:i] {
		if g.Replica == f.Replica && startsBefore(g, f) && startsBefore(f, g) {
			return j
		}
	}
	return -1
}

// startsBefore reports whether a starts before b ends.
func startsBefore(a, b Fault) bool {
	end, ok := b.End()
	return !ok || a.At.D() < end
}
