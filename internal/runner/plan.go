package runner

import (
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// rewarm is the warm-up before every window of a round but its first: the
// path stayed up and warm, but the load engine opens its connections anew.
const rewarm = 200 * time.Millisecond

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
	// MaxRounds caps the rounds a run may add after Rounds while Env.More
	// asks for them (gates not yet decided); Rounds or less adds none.
	MaxRounds int
	// Paths are measured in this order in a step's first window and
	// rotated by one place in each later one. With a baseline and AA set,
	// they end with the A/A path.
	Paths []scenario.PathSpec
	// Baseline names the path the others' overhead is measured against:
	// the scenario's first direct path ("" when it has none).
	Baseline string
	// Window is the length of one measured window. Each path's measured
	// time per round (the scenario's duration) is cut into windows of about
	// this length, interleaved with the other paths' windows, so that every
	// path's windows sit next to the baseline's in time. 0, or the duration
	// or more, gives one window per path per round.
	Window time.Duration
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
	// Slice is the window's 1-based place among its path's windows in the
	// round, of Slices; Len is its length and Warmup the load sent before
	// it, unrecorded.
	Slice, Slices int
	Len, Warmup   time.Duration
	// Order is the path's 1-based place in its round (the place of its
	// first window).
	Order int
	// N counts windows from 1; Total is the plan's number of windows.
	N, Total int
	// Opened is when the window's measurement began; it is set only in
	// the Window a Site's OpenWindow gets, so that faults fire at their
	// offsets from that moment.
	Opened time.Time
}

// NewPlan lays out the measured windows of sc, which must be valid: windows
// of sc.WindowLength(), and the A/A path beside the scenario's first direct
// path.
func NewPlan(sc *scenario.Scenario) *Plan {
	p := &Plan{Scenario: sc, Rounds: sc.Trials, Paths: sc.Paths, Window: sc.WindowLength()}
	for _, ps := range sc.Paths {
		if ps.Kind == "direct" {
			p.Baseline = ps.Name
			p.Paths = append(append([]scenario.PathSpec{}, sc.Paths...), scenario.PathSpec{Name: results.AAName, Kind: "direct"})
			break
		}
	}
	if len(sc.Sweep) == 0 {
		p.Steps = []Step{{Rate: sc.Rate}}
		return p
	}
	for i, rps := range sc.Sweep {
		p.Steps = append(p.Steps, Step{Index: i + 1, Rate: scenario.Rate{Shape: "constant", RPS: rps}})
	}
	return p
}

// slices cuts the scenario's duration into windows of about p.Window.
func (p *Plan) slices() (n int, length time.Duration) {
	d := p.Scenario.Duration.D()
	if p.Window <= 0 || p.Window >= d {
		return 1, d
	}
	n = int((d + p.Window/2) / p.Window)
	return n, d / time.Duration(n)
}

// Windows lists every measured window of the plan in the order they run:
// for each step and round, the paths' windows interleaved, each slice of the
// round in a rotated order.
func (p *Plan) Windows() []Window {
	n, length := p.slices()
	warm := p.Scenario.Warmup.D()
	total := len(p.Steps) * p.Rounds * n * len(p.Paths)
	out := make([]Window, 0, total)
	round := 0
	for _, st := range p.Steps {
		for trial := 1; trial <= p.Rounds; trial++ {
			round++
			order := map[string]int{}
			for slice := 1; slice <= n; slice++ {
				w := warm
				if slice > 1 {
					w = min(warm, rewarm)
				}
				for i, spec := range rotate(p.Paths, (trial-1)*n+slice-1) {
					if _, ok := order[spec.Name]; !ok {
						order[spec.Name] = i + 1
					}
					out = append(out, Window{
						Step: st, Path: spec, Round: round, Trial: trial,
						Slice: slice, Slices: n, Len: length, Warmup: w,
						Order: order[spec.Name], N: len(out) + 1, Total: total,
					})
				}
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
