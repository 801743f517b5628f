package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

type gateOptions struct {
	result    string
	baseline  string
	rulesFile string
	max       []string
	junit     string
}

func newGateCmd(w *World) *cobra.Command {
	var o gateOptions
	cmd := &cobra.Command{
		Use:   "gate RESULT [--baseline RESULT] [--rules FILE] [--max EXPR]...",
		Short: "Check a result against performance rules (exit 3 when one fails)",
		Long: `gate checks a result file against rules and exits 0 when every rule holds and
3 when one fails, for CI. Trials are merged first. Rules come from --max (one
each), from a --rules file (YAML: "rules: [EXPR, ...]"), and from the gates of
the scenario the result was run with.

A rule is PATH.METRIC OP LIMIT:
  PATH    a path name from the result, or * for every path; in a rate
          sweep, one step of a path: haproxy@2000rps
  METRIC  p50 p90 p99 p999 p9999 max mean (response time), service.p99 ...,
          overhead.p50 overhead.p90 overhead.p99 overhead.p999 (against direct),
          errors, error_rate (%), late, achieved_rate, rate_ratio (achieved/target %)
  OP      <= < >= >  (--max EXPR without an operator means <=)
  LIMIT   a number, a duration for latency ("1.5ms", "800us"), or "+10%" to
          allow at most a 10% rise over --baseline`,
		Example: `  meshbench gate results/ci.json --max "linkerd.overhead.p99<=2ms" --max "*.error_rate<=0.1"
  meshbench gate results/new.json --baseline results/main.json --max "*.p99<=+10%" --junit gate.xml
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
	f.StringVar(&o.junit, "junit", "", "also write the outcomes as JUnit XML to this file")
	return cmd
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
	outcomes, err := gate.Check(cur, base, texts)
	if err != nil {
		return err
	}
	// A partial result cannot pass a gate: its windows were cut short, so
	// its figures say less than the rules assume, and a CI job that let it
	// through would pass a run nobody finished. It is not bad input either
	// (the file is sound and its rules are still judged and printed), so
	// it is a failed check, exit 3, like any inconclusive gate.
	for _, in := range []struct {
		role, path string
		f          *results.File
	}{{"result", o.result, cur}, {"baseline", o.baseline, base}} {
		if in.f != nil && in.f.Interrupted {
			outcomes = append(outcomes, gate.Outcome{
				Rule: gate.Rule{Text: in.role + " complete"}, Path: filepath.Base(in.path),
				Skipped: "the run was interrupted (interrupted: true): a partial result cannot pass a gate",
			})
		}
	}
	for _, oc := range outcomes {
		// Path names come from the file: escaped for the terminal.
		fmt.Fprintln(w.Stdout, report.TerminalText(oc.String()))
	}
	if o.junit != "" {
		var buf bytes.Buffer
		if err := gate.WriteJUnit(&buf, "meshbench gate "+filepath.Base(o.result), outcomes); err != nil {
			return err
		}
		if err := results.WriteFileAtomic(o.junit, buf.Bytes()); err != nil {
			return fmt.Errorf("--junit %s: %w", o.junit, err)
		}
	}
	if n := gate.Failed(outcomes); n > 0 {
		return fmt.Errorf("%d of %d gate checks failed: %w", n, len(outcomes), errext.ErrGateFailed)
	}
	fmt.Fprintf(w.Stderr, "gate: all %d checks passed\n", len(outcomes))
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
