package runner

import (
	"context"
	"slices"

	"github.com/meshbench/meshbench/internal/results"
)

// moreRound lets a run with gates measure beyond Plan.Rounds until its
// gates are decided: when the plan allows more rounds and Env.More, shown
// the rows measured so far (with overhead, summary and noise floor as the
// finished result will have them), asks for one, it returns ws with one
// more round of every step appended; otherwise ws as it was. Rounds keep
// their numbering across steps, so an added round is a new trial of each
// row.
func (r *run) moreRound(ctx context.Context, f *results.File, ws []Window) []Window {
	p := r.plan
	if r.env.More == nil || ctx.Err() != nil || len(ws) == 0 {
		return ws
	}
	done := ws[len(ws)-1].Trial
	if done >= p.MaxRounds {
		return ws
	}
	snap := *f
	snap.Paths = slices.Clone(f.Paths)
	results.SetOverhead(snap.Paths)
	snap.Summary, snap.NoiseFloorMs = results.SummarizePaths(&snap)
	if !r.env.More(&snap) {
		return ws
	}
	r.obs.Line("gates undecided after %d rounds: measuring round %d (at most %d)", done, done+1, p.MaxRounds)
	next := *p
	next.Rounds = done + 1
	round := ws[len(ws)-1].Round
	stepRound := map[int]int{}
	var add []Window
	for _, w := range next.Windows() {
		if w.Trial != done+1 {
			continue
		}
		if _, ok := stepRound[w.Step.Index]; !ok {
			round++
			stepRound[w.Step.Index] = round
		}
		w.Round = stepRound[w.Step.Index]
		add = append(add, w)
	}
	for i := range add {
		add[i].N, add[i].Total = len(ws)+i+1, len(ws)+len(add)
	}
	return append(ws, add...)
}
