package gate

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the verdict as a markdown section for a CI job's
// summary page ($GITHUB_STEP_SUMMARY): a headline, the run health, one
// table row per outcome and, below it, why each inconclusive or unhealthy
// outcome is so.
func WriteMarkdown(w io.Writer, title string, v *Verdict) error {
	var b strings.Builder
	state := "passed"
	if v.Failed() > 0 {
		state = "FAILED"
	}
	var counts []string
	for _, d := range []Decision{Regressed, Fails, Inconclusive, Missing, Improved, NoChange, Holds} {
		if n := Count(v.Outcomes, d); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, d))
		}
	}
	fmt.Fprintf(&b, "### %s: %s\n\n", cell(title), state)
	fmt.Fprintf(&b, "%d rules: %s.\n\n", len(v.Outcomes), strings.Join(counts, ", "))
	for _, h := range v.Health {
		mark := "healthy"
		if !h.OK() {
			mark = "**unhealthy**"
		}
		fmt.Fprintf(&b, "- Run health of the %s: %s", h.Role, mark)
		for _, p := range h.Problems {
			fmt.Fprintf(&b, "\n  - %s", cell(p.Text))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n| | rule | path | decision | change [95% interval] | bound | samples | p |\n|---|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, o := range v.Outcomes {
		change, bound, samples, p := "", "", "", ""
		switch {
		case o.Skipped != "":
			change = cell(o.Skipped)
		case o.Effect != nil:
			e := o.Effect
			change = fmt.Sprintf("%s [%s, %s]", e.Format(e.Value), e.Format(e.Lo), e.Format(e.Hi))
			bound = e.Format(e.Bound)
			if e.FloorKnown {
				bound += fmt.Sprintf(" (A/A floor %s)", strings.TrimPrefix(e.Format(e.Floor), "+"))
			}
			samples, p = e.Samples(), formatP(e.P)
		default:
			unit := ""
			if isLatency(o.Rule.Metric) {
				unit = " ms"
			}
			change = fmt.Sprintf("%.3f%s", o.Value, unit)
			bound = fmt.Sprintf("%s %.3f%s", o.Rule.Op, o.Limit, unit)
		}
		if o.Why != "" {
			notes = append(notes, fmt.Sprintf("- `%s` on %s: %s", cell(o.Rule.Text), cell(o.Path), cell(o.Why)))
		}
		decision := string(o.Decision)
		if o.Allowed {
			decision += " (allowed)"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | %s | %s |\n", o.Status(), cell(o.Rule.Text), cell(o.Path), decision, change, cell(bound), samples, p)
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps text from breaking a table row or a code span.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'", "\n", " ").Replace(s)
}
