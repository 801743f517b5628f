package runner

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// Thresholds of a sweep. A step is carried (results.Knee) when the path
// sent within carryShare of its target rate, with under carryShare of its
// sends late for want of a connection and of its requests failed, and its
// p99 within the bound. A path has clearly saturated at a step when it
// missed the target rate by more than saturatedShare, had more than that
// share of its sends late for want of a connection or of its requests
// failed, or went past the p99 bound: it is not measured at higher rates,
// so that a sweep never overloads the host for long.
//
// Only sends late because slow responses held every connection count
// against a step: they are the path's doing. Sends the load generator
// itself sent late, with a connection free, say the generator lagged (on
// a shared host, at any rate); they inflate the latency the p99 bound
// judges, and the knee's reason mentions them, but they do not by
// themselves make a path fail a step.
const (
	carryShare     = 0.01
	saturatedShare = 0.10
)

// stepFigures are what decide whether a path carried a step.
type stepFigures struct {
	// Rate is the step's target rate; Achieved the rate sent.
	Rate, Achieved float64
	Requests       int64
	// Late counts sends late for want of a connection; GenLate those the
	// load generator sent late with one free.
	Late, GenLate int64
	Errors        int64
	P99Ms         float64
}

func figuresOf(p *results.Path, rate float64) stepFigures {
	return stepFigures{Rate: rate, Achieved: p.AchievedRate, Requests: p.Requests,
		Late: p.Late.ConnWaitCount, GenLate: p.Late.LoopCount, Errors: p.Errors, P99Ms: p.LatencyMs.P99}
}

// judge says why s was not carried ("" when it was) and whether the path
// clearly saturated there. boundMs is the p99 bound; 0 when not yet known.
func judge(s stepFigures, boundMs float64) (why string, saturated bool) {
	var fails []string
	share := func(n int64) float64 { return float64(n) / float64(max(s.Requests, 1)) }
	if s.Achieved < (1-carryShare)*s.Rate {
		fails = append(fails, fmt.Sprintf("sent %s/s of %s/s (%.0f%%)", figure(s.Achieved), figure(s.Rate), 100*s.Achieved/s.Rate))
		saturated = saturated || s.Achieved < (1-saturatedShare)*s.Rate
	}
	if share(s.Late) >= carryShare {
		fails = append(fails, fmt.Sprintf("%.1f%% of sends late for want of a connection", 100*share(s.Late)))
		saturated = saturated || share(s.Late) > saturatedShare
	}
	if share(s.Errors) >= carryShare {
		fails = append(fails, fmt.Sprintf("%.1f%% errors", 100*share(s.Errors)))
		saturated = saturated || share(s.Errors) > saturatedShare
	}
	if boundMs > 0 && s.P99Ms > boundMs {
		fails = append(fails, fmt.Sprintf("p99 %s ms over the bound of %s ms", figure(s.P99Ms), figure(boundMs)))
		saturated = true
	}
	return strings.Join(fails, ", "), saturated
}

// boundMs is the p99 bound of a path whose p99 at the sweep's lowest rate
// was lowestP99Ms.
func boundMs(k scenario.Knee, lowestP99Ms float64) float64 {
	return float64(k.P99Bound(time.Duration(lowestP99Ms*float64(time.Millisecond)))) / float64(time.Millisecond)
}

// pickKnee finds a path's knee from its steps (any order): the highest
// rate up to which every step was carried, judged against the bound from
// the lowest step's p99.
func pickKnee(steps []stepFigures, k scenario.Knee) results.Knee {
	steps = slices.Clone(steps)
	slices.SortFunc(steps, func(a, b stepFigures) int { return cmp.Compare(a.Rate, b.Rate) })
	if len(steps) == 0 {
		return results.Knee{Reason: "no step was measured"}
	}
	out := results.Knee{P99BoundMs: round3(boundMs(k, steps[0].P99Ms))}
	failed := -1
	for i, s := range steps {
		if why, _ := judge(s, out.P99BoundMs); why != "" {
			failed = i
			out.Reason = fmt.Sprintf("at %s/s: %s", figure(s.Rate), why)
			break
		}
		out.Rate = s.Rate
	}
	if failed < 0 {
		out.Reason = fmt.Sprintf("carried every step measured, up to %s/s", figure(steps[len(steps)-1].Rate)) + generatorLag(steps)
		return out
	}
	var again []string
	for _, s := range steps[failed+1:] {
		if why, _ := judge(s, out.P99BoundMs); why == "" {
			again = append(again, figure(s.Rate)+"/s")
		}
	}
	if len(again) > 0 {
		out.Reason += "; carried again at " + strings.Join(again, ", ") + ", which a noisy host can do: the knee is the first failure"
	}
	out.Reason += generatorLag(steps)
	return out
}

// generatorLag is the caveat a knee carries when the load generator itself
// sent 1% or more of a step's sends late: "" when it kept up everywhere.
func generatorLag(steps []stepFigures) string {
	worst, at := 0.0, 0.0
	for _, s := range steps {
		if sh := float64(s.GenLate) / float64(max(s.Requests, 1)); sh > worst {
			worst, at = sh, s.Rate
		}
	}
	if worst < carryShare {
		return ""
	}
	return fmt.Sprintf("; the load generator itself sent up to %.1f%% of a step's sends late (at %s/s), which inflates latency but is not counted against the path", 100*worst, figure(at))
}

// climb follows a sweep row by row and stops a path from climbing past a
// step where it clearly saturated.
type climb struct {
	plan *Plan
	// lowest is the sweep's lowest rate; base the worst p99 of each path's
	// rows there, which gives the bound.
	lowest float64
	base   map[string]float64
	// stopped holds, per path, the rate it saturated at and why.
	stopped map[string]stop
}

type stop struct {
	rate float64
	why  string
}

func newClimb(plan *Plan) *climb {
	c := &climb{plan: plan, base: map[string]float64{}, stopped: map[string]stop{}}
	for i, st := range plan.Steps {
		if i == 0 || st.Rate.RPS < c.lowest {
			c.lowest = st.Rate.RPS
		}
	}
	return c
}

// sweep reports whether the plan is a sweep.
func (c *climb) sweep() bool { return len(c.plan.Steps) > 0 && c.plan.Steps[0].Index > 0 }

// skips reports whether w is left out: its path saturated at a lower rate.
func (c *climb) skips(w Window) bool {
	s, ok := c.stopped[w.Path.Name]
	return ok && w.Step.Rate.RPS > s.rate
}

// observe judges a finished row of a sweep step and stops its path from
// climbing when it clearly saturated.
func (c *climb) observe(w Window, p *results.Path, obs Observer) {
	if !c.sweep() {
		return
	}
	rate := w.Step.Rate.RPS
	if rate == c.lowest {
		c.base[p.Name] = max(c.base[p.Name], p.LatencyMs.P99)
	}
	bound := 0.0
	if b, ok := c.base[p.Name]; ok {
		bound = boundMs(c.plan.Scenario.Knee, b)
	}
	why, saturated := judge(figuresOf(p, rate), bound)
	if s, done := c.stopped[p.Name]; !saturated || (done && s.rate <= rate) {
		return
	}
	c.stopped[p.Name] = stop{rate: rate, why: why}
	if rate < c.highest() {
		obs.Line("%s saturated at %s requests/s (%s): not measured at higher rates", p.Name, figure(rate), why)
	}
}

func (c *climb) highest() float64 {
	h := 0.0
	for _, st := range c.plan.Steps {
		h = max(h, st.Rate.RPS)
	}
	return h
}

// finish sets every summary entry's knee from the merged rows of f, and
// notes which paths stopped climbing.
func (c *climb) finish(f *results.File) error {
	if !c.sweep() {
		return nil
	}
	merged, err := results.MergeTrials(f)
	if err != nil {
		return err
	}
	// A merged entry of a sweep is named PATH@RATErps; pathOf is PATH.
	pathOf := map[string]string{}
	for _, p := range f.Paths {
		pathOf[results.MergedName(p)] = p.Name
	}
	var names []string
	steps := map[string][]stepFigures{}
	for i := range merged {
		m := &merged[i]
		name := pathOf[m.Name]
		if _, ok := steps[name]; !ok {
			names = append(names, name)
		}
		steps[name] = append(steps[name], figuresOf(&m.Path, c.rateOf(m.Step)))
	}
	knees := map[string]results.Knee{}
	for _, name := range names {
		k := pickKnee(steps[name], c.plan.Scenario.Knee)
		if s, ok := c.stopped[name]; ok && s.rate < c.highest() {
			k.SkippedAbove = s.rate
			k.Reason += fmt.Sprintf("; not measured above %s/s, where it clearly saturated", figure(s.rate))
			f.Notes = append(f.Notes, fmt.Sprintf("sweep: %s was not measured above %s requests/s, where it clearly saturated (%s)", name, figure(s.rate), s.why))
		}
		knees[name] = k
	}
	for i := range f.Summary {
		s := &f.Summary[i]
		k, ok := knees[s.Name]
		if !ok {
			continue
		}
		for j := range merged {
			if m := &merged[j]; pathOf[m.Name] == s.Name && m.Step == s.Step {
				k.Why, _ = judge(figuresOf(&m.Path, c.rateOf(m.Step)), k.P99BoundMs)
				k.Carried = k.Why == ""
			}
		}
		s.Knee = &k
	}
	return nil
}

// rateOf is the target rate of sweep step i (1-based).
func (c *climb) rateOf(i int) float64 {
	if i < 1 || i > len(c.plan.Steps) {
		return 0
	}
	return c.plan.Steps[i-1].Rate.RPS
}

// figure prints a rate or a latency without trailing zeros.
func figure(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
