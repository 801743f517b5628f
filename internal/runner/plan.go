package runner

import (
	"github.com/meshbench/meshbench/internal/scenario"
)

// Plan is what one run measures: steps × rounds × paths in rotated order,
// with the scenario's faults armed in every measured window. It is built
// from a validated scenario by NewPlan and never changed by Run.
type Plan struct {
	// Scenario is the scenario as run, flags applied; the result file keeps it.
	Scenario *scenario.Scenario
	// Steps are the offered loads measured one after another: one step at
	// the scenario's rate, or one per rate of a sweep.
	Steps []Step
	// Rounds is how many times each step measures every path.
	Rounds int
	// Paths are measured in this order in a step's first round and rotated
	// by one place in each later round.
	Paths []scenario.PathSpec
}

// Step is one offered load.
type Step struct {
	// Index is the 1-based sweep step, 0 when the run has no sweep.
	Index int
	Rate  scenario.Rate
}

// Window is one measured window of a plan: which path, at which step, in
// which round.
type Window struct {
	Step Step
	Path scenario.PathSpec
	// Round counts rounds across steps and is what a result row calls its
	// trial, so that "the same round" never mixes two rates. Trial is the
	// round within its step (1-based); it decides the rotation.
	Round, Trial int
	// Order is the path's 1-based place in its round.
	Order int
	// N counts windows from 1; Total is the plan's number of windows.
	N, Total int
}

// NewPlan lays out the measured windows of sc, which must be valid.
func NewPlan(sc *scenario.Scenario) *Plan {
	p := &Plan{Scenario: sc, Rounds: sc.Trials, Paths: sc.Paths}
	if len(sc.Sweep) == 0 {
		p.Steps = []Step{{Rate: sc.Rate}}
		return p
	}
	for i, rps := range sc.Sweep {
		p.Steps = append(p.Steps, Step{Index: i + 1, Rate: scenario.Rate{Shape: "constant", RPS: rps}})
	}
	return p
}

// Windows lists every measured window of the plan in the order they run.
func (p *Plan) Windows() []Window {
	total := len(p.Steps) * p.Rounds * len(p.Paths)
	out := make([]Window, 0, total)
	round := 0
	for _, st := range p.Steps {
		for trial := 1; trial <= p.Rounds; trial++ {
			round++
			for i, spec := range rotate(p.Paths, trial-1) {
				out = append(out, Window{
					Step: st, Path: spec, Round: round, Trial: trial,
					Order: i + 1, N: len(out) + 1, Total: total,
				})
			}
		}
	}
	return out
}

// rotate returns the paths starting at position k, so that in round k+1 each
// path moves one place earlier and drift on a noisy host spreads over all.
func rotate(ps []scenario.PathSpec, k int) []scenario.PathSpec {
	if len(ps) == 0 {
		return nil
	}
	k %= len(ps)
	out := append([]scenario.PathSpec{}, ps[k:]...)
	return append(out, ps[:k]...)
}
