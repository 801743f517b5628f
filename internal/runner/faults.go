package runner

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/scenario"
)

// armed is one window's faults on this host's replicas: each fires At
// after the window opened and ends RestoreAfter later (or with the window).
type armed struct {
	// mu is held by a firing fault and by disarm, so that disarm waits for
	// a fault in progress and no fault fires after it.
	mu       sync.Mutex
	disarmed bool
	timers   []*time.Timer
	errs     []error
}

// armFaults schedules faults on replicas from opened, the window's start
// (faults on a replica the site does not have are left out: none when a
// --target is measured). base is the replicas' own behaviour, which a fault
// that ends restores.
func armFaults(opened time.Time, faults []scenario.Fault, replicas []*backend.Server, base backend.Config) *armed {
	a := &armed{}
	for i, f := range faults {
		if f.Replica >= len(replicas) {
			continue
		}
		r := replicas[f.Replica]
		a.at(opened.Add(f.At.D()), func() error {
			if err := applyFault(r, f); err != nil {
				return fmt.Errorf("faults[%d] (%s on replica %d): %w", i, f.Action(), f.Replica, err)
			}
			return nil
		})
		if end, ok := f.End(); ok {
			a.at(opened.Add(end), func() error {
				if err := endFault(r, f, base); err != nil {
					return fmt.Errorf("faults[%d] (%s on replica %d) ending after %s: %w", i, f.Action(), f.Replica, f.RestoreAfter.D(), err)
				}
				return nil
			})
		}
	}
	return a
}

// at runs do at t, unless the faults were disarmed by then.
func (a *armed) at(t time.Time, do func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.timers = append(a.timers, time.AfterFunc(time.Until(t), func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.disarmed {
			return
		}
		if err := do(); err != nil {
			a.errs = append(a.errs, err)
		}
	}))
}

// disarm cancels the faults not yet fired, waits for one firing now, and
// returns what went wrong with those that fired.
func (a *armed) disarm() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.disarmed = true
	for _, t := range a.timers {
		t.Stop()
	}
	return errors.Join(a.errs...)
}

// applyFault puts replica r under fault f.
func applyFault(r *backend.Server, f scenario.Fault) error {
	switch f.Action() {
	case scenario.FaultErrorRate:
		return r.SetErrorRate(*f.ErrorRate)
	case scenario.FaultDelay:
		return r.SetDelay(f.Delay.D())
	case scenario.FaultKill:
		return r.SetMode(backend.Killed)
	case scenario.FaultBlackhole:
		return r.SetMode(backend.Blackhole)
	case scenario.FaultReset:
		return r.SetMode(backend.Reset)
	}
	return fmt.Errorf("unknown fault action %q", f.Action())
}

// endFault undoes f on r: the rate or delay goes back to base, a killed
// replica listens again on its port, a blackhole or reset serves again.
func endFault(r *backend.Server, f scenario.Fault, base backend.Config) error {
	switch f.Action() {
	case scenario.FaultErrorRate:
		return r.SetErrorRate(base.ErrorRate)
	case scenario.FaultDelay:
		return r.SetDelay(base.Delay)
	}
	return r.SetMode(backend.Serving)
}

// restoreReplicas puts every replica back as the scenario configured it,
// between windows, so that the next window meets the same backend.
func restoreReplicas(replicas []*backend.Server, base backend.Config) error {
	var errs []error
	for i, r := range replicas {
		err := errors.Join(r.SetErrorRate(base.ErrorRate), r.SetDelay(base.Delay), r.SetMode(backend.Serving))
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring replica %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
