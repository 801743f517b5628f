package gate

import (
	"fmt"
	"strings"
)

// Decision is how a rule ended for one path.
type Decision string

// Decisions. A comparison (a baseline, or A/B) of a latency metric ends as
// one of the first four; a rule with an absolute limit, and a comparison
// of a count or rate, holds or fails.
const (
	Regressed    Decision = "regressed"             // worse than the bound, with 95% confidence
	Improved     Decision = "improved"              // better, beyond the noise floor
	NoChange     Decision = "no significant change" // within the bound, with 95% confidence
	Inconclusive Decision = "inconclusive"          // too few samples, an interval across the bound, or an unhealthy run
	Holds        Decision = "holds"
	Fails        Decision = "fails"
	// Missing: the figure the rule needs is not in the result.
	Missing Decision = "missing"
)

// Outcome is a rule applied to one path.
type Outcome struct {
	Rule     Rule
	Path     string
	Decision Decision
	// Pass says whether the outcome lets the gate pass: holds, improved,
	// no significant change, and inconclusive when allowed.
	Pass bool
	// Value, Limit and Baseline are a single-figure check: the figure, the
	// absolute limit it was held to (derived from the other side for a
	// comparison) and the other side's figure.
	Value, Limit, Baseline float64
	// Effect is a comparison decided from samples; nil for a single-figure
	// check.
	Effect *Effect
	// Why says what made the outcome inconclusive, or what a reader must
	// know beside it (the run was unhealthy).
	Why string
	// MoreSamples says that more rounds could decide an inconclusive
	// outcome (too few samples, or an interval too wide).
	MoreSamples bool
	// Allowed marks an inconclusive outcome let through by
	// --allow-inconclusive.
	Allowed bool
	// Skipped says why the rule could not be judged (the figure is
	// missing); a skipped rule fails, so that a gate never passes on
	// missing data.
	Skipped string
}

// Effect is a comparison decided from samples: how far the path's figure
// moved against the other side's, with its 95% interval.
type Effect struct {
	// Unit is "%" (a ratio, on the log scale, shown as a change) or "ms".
	Unit string
	// Value is the Hodges-Lehmann estimate, Lo and Hi its interval.
	Value, Lo, Hi float64
	// Coverage is the interval's confidence; P the rank test's two-sided
	// p-value for "no change".
	Coverage, P float64
	// Bound is the change the rule allows, raised to the noise floor:
	// changes inside it are not worth reporting.
	Bound float64
	// Floor is the run's A/A noise floor in Unit; FloorKnown is false when
	// no result had one.
	Floor      float64
	FloorKnown bool
	// N and M count the samples: the path's and the other side's (equal
	// when paired).
	N, M int
	// Per is what a sample is: "windows", or "rounds" when a file kept no
	// windows or the metric has no window figure.
	Per string
	// Paired: each window was paired with the other path's nearest window
	// (Wilcoxon signed-rank); otherwise two independent samples
	// (Mann-Whitney).
	Paired bool
}

// Status is the word a line starts with: PASS, FAIL, or WARN for an
// inconclusive outcome let through.
func (o Outcome) Status() string {
	switch {
	case o.Allowed:
		return "WARN"
	case o.Pass:
		return "PASS"
	}
	return "FAIL"
}

// String is the outcome as one line.
func (o Outcome) String() string {
	head := fmt.Sprintf("%s  %-28s %s", o.Status(), o.Rule.Text, o.Path)
	if o.Skipped != "" {
		return head + ": " + o.Skipped
	}
	if o.Effect != nil {
		s := fmt.Sprintf("%s: %s: %s", head, o.Decision, o.Effect.Describe(o.Rule.Metric))
		if o.Why != "" {
			s += "; " + o.Why
		}
		return s
	}
	unit := ""
	if isLatency(o.Rule.Metric) {
		unit = " ms"
	}
	s := fmt.Sprintf("%s.%s = %.3f%s (limit %s %.3f%s", head, o.Rule.Metric, o.Value, unit, o.Rule.Op, o.Limit, unit)
	switch {
	case o.Rule.Against != "":
		s += fmt.Sprintf(", %s %.3f%s", o.Rule.Against, o.Baseline, unit)
	case o.Rule.Relative:
		s += fmt.Sprintf(", baseline %.3f%s", o.Baseline, unit)
	}
	switch {
	case o.Rule.Relative:
		s += fmt.Sprintf(" %+g%%", o.Rule.Limit)
	case o.Rule.Against != "":
		s += fmt.Sprintf(" %+g%s", o.Rule.Limit, unit)
	}
	s += ")"
	if o.Decision == Inconclusive || o.Why != "" {
		s += fmt.Sprintf(": %s", o.Decision)
		if o.Why != "" {
			s += ": " + o.Why
		}
	}
	return s
}

// Describe is the effect as a phrase: "p99 +12.4% [+8.1%, +17.0%], bound
// +10%, A/A floor 2.1%, 10 vs 10 windows (Mann-Whitney, p=0.002)".
func (e *Effect) Describe(metric string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s [%s, %s]", metric, e.Format(e.Value), e.Format(e.Lo), e.Format(e.Hi))
	if e.Coverage < 0.95-1e-9 {
		fmt.Fprintf(&b, " (%.0f%% only)", 100*e.Coverage)
	}
	fmt.Fprintf(&b, ", bound %s", e.Format(e.Bound))
	if e.FloorKnown {
		fmt.Fprintf(&b, ", A/A floor %s", strings.TrimPrefix(e.Format(e.Floor), "+"))
	} else {
		b.WriteString(", no A/A floor in the result")
	}
	fmt.Fprintf(&b, ", %s", e.Samples())
	test := "Mann-Whitney"
	if e.Paired {
		test = "Wilcoxon signed-rank"
	}
	p := "p=" + formatP(e.P)
	if e.P < 0.001 {
		p = "p<0.001"
	}
	fmt.Fprintf(&b, " (%s, %s)", test, p)
	return b.String()
}

// Samples says how many samples each side had.
func (e *Effect) Samples() string {
	if e.Paired {
		return fmt.Sprintf("%d paired %s", e.N, e.Per)
	}
	return fmt.Sprintf("%d vs %d %s", e.N, e.M, e.Per)
}

// Format writes v in the effect's unit with its sign.
func (e *Effect) Format(v float64) string {
	if e.Unit == "%" {
		return fmt.Sprintf("%+.1f%%", v)
	}
	return fmt.Sprintf("%+.3f ms", v)
}

func formatP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3f", p)
}

// Failed counts outcomes that do not let the gate pass.
func Failed(outcomes []Outcome) int {
	n := 0
	for _, o := range outcomes {
		if !o.Pass {
			n++
		}
	}
	return n
}

// Undecided reports whether an outcome is inconclusive for want of
// samples, so that more rounds could decide it.
func Undecided(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Decision == Inconclusive && o.MoreSamples {
			return true
		}
	}
	return false
}

// Count counts outcomes with decision d.
func Count(outcomes []Outcome, d Decision) int {
	n := 0
	for _, o := range outcomes {
		if o.Decision == d {
			n++
		}
	}
	return n
}
