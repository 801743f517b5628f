package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
)

type gateOptions struct {
	result    string
	baseline  string
	rulesFile string
	max       []string
	out       gateOutput
}

func newGateCmd(w *World) *cobra.Command {
	var o gateOptions
	cmd := &cobra.Command{
		Use:   "gate RESULT [--baseline RESULT] [--rules FILE] [--max EXPR]...",
		Short: "Check a result against performance rules (exit 3 when one fails)",
		Long: `gate checks a result file against rules and exits 0 when every rule holds and
3 when one fails, for CI. Rules come from --max (one each), from a --rules file
(YAML: "rules: [EXPR, ...]"), and from the gates of the scenario the result was
run with.

A rule is PATH.METRIC OP LIMIT:
  PATH    a path name from the result, or * for every path; in a rate
          sweep, one step of a path: haproxy@2000rps
  METRIC  p50 p90 p99 p999 p9999 max mean (response time), service.p99 ...,
          overhead.p50 overhead.p90 overhead.p99 overhead.p999 (against direct),
          errors, error_rate (%), late, achieved_rate, rate_ratio (achieved/target %)
  OP      <= < >= >  (--max EXPR without an operator means <=)
  LIMIT   a number, or a duration for latency ("1.5ms", "800us"): the merged
          figure against it;
          "+10%": at most a 10% rise over --baseline;
          OTHER.METRIC [+5% | +200us]: against another path of the same run
          (A/B, e.g. "haproxy-b.p99 <= haproxy-a.p99 +5%").

A latency rule against a baseline or another path is decided from the
windows each side was measured in (Mann-Whitney against a baseline,
Wilcoxon signed-rank on windows paired in time for A/B), with the bound
raised to the run's A/A noise floor. It ends as regressed (exit 3),
improved, no significant change, or inconclusive: too few samples, or an
interval across the bound. Inconclusive is not a pass: it exits 3 unless
--allow-inconclusive. A result whose load generator sent late (>1% of
sends) or short of its rate (>1%), or whose host showed steal above 5% in
a window, is unhealthy: its latency rules cannot pass. A/B in one run is
the most reliable gate on a shared CI runner: both sides see the same
noise in the same minutes.`,
		Example: `  meshbench gate results/ci.json --max "linkerd.overhead.p99<=2ms" --max "*.error_rate<=0.1"
  meshbench gate results/new.json --baseline results/main.json --max "*.p99<=+10%" --junit gate.xml
  meshbench gate results/ab.json --max "haproxy-b.p99 <= haproxy-a.p99 +5%" --summary gate.md
  meshbench gate results/new.json --rules perf-rules.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.result = args[0]
			return runGate(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.baseline, "baseline", "", "result file to compare with, for +N% rules")
	f.StringVar(&o.rulesFile, "rules", "", "YAML file with a list of rules under \"rules:\"")
	f.StringArrayVar(&o.max, "max", nil, "a rule, e.g. \"linkerd.p99<=5ms\" (repeatable)")
	o.out.flags(f)
	return cmd
}

// gateOutput are the flags gate and run (with a scenario's gates) share.
type gateOutput struct {
	junit             string
	summary           string
	allowInconclusive bool
}

func (o *gateOutput) flags(f *pflag.FlagSet) {
	f.StringVar(&o.junit, "junit", "", "also write the gate outcomes as JUnit XML to this file")
	f.StringVar(&o.summary, "summary", "", "also write the gate outcomes as markdown to this file (default: append to $GITHUB_STEP_SUMMARY when it is set)")
	f.BoolVar(&o.allowInconclusive, "allow-inconclusive", false, "let gate rules that stay inconclusive pass (they print WARN)")
}

func runGate(_ context.Context, w *World, o gateOptions) error {
	cur, err := results.Read(o.result)
	if err != nil {
		return err
	}
	var base *results.File
	if o.baseline != "" {
		if base, err = results.Read(o.baseline); err != nil {
			return err
		}
	}
	texts, err := gateRules(cur, o)
	if err != nil {
		return err
	}
	if len(texts) == 0 {
		return errext.BadInputf("no rules: give --max EXPR, --rules FILE, or run a scenario with gates")
	}
	v, err := gate.Decide(cur, base, texts, gate.Options{AllowInconclusive: o.out.allowInconclusive})
	if err != nil {
		return err
	}
	return finishGate(w, w.Stdout, "", "meshbench gate "+filepath.Base(o.result), v, o.out)
}

// finishGate prints a verdict, run health first and one line per outcome
// (each line after prefix), writes the JUnit and markdown files asked for,
// and returns the gate's error: exit 3 when an outcome fails, saying how
// many regressed and how many stayed inconclusive.
func finishGate(w *World, out io.Writer, prefix, title string, v *gate.Verdict, o gateOutput) error {
	for _, h := range v.Health {
		// Path names come from the file: escaped for the terminal.
		fmt.Fprintf(out, "%shealth of the %s\n", prefix, report.TerminalText(fmt.Sprint(h)))
	}
	for _, oc := range v.Outcomes {
		fmt.Fprintf(out, "%s%s\n", prefix, report.TerminalText(fmt.Sprint(oc)))
	}
	if o.junit != "" {
		var buf bytes.Buffer
		if err := gate.WriteJUnit(&buf, title, v.Outcomes, v.Health...); err != nil {
			return err
		}
		if err := results.WriteFileAtomic(o.junit, buf.Bytes()); err != nil {
			return fmt.Errorf("--junit %s: %w", o.junit, err)
		}
	}
	if err := writeSummary(w, title, v, o.summary); err != nil {
		return err
	}
	n := v.Failed()
	if n == 0 {
		fmt.Fprintf(w.Stderr, "gate: all %d checks passed\n", len(v.Outcomes))
		return nil
	}
	var parts []string
	for _, d := range []gate.Decision{gate.Regressed, gate.Fails, gate.Inconclusive, gate.Missing} {
		c := 0
		for _, oc := range v.Outcomes {
			if oc.Decision == d && !oc.Pass {
				c++
			}
		}
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, d))
		}
	}
	msg := fmt.Sprintf("%d of %d gate checks failed (%s)", n, len(v.Outcomes), strings.Join(parts, ", "))
	for _, oc := range v.Outcomes {
		if oc.Decision == gate.Inconclusive && !oc.Pass {
			msg += "; inconclusive is not a pass: more rounds (run --max-rounds) or --allow-inconclusive"
			break
		}
	}
	return fmt.Errorf("%s: %w", msg, errext.ErrGateFailed)
}

// writeSummary writes the markdown summary to file, or appends it to
// $GITHUB_STEP_SUMMARY (read through the World) when no file is given:
// GitHub collects what every step appends there.
func writeSummary(w *World, title string, v *gate.Verdict, file string) error {
	var buf bytes.Buffer
	if err := gate.WriteMarkdown(&buf, title, v); err != nil {
		return err
	}
	if file != "" {
		if err := results.WriteFileAtomic(file, buf.Bytes()); err != nil {
			return fmt.Errorf("--summary %s: %w", file, err)
		}
		return nil
	}
	env := w.Getenv("GITHUB_STEP_SUMMARY")
	if env == "" {
		return nil
	}
	fh, err := os.OpenFile(env, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("$GITHUB_STEP_SUMMARY: %w", err)
	}
	_, err = fh.Write(buf.Bytes())
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("$GITHUB_STEP_SUMMARY %s: %w", env, err)
	}
	return nil
}

// gateRules collects rule texts from the scenario in the result, the rules
// file and --max, in that order.
func gateRules(cur *results.File, o gateOptions) ([]string, error) {
	var texts []string
	var sc struct {
		Gates []string `json:"gates"`
	}
	if len(cur.Scenario) > 0 && json.Unmarshal(cur.Scenario, &sc) == nil {
		texts = append(texts, sc.Gates...)
	}
	if o.rulesFile != "" {
		data, err := os.ReadFile(o.rulesFile)
		if err != nil {
			return nil, errext.BadInputf("--rules %s: %v", o.rulesFile, err)
		}
		var doc struct {
			Rules []string `yaml:"rules"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil {
			return nil, errext.BadInputf("--rules %s: %s", o.rulesFile, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		texts = append(texts, doc.Rules...)
	}
	for _, m := range o.max {
		if !strings.ContainsAny(m, "<>") {
			m = strings.Replace(m, "=", "<=", 1)
			if !strings.Contains(m, "<=") {
				return nil, errext.BadInputf("--max %q: want PATH.METRIC<=LIMIT", m)
			}
		}
		texts = append(texts, m)
	}
	return texts, nil
}

// planGates checks run's gate flags against the plan before anything is
// measured, and sets how many rounds the run may add. It returns the
// callback that asks for another round while a gate is inconclusive for
// want of samples (nil when no rounds may be added).
func planGates(plan *runner.Plan, texts []string, o runOptions) (func(*results.File) bool, error) {
	plan.MaxRounds = plan.Rounds
	texts = runGates(io.Discard, texts)
	if len(texts) == 0 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--max-rounds", o.maxRounds != 0}, {"--junit", o.gates.junit != ""}, {"--summary", o.gates.summary != ""}} {
			if f.set {
				return nil, errext.BadInputf("%s is for gates, and this scenario has none that run can decide (a scenario's gates: [...])", f.name)
			}
		}
		return nil, nil
	}
	if err := checkGatePaths(plan, texts); err != nil {
		return nil, err
	}
	// max_rounds (or --max-rounds) was checked with the scenario: at
	// least trials, at most scenario.MaxTrials.
	if plan.Scenario.MaxRounds <= plan.Rounds {
		return nil, nil
	}
	plan.MaxRounds = plan.Scenario.MaxRounds
	return func(f *results.File) bool {
		v, err := gate.Decide(f, nil, texts, gate.Options{})
		return err == nil && gate.Undecided(v.Outcomes)
	}, nil
}

// runGates are the gates run can decide on its own result: those that
// compare with a baseline result are left to meshbench gate --baseline,
// with a note on log.
func runGates(log io.Writer, texts []string) []string {
	var keep []string
	for _, t := range texts {
		if r, err := gate.Parse(t); err == nil && r.Relative && r.Against == "" {
			fmt.Fprintf(log, "gate: %s compares with a baseline result: check it with meshbench gate RESULT --baseline FILE\n", r.Text)
			continue
		}
		keep = append(keep, t)
	}
	return keep
}

// checkGatePaths makes sure each gate names paths the plan measures, so
// that a misspelt A/B gate is an error before the run rather than after.
func checkGatePaths(plan *runner.Plan, texts []string) error {
	var names []string
	for _, p := range plan.Paths {
		names = append(names, p.Name)
	}
	for _, t := range texts {
		r, err := gate.Parse(t)
		if err != nil {
			return errext.BadInputf("gates: %v", err)
		}
		for _, n := range []string{r.Path, r.Against} {
			base, _, _ := strings.Cut(n, "@")
			if n != "" && n != "*" && !slices.Contains(names, base) {
				return errext.BadInputf("gates: rule %q: the scenario has no path %q (it has %s)", r.Text, base, strings.Join(names, ", "))
			}
		}
	}
	return nil
}
