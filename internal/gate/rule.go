package gate

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rule is one parsed condition.
type Rule struct {
	Text   string // as written, for messages
	Path   string
	Metric string
	Op     string
	// Limit is the bound: in the metric's unit for an absolute rule; the
	// allowed change for a comparison, in percent when Relative, else in
	// the metric's unit.
	Limit float64
	// Relative rules allow a change of Limit percent: against the baseline
	// result, or against the path Against.
	Relative bool
	// Against names another path of the same result to compare with (A/B,
	// "haproxy-b.p99 <= haproxy-a.p99 +5%"), measured interleaved with Path
	// in the same run. Empty for the other rules.
	Against string
}

// Comparison reports whether the rule compares two sides (a baseline
// result, or another path) rather than checking a figure against a limit.
func (r Rule) Comparison() bool { return r.Relative || r.Against != "" }

var (
	ruleRE    = regexp.MustCompile(`^\s*([A-Za-z0-9_.*@-]+?)\.((?:service\.|overhead\.)?[a-z0-9_]+)\s*(<=|>=|<|>)\s*(.+?)\s*$`)
	againstRE = regexp.MustCompile(`^([A-Za-z0-9_@-][A-Za-z0-9_.@-]*?)\.((?:service\.|overhead\.)?[a-z][a-z0-9_]*)\s*(?:([+-])\s*(\S+))?$`)
)

var latencyMetrics = map[string]bool{"p50": true, "p90": true, "p99": true, "p999": true, "p9999": true, "max": true, "mean": true}

const metricList = "p50, p90, p99, p999, p9999, max, mean, service.p99, overhead.p99, errors, error_rate, late, achieved_rate, rate_ratio"

// Parse reads one rule.
func Parse(text string) (Rule, error) {
	m := ruleRE.FindStringSubmatch(text)
	if m == nil {
		return Rule{}, fmt.Errorf("rule %q: want PATH.METRIC<=LIMIT, e.g. linkerd.p99<=5ms", text)
	}
	r := Rule{Text: strings.TrimSpace(text), Path: m[1], Metric: m[2], Op: m[3]}
	if !knownMetric(r.Metric) {
		return Rule{}, fmt.Errorf("rule %q: unknown metric %q (%s)", text, r.Metric, metricList)
	}
	limit := m[4]
	if strings.HasSuffix(limit, "%") && (strings.HasPrefix(limit, "+") || strings.HasPrefix(limit, "-")) {
		v, err := percent(limit)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %q: %w", text, err)
		}
		r.Limit, r.Relative = v, true
		return r, nil
	}
	if v, ok := amount(r.Metric, limit); ok {
		r.Limit = v
		return r, nil
	}
	if a := againstRE.FindStringSubmatch(limit); a != nil && knownMetric(a[2]) {
		return parseAgainst(r, a)
	}
	return Rule{}, fmt.Errorf("rule %q: limit %q is not a number, a duration, a +N%% change or PATH.METRIC [+N%%]", text, limit)
}

// parseAgainst completes an A/B rule: the other side's path and metric,
// and the change allowed over it.
func parseAgainst(r Rule, a []string) (Rule, error) {
	r.Against = a[1]
	switch {
	case a[2] != r.Metric:
		return Rule{}, fmt.Errorf("rule %q: compare like with like: %s against %s", r.Text, r.Metric, a[2])
	case r.Against == r.Path:
		return Rule{}, fmt.Errorf("rule %q: a path compared with itself", r.Text)
	case strings.Contains(r.Against, "*"):
		return Rule{}, fmt.Errorf("rule %q: the path compared with must be one path, not %q", r.Text, r.Against)
	}
	if a[3] == "" {
		// No change allowed: a ratio rule with a bound of 0, which the
		// noise floor then raises.
		r.Relative = isLatency(r.Metric) && !strings.HasPrefix(r.Metric, "overhead.")
		return r, nil
	}
	change := a[3] + a[4]
	if strings.HasSuffix(change, "%") {
		v, err := percent(change)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %q: %w", r.Text, err)
		}
		r.Limit, r.Relative = v, true
		return r, nil
	}
	v, ok := amount(r.Metric, a[4])
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: change %q is not a +N%% change or an amount of %s", r.Text, change, r.Metric)
	}
	if a[3] == "-" {
		v = -v
	}
	r.Limit = v
	return r, nil
}

// percent reads "+10%" or "-5%"; a fall of 100% or more is no latency.
func percent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a percentage", s)
	}
	if v <= -100 {
		return 0, fmt.Errorf("%q: a change must be above -100%%", s)
	}
	return v, nil
}

// amount reads a limit in the metric's unit: a duration (as ms) or a bare
// number for latency metrics, a number for the others.
func amount(metric, s string) (float64, bool) {
	if isLatency(metric) {
		if d, err := time.ParseDuration(s); err == nil {
			return float64(d) / float64(time.Millisecond), true
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
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

// isLatency reports whether m is a latency figure (response or service
// time, or overhead), in ms.
func isLatency(m string) bool {
	base := strings.TrimPrefix(strings.TrimPrefix(m, "service."), "overhead.")
	return latencyMetrics[base]
}

// direction is +1 when the rule bounds a figure from above (<=, <), -1
// when from below.
func (r Rule) direction() float64 {
	if r.Op == ">=" || r.Op == ">" {
		return -1
	}
	return 1
}
