package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkLoad checks the offered load, the windows it is measured in, and
// the size of the run they make together.
func (s *Scenario) checkLoad() error {
	if err := s.Rate.validate(); err != nil {
		return err
	}
	if err := s.checkSweep(); err != nil {
		return err
	}
	d := s.Duration.D()
	for _, err := range []error{
		checkDuration("duration", "duration", d, MinDuration, MaxDuration, "MinDuration", "MaxDuration"),
		checkDuration("warmup", "warmup", s.Warmup.D(), 0, MaxWarmup, "", "MaxWarmup"),
		checkCount("trials", "trials", s.Trials, 1, MaxTrials, "MaxTrials"),
		checkCount("connections", "connections", s.Connections, 1, MaxConnections, "MaxConnections"),
		checkDuration("timeout", "timeout", s.Timeout.D(), MinTimeout, MaxTimeout, "MinTimeout", "MaxTimeout"),
	} {
		if err != nil {
			return err
		}
	}
	if err := s.checkWindows(); err != nil {
		return err
	}
	if err := s.Knee.validate(len(s.Sweep) > 0); err != nil {
		return err
	}
	if s.Target == "" && s.Connections < s.Backend.Replicas && slices.ContainsFunc(s.Paths, func(p PathSpec) bool { return p.Kind == "direct" }) {
		return errAt("connections", "connections (%d) must be at least the backend replicas (%d): direct keeps a connection to each", s.Connections, s.Backend.Replicas)
	}
	if w := s.WindowLength(); s.lowestRate()*w.Seconds() < 1 {
		field := "duration"
		if s.Window != 0 {
			field = "window"
		}
		return errAt(field, "a %s window at %g requests/s holds %.2g requests; raise the rate or the %s so that it holds at least one", w, s.lowestRate(), s.lowestRate()*w.Seconds(), field)
	}
	return s.checkRunSize()
}

// checkSweep checks the sweep's steps, which replace the rate.
func (s *Scenario) checkSweep() error {
	if len(s.Sweep) == 0 {
		return nil
	}
	if s.Rate.Shape != ShapeConstant {
		return errAt("sweep", "sweep: its steps are constant rates; it cannot be combined with a %s rate", s.Rate.Shape)
	}
	if len(s.Sweep) > MaxSweepSteps {
		return errAt("sweep", "sweep: at most %d steps (MaxSweepSteps), got %d", MaxSweepSteps, len(s.Sweep))
	}
	for i, r := range s.Sweep {
		if !(r > 0 && r <= MaxRate) {
			return errAt(fmt.Sprintf("sweep[%d]", i), "sweep[%d]: rate must be above 0 and at most %g requests/s (MaxRate), got %g", i, MaxRate, r)
		}
	}
	return nil
}

func (r Rate) validate() error {
	inRange := func(v float64) bool { return v >= 0 && v <= MaxRate } // false for NaN
	switch r.Shape {
	case ShapeConstant:
		if !(r.RPS > 0) || !inRange(r.RPS) {
			return errAt("rate.rps", "rate must be above 0 and at most %g requests/s (MaxRate), got %g", MaxRate, r.RPS)
		}
	case ShapeLinear:
		if !inRange(r.RPS) || !inRange(r.End) || r.RPS+r.End == 0 {
			return errAt("rate", "linear rate: rps (start) and end must be 0 to %g requests/s (MaxRate) and not both 0, got %g and %g", MaxRate, r.RPS, r.End)
		}
	case ShapeSine:
		if !(r.RPS > 0) || !inRange(r.RPS) || !inRange(r.Amplitude) || r.Amplitude > r.RPS {
			return errAt("rate", "sine rate: need 0 < rps ≤ %g (MaxRate) and 0 ≤ amplitude ≤ rps, got rps %g, amplitude %g", MaxRate, r.RPS, r.Amplitude)
		}
		if err := checkDuration("rate.period", "sine rate period", r.Period.D(), MinDuration, MaxDuration, "MinDuration", "MaxDuration"); err != nil {
			return err
		}
	default:
		return errAt("rate.shape", "rate shape %q: want %s", r.Shape, strings.Join(Shapes, ", "))
	}
	if r.Shape != ShapeLinear && r.End != 0 {
		return errAt("rate.end", "rate end is for a linear rate; this one is %s", r.Shape)
	}
	if r.Shape != ShapeSine && (r.Amplitude != 0 || r.Period != 0) {
		return errAt("rate", "rate amplitude and period are for a sine rate; this one is %s", r.Shape)
	}
	return nil
}

// Mean is the mean offered rate over a window, requests/s.
func (r Rate) Mean() float64 {
	if r.Shape == ShapeLinear {
		return (r.RPS + r.End) / 2
	}
	return r.RPS
}

// Peak is the highest offered rate over a window, requests/s.
func (r Rate) Peak() float64 { return max(r.RPS+r.Amplitude, r.End) }

// PeakRate is the highest rate any window is offered, requests/s.
func (s *Scenario) PeakRate() float64 {
	if len(s.Sweep) > 0 {
		return slices.Max(s.Sweep)
	}
	return s.Rate.Peak()
}

// lowestRate is the lowest mean rate any window is measured at.
func (s *Scenario) lowestRate() float64 {
	if len(s.Sweep) > 0 {
		return slices.Min(s.Sweep)
	}
	return s.Rate.Mean()
}

// Rounds is the most rounds the run may take: MaxRounds when set, else Trials.
func (s *Scenario) Rounds() int {
	return max(s.MaxRounds, s.Trials)
}

// checkWindows checks the interleaved window length and the rounds cap.
func (s *Scenario) checkWindows() error {
	if s.Window != 0 {
		if !s.Interleavable() && s.Window < s.Duration {
			return errAt("window", "window %s: faults, and a linear or sine rate, span one whole window; leave window unset or make it the duration", s.Window.D())
		}
		if err := checkDuration("window", "window", s.Window.D(), MinDuration, s.Duration.D(), "MinDuration", "the duration"); err != nil {
			return err
		}
	}
	if s.SendBatch < BatchOff {
		return errAt("send_batch", "send_batch must be auto, off or a duration above 0, got %s", time.Duration(s.SendBatch))
	}
	if s.SendBatch > 0 {
		if err := checkDuration("send_batch", "send_batch", time.Duration(s.SendBatch), 0, MaxSendBatch, "", "MaxSendBatch"); err != nil {
			return err
		}
	}
	if s.MaxRounds != 0 {
		if s.MaxRounds < s.Trials {
			return errAt("max_rounds", "max_rounds (%d) must be at least trials (%d), or 0 for no added rounds", s.MaxRounds, s.Trials)
		}
		if s.MaxRounds > MaxTrials {
			return errAt("max_rounds", "max_rounds must be at most %d (MaxTrials), got %d", MaxTrials, s.MaxRounds)
		}
	}
	if !slices.Contains(Placements, s.Placement) {
		return errAt("placement", "placement %q: want %s", s.Placement, strings.Join(Placements, ", "))
	}
	return nil
}

// checkRunSize bounds what the whole run adds up to: its rows and its time.
func (s *Scenario) checkRunSize() error {
	steps := max(len(s.Sweep), 1)
	rows := steps * s.Rounds() * len(s.Paths)
	if rows > MaxMeasurements {
		return errAt("trials", "%d sweep steps × %d rounds × %d paths make %d measurements; at most %d (MaxMeasurements)", steps, s.Rounds(), len(s.Paths), rows, MaxMeasurements)
	}
	if w := s.WindowLength(); w > 0 {
		perPath := int((s.Duration.D() + w - 1) / w)
		if n := rows * perPath; n > MaxWindows {
			return errAt("window", "%d measurements of %d windows each make %d windows; at most %d (MaxWindows): lengthen the window", rows, perPath, n, MaxWindows)
		}
	}
	total := time.Duration(rows) * (s.Duration.D() + s.Warmup.D())
	if total > MaxRunTime {
		return errAt("duration", "the run would take %s (%d measurements of %s plus %s warm-up); at most %s (MaxRunTime)", total.Round(time.Second), rows, s.Duration.D(), s.Warmup.D(), MaxRunTime)
	}
	return nil
}
