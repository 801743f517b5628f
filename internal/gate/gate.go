// Package gate decides whether a result passes a team's performance rules,
// for CI: `meshbench gate RESULT --max "linkerd.overhead.p99<=2ms"` exits 3
// when a rule does not hold.
//
// A rule is PATH.METRIC OP LIMIT. PATH is a path name from the result, or "*"
// for every path. METRIC is a latency percentile of the response time (p50,
// p90, p99, p999, p9999, max, mean), service.pNN, overhead.pNN (against
// direct), errors, error_rate (percent), late (count), achieved_rate or
// rate_ratio (achieved / target, percent). OP is <=, <, >= or >. LIMIT is a
// number in the metric's unit, a duration for latency metrics ("1.5ms",
// "800us"), or a change against the baseline result: "+10%" allows the value
// to grow by at most 10% over the baseline's.
package gate

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// Rule is one parsed condition.
type Rule struct {
	Text   string // as written, for messages
	Path   string
	Metric string
	Op     string
	Limit  float64
	// Relative rules compare with the baseline: the value may differ from the
	// baseline's by at most Limit percent (in the direction of Op).
	Relative bool
}

// Outcome is a rule applied to one path.
type Outcome struct {
	Rule     Rule
	Path     string
	Value    float64
	Limit    float64 // the absolute limit used (baseline-derived for relative rules)
	Baseline float64 // the baseline's value, for relative rules
	Pass     bool
	// Skipped says why the rule could not be judged (e.g. no baseline value);
	// a skipped rule fails, so that a gate never passes on missing data.
	Skipped string
}

var ruleRE = regexp.MustCompile(`^\s*([A-Za-z0-9_.*@-]+?)\.((?:service\.|overhead\.)?[a-z0-9_]+)\s*(<=|>=|<|>)\s*(\S+)\s*$`)

var latencyMetrics = map[string]bool{"p50": true, "p90": true, "p99": true, "p999": true, "p9999": true, "max": true, "mean": true}

// Parse reads one rule.
func Parse(text string) (Rule, error) {
	m := ruleRE.FindStringSubmatch(text)
	if m == nil {
		return Rule{}, fmt.Errorf("rule %q: want PATH.METRIC<=LIMIT, e.g. linkerd.p99<=5ms", text)
	}
	r := Rule{Text: strings.TrimSpace(text), Path: m[1], Metric: m[2], Op: m[3]}
	if !knownMetric(r.Metric) {
		return Rule{}, fmt.Errorf("rule %q: unknown metric %q (p50, p90, p99, p999, p9999, max, mean, service.p99, overhead.p99, errors, error_rate, late, achieved_rate, rate_ratio)", text, r.Metric)
	}
	limit := m[4]
	if strings.HasSuffix(limit, "%") && (strings.HasPrefix(limit, "+") || strings.HasPrefix(limit, "-")) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(limit, "%"), 64)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %q: %q is not a percentage", text, limit)
		}
		r.Limit, r.Relative = v, true
		return r, nil
	}
	if isLatency(r.Metric) {
		if d, err := time.ParseDuration(limit); err == nil {
			r.Limit = float64(d) / float64(time.Millisecond)
			return r, nil
		}
	}
	v, err := strconv.ParseFloat(limit, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Rule{}, fmt.Errorf("rule %q: limit %q is not a number, a duration or a +N%% change", text, limit)
	}
	r.Limit = v
	return r, nil
}

func knownMetric(m string) bool {
	base := strings.TrimPrefix(strings.TrimPrefix(m, "service."), "overhead.")
	if base != m {
		return latencyMetrics[base] && !(strings.HasPrefix(m, "overhead.") && (base == "max" || base == "mean" || base == "p9999"))
	}
	switch m {
	case "errors", "error_rate", "late", "achieved_rate", "rate_ratio":
		return true
	}
	return latencyMetrics[m]
}

func isLatency(m string) bool {
	base := strings.TrimPrefix(strings.TrimPrefix(m, "service."), "overhead.")
	return latencyMetrics[base]
}

// value reads metric from a merged path; ok is false when the file has no
// such figure (no direct path for overhead, no samples).
func value(p results.Merged, metric string) (float64, bool) {
	pct := func(x results.Percentiles, k string) (float64, bool) {
		if x.Count == 0 {
			return 0, false
		}
		switch k {
		case "p50":
			return x.P50, true
		case "p90":
			return x.P90, true
		case "p99":
			return x.P99, true
		case "p999":
			return x.P999, true
		case "p9999":
			return x.P9999, true
		case "max":
			return x.Max, true
		case "mean":
			return x.Mean, true
		}
		return 0, false
	}
	switch {
	case strings.HasPrefix(metric, "service."):
		return pct(p.ServiceTimeMs, strings.TrimPrefix(metric, "service."))
	case strings.HasPrefix(metric, "overhead."):
		if p.OverheadMs == nil {
			return 0, false
		}
		switch strings.TrimPrefix(metric, "overhead.") {
		case "p50":
			return p.OverheadMs.P50, true
		case "p90":
			return p.OverheadMs.P90, true
		case "p99":
			return p.OverheadMs.P99, true
		case "p999":
			return p.OverheadMs.P999, true
		}
		return 0, false
	}
	switch metric {
	case "errors":
		return float64(p.Errors), true
	case "error_rate":
		if p.Requests == 0 {
			return 0, false
		}
		return 100 * float64(p.Errors) / float64(p.Requests), true
	case "late":
		return float64(p.Late.Count), true
	case "achieved_rate":
		return p.AchievedRate, p.DurationS > 0
	case "rate_ratio":
		if p.TargetRate == 0 {
			return 0, false
		}
		return 100 * p.AchievedRate / p.TargetRate, true
	}
	return pct(p.LatencyMs, metric)
}

func holds(v float64, op string, limit float64) bool {
	switch op {
	case "<=":
		return v <= limit
	case "<":
		return v < limit
	case ">=":
		return v >= limit
	case ">":
		return v > limit
	}
	return false
}

// Check parses rule texts and evaluates them, for the callers that hold
// rules as text (meshbench gate, and run with a scenario's gates). A rule
// that does not parse, or names a path the result lacks, is the user's to
// fix: the error is bad input.
func Check(cur, base *results.File, texts []string) ([]Outcome, error) {
	rules := make([]Rule, 0, len(texts))
	for _, t := range texts {
		r, err := Parse(t)
		if err != nil {
			return nil, errext.AsBadInput(err)
		}
		rules = append(rules, r)
	}
	outcomes, err := Evaluate(cur, base, rules)
	if err != nil {
		return nil, errext.AsBadInput(err)
	}
	return outcomes, nil
}

// Evaluate applies rules to cur (trials merged), comparing with base for
// relative rules. A rule naming a path the result lacks is an error: a
// misspelt gate must not pass silently.
func Evaluate(cur, base *results.File, rules []Rule) ([]Outcome, error) {
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
	find := func(list []results.Merged, name string) (results.Merged, bool) {
		for _, m := range list {
			if m.Name == name {
				return m, true
			}
		}
		return results.Merged{}, false
	}
	var out []Outcome
	for _, r := range rules {
		if r.Relative && base == nil {
			return nil, fmt.Errorf("rule %q compares with a baseline: give --baseline FILE", r.Text)
		}
		var targets []results.Merged
		if r.Path == "*" {
			targets = curM
		} else if m, ok := find(curM, r.Path); ok {
			targets = []results.Merged{m}
		} else {
			var names []string
			for _, m := range curM {
				names = append(names, m.Name)
			}
			return nil, fmt.Errorf("rule %q: the result has no path %q (it has %s)", r.Text, r.Path, strings.Join(names, ", "))
		}
		for _, p := range targets {
			o := Outcome{Rule: r, Path: p.Name, Limit: r.Limit}
			v, ok := value(p, r.Metric)
			if !ok {
				if r.Path == "*" {
					continue // e.g. overhead.p99 for direct itself
				}
				o.Skipped = fmt.Sprintf("%s has no %s", p.Name, r.Metric)
				out = append(out, o)
				continue
			}
			o.Value = v
			if r.Relative {
				bp, ok := find(baseM, p.Name)
				var bv float64
				if ok {
					bv, ok = value(bp, r.Metric)
				}
				if !ok {
					o.Skipped = fmt.Sprintf("baseline has no %s for %s", r.Metric, p.Name)
					out = append(out, o)
					continue
				}
				o.Baseline = bv
				o.Limit = bv * (1 + r.Limit/100)
			}
			o.Pass = holds(v, r.Op, o.Limit)
			out = append(out, o)
		}
	}
	return out, nil
}

// Failed counts outcomes that did not pass.
func Failed(outcomes []Outcome) int {
	n := 0
	for _, o := range outcomes {
		if !o.Pass {
			n++
		}
	}
	return n
}

// String is the outcome as one line.
func (o Outcome) String() string {
	status := "PASS"
	if !o.Pass {
		status = "FAIL"
	}
	if o.Skipped != "" {
		return fmt.Sprintf("%s  %-28s %s: %s", status, o.Rule.Text, o.Path, o.Skipped)
	}
	unit := ""
	if isLatency(o.Rule.Metric) {
		unit = " ms"
	}
	s := fmt.Sprintf("%s  %-28s %s.%s = %.3f%s (limit %s %.3f%s", status, o.Rule.Text, o.Path, o.Rule.Metric, o.Value, unit, o.Rule.Op, o.Limit, unit)
	if o.Rule.Relative {
		s += fmt.Sprintf(", baseline %.3f%s %+g%%", o.Baseline, unit, o.Rule.Limit)
	}
	return s + ")"
}
