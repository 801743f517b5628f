package scenario

import "fmt"

func (s *Scenario) checkFaults() error {
	if len(s.Faults) > MaxFaults {
		return errAt("faults", "at most %d faults (MaxFaults), got %d", MaxFaults, len(s.Faults))
	}
	for i, f := range s.Faults {
		at := fmt.Sprintf("faults[%d]", i)
		if f.At < 0 || f.At >= s.Duration {
			return errAt(at+".at", "faults[%d]: at %s must fall inside the measured window (duration %s)", i, f.At.D(), s.Duration.D())
		}
		if f.Replica < 0 || f.Replica >= s.Backend.Replicas {
			return errAt(at+".replica", "faults[%d]: replica %d does not exist (replicas 0 to %d)", i, f.Replica, s.Backend.Replicas-1)
		}
		n := 0
		if f.ErrorRate != nil {
			n++
			if !(*f.ErrorRate >= 0 && *f.ErrorRate <= 1) {
				return errAt(at+".error_rate", "faults[%d]: error_rate must be within 0 and 1", i)
			}
		}
		if f.Delay != nil {
			n++
			if err := checkDuration(at+".delay", at+": delay", f.Delay.D(), 0, MaxDelay, "", "MaxDelay"); err != nil {
				return err
			}
		}
		if f.Kill {
			n++
		}
		if n != 1 {
			return errAt(at, "faults[%d]: set exactly one of error_rate, delay and kill", i)
		}
	}
	return nil
}
