// Package gate decides whether a result passes a team's performance rules,
// for CI: `meshbench gate RESULT --max "linkerd.p99<=5ms"` exits 3 when a
// rule does not hold.
//
// A rule is PATH.METRIC OP LIMIT. PATH is a path name from the result, or "*"
// for every path. METRIC is a latency percentile of the response time (p50,
// p90, p99, p999, p9999, max, mean), service.pNN, overhead.pNN (against
// direct), errors, error_rate (percent), late (count), achieved_rate or
// rate_ratio (achieved / target, percent). OP is <=, <, >= or >. LIMIT is
// one of:
//
//   - a number in the metric's unit, or a duration for latency metrics
//     ("1.5ms", "800us"): the merged figure is held to it as it stands;
//   - a change against the baseline result, "+10%": the figure may grow by
//     at most 10% over the baseline's;
//   - another path of the same result, with an optional change:
//     "haproxy-a.p99 +5%" or "haproxy-a.p99 +200us" (A/B). Both paths were
//     measured interleaved on the same host in the same minutes, so this
//     is the comparison a shared CI runner decides best.
//
// A comparison of a latency metric is decided from samples, not from one
// number against another: each side's window samples (or rounds, for a
// file without windows) are compared with a rank test (package stats:
// Mann-Whitney between two results, Wilcoxon signed-rank on windows paired
// in time for A/B), on the log scale for a percentage so that the effect
// is a ratio. The bound is the rule's, raised to the run's A/A noise floor
// (noise_floor_ms), since a smaller change cannot be told from noise. The
// rule then ends as regressed (the 95% interval lies beyond the bound),
// improved (it lies below minus the floor), no significant change (it lies
// within the bound), or inconclusive (too few samples, or an interval
// across the bound); only regressed and inconclusive fail, and
// inconclusive passes when the caller allows it. Counts and rates
// (errors, late, achieved_rate...) are compared as single figures.
//
// Run health comes first: a result whose load generator sent late or short
// or whose host showed steal (see CheckHealth) gets no passing latency
// decision, and an interrupted result fails the gate outright.
package gate

import (
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// Options change how outcomes count.
type Options struct {
	// AllowInconclusive lets inconclusive outcomes pass, marked WARN.
	AllowInconclusive bool
}

// Verdict is a gate's whole finding.
type Verdict struct {
	// Health is the result's run health, then the baseline's.
	Health   []Health
	Outcomes []Outcome
}

// Failed counts the outcomes that fail the gate.
func (v *Verdict) Failed() int { return Failed(v.Outcomes) }

// Decide parses rule texts and decides them, for the callers that hold
// rules as text (meshbench gate, and run with a scenario's gates). A rule
// that does not parse, or names a path the result lacks, is the user's to
// fix: the error is bad input. An interrupted result or baseline adds a
// failing outcome: a partial run cannot pass a gate.
func Decide(cur, base *results.File, texts []string, opt Options) (*Verdict, error) {
	rules := make([]Rule, 0, len(texts))
	for _, t := range texts {
		r, err := Parse(t)
		if err != nil {
			return nil, errext.AsBadInput(err)
		}
		rules = append(rules, r)
	}
	v := &Verdict{Health: []Health{CheckHealth("result", cur)}}
	if base != nil {
		v.Health = append(v.Health, CheckHealth("baseline", base))
	}
	outcomes, err := evaluate(cur, base, rules, v.Health)
	if err != nil {
		return nil, errext.AsBadInput(err)
	}
	for _, in := range []struct {
		role string
		f    *results.File
	}{{"result", cur}, {"baseline", base}} {
		if in.f != nil && in.f.Interrupted {
			outcomes = append(outcomes, Outcome{
				Rule: Rule{Text: in.role + " complete"}, Path: in.role, Decision: Missing,
				Skipped: "the run was interrupted (interrupted: true): a partial result cannot pass a gate",
			})
		}
	}
	if opt.AllowInconclusive {
		for i := range outcomes {
			if outcomes[i].Decision == Inconclusive {
				outcomes[i].Pass, outcomes[i].Allowed = true, true
			}
		}
	}
	v.Outcomes = outcomes
	return v, nil
}

// Check is Decide without options, for callers that want the outcomes only.
func Check(cur, base *results.File, texts []string) ([]Outcome, error) {
	v, err := Decide(cur, base, texts, Options{})
	if err != nil {
		return nil, err
	}
	return v.Outcomes, nil
}

// Evaluate applies parsed rules to cur (trials merged), comparing with base
// for relative rules. A rule naming a path the result lacks is an error: a
// misspelt gate must not pass silently.
func Evaluate(cur, base *results.File, rules []Rule) ([]Outcome, error) {
	health := []Health{CheckHealth("result", cur)}
	if base != nil {
		health = append(health, CheckHealth("baseline", base))
	}
	return evaluate(cur, base, rules, health)
}

func evaluate(cur, base *results.File, rules []Rule, health []Health) ([]Outcome, error) {
	curM, err := results.MergeTrials(cur)
	if err != nil {
		return nil, err
	}
	var baseM []results.Merged
	if base != nil {
		if baseM, err = results.MergeTrials(base); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	var baseNames []string
	isBase := isBaseline(cur)
	for _, p := range cur.Paths {
		if isBase(p) {
			baseNames = append(baseNames, results.MergedName(p))
		}
	}
	var out []Outcome
	for _, r := range rules {
		if r.Relative && r.Against == "" && base == nil {
			return nil, fmt.Errorf("rule %q compares with a baseline: give --baseline FILE", r.Text)
		}
		targets, err := targetsOf(r, curM)
		if err != nil {
			return nil, err
		}
		for _, p := range targets {
			if r.Path == "*" {
				if _, ok := value(p, r.Metric); !ok || p.Name == r.Against {
					continue // e.g. overhead.p99 for direct itself
				}
			}
			o := judge(r, p, cur, base, curM, baseM)
			names := []string{p.Name, r.Against}
			if strings.HasPrefix(r.Metric, "overhead.") {
				names = append(names, baseNames...)
			}
			taint(&o, health, names)
			out = append(out, o)
		}
	}
	return out, nil
}

// targetsOf are the merged paths a rule applies to.
func targetsOf(r Rule, curM []results.Merged) ([]results.Merged, error) {
	names := func() string {
		var ns []string
		for _, m := range curM {
			ns = append(ns, m.Name)
		}
		return strings.Join(ns, ", ")
	}
	if r.Against != "" {
		if _, ok := find(curM, r.Against); !ok {
			return nil, fmt.Errorf("rule %q: the result has no path %q to compare with (it has %s)", r.Text, r.Against, names())
		}
	}
	if r.Path == "*" {
		return curM, nil
	}
	if m, ok := find(curM, r.Path); ok {
		return []results.Merged{m}, nil
	}
	return nil, fmt.Errorf("rule %q: the result has no path %q (it has %s)", r.Text, r.Path, names())
}

func find(list []results.Merged, name string) (results.Merged, bool) {
	for _, m := range list {
		if m.Name == name {
			return m, true
		}
	}
	return results.Merged{}, false
}

// judge applies one rule to one path: latency comparisons from samples,
// everything else as a single figure.
func judge(r Rule, p results.Merged, cur, base *results.File, curM, baseM []results.Merged) Outcome {
	if r.Comparison() && isLatency(r.Metric) {
		if r.Against != "" {
			return compare(r, side{cur, p.Name, "the result"}, side{cur, r.Against, "the result"}, true, cur)
		}
		return compare(r, side{cur, p.Name, "the result"}, side{base, p.Name, "the baseline"}, false, cur, base)
	}
	o := Outcome{Rule: r, Path: p.Name, Limit: r.Limit}
	v, ok := value(p, r.Metric)
	if !ok {
		o.Decision, o.Skipped = Missing, fmt.Sprintf("%s has no %s", p.Name, r.Metric)
		return o
	}
	o.Value = v
	if r.Comparison() {
		list, name, role := baseM, p.Name, "baseline"
		if r.Against != "" {
			list, name, role = curM, r.Against, "the result"
		}
		bp, ok := find(list, name)
		var bv float64
		if ok {
			bv, ok = value(bp, r.Metric)
		}
		if !ok {
			o.Decision, o.Skipped = Missing, fmt.Sprintf("%s has no %s for %s", role, r.Metric, name)
			return o
		}
		o.Baseline = bv
		if r.Relative {
			o.Limit = bv * (1 + r.Limit/100)
		} else {
			o.Limit = bv + r.Limit
		}
	}
	o.Pass = holds(v, r.Op, o.Limit)
	o.Decision = Fails
	if o.Pass {
		o.Decision = Holds
	}
	return o
}

// taint keeps a latency outcome from passing when the run health of a file
// it reads has a problem touching its paths: a passing decision becomes
// inconclusive, a failing one says why beside it.
func taint(o *Outcome, health []Health, names []string) {
	if !isLatency(o.Rule.Metric) || o.Skipped != "" {
		return
	}
	var why []string
	for _, h := range health {
		if h.Role == "baseline" && (o.Rule.Against != "" || !o.Rule.Relative) {
			continue // the rule does not read the baseline
		}
		if ps := h.spoils(names...); len(ps) > 0 {
			why = append(why, h.Role+": "+strings.Join(ps, ", "))
		}
	}
	if len(why) == 0 {
		return
	}
	text := "run unhealthy (" + strings.Join(why, "; ") + ")"
	if o.Decision == Regressed || o.Decision == Fails {
		o.Why = strings.TrimPrefix(o.Why+"; "+text, "; ")
		return
	}
	// MoreSamples stays as the samples left it: more rounds can still
	// settle the statistics, and dilute a problem that was passing.
	o.Decision, o.Pass = Inconclusive, false
	o.Why = strings.TrimPrefix(o.Why+"; "+text, "; ")
}
