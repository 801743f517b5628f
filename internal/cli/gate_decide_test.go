package cli

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

// writeWindowed writes a result with rounds × 2 windows for each path (ms
// is the median window p99 of each), with 5% log-normal noise from seed,
// windows interleaved as the runner lays them out.
func writeWindowed(t *testing.T, dir, name string, seed uint64, rounds int, ms map[string]float64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	names := []string{"direct", "haproxy-a", "haproxy-b"}
	f := &results.File{Schema: results.Schema, Scenario: []byte(`{}`), NoiseFloorMs: &results.NoiseFloor{P50: 0.001, P99: 0.01}}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for r := 0; r < rounds; r++ {
		for i, n := range names {
			p := results.Path{Name: n, Kind: "haproxy", Trial: r + 1, TargetRate: 500, AchievedRate: 500, DurationS: 2,
				Requests: 1000, WindowStart: t0.Add(time.Duration(r*60+i) * time.Second), ErrorsByClass: map[string]int64{}}
			if n == "direct" {
				p.Kind, p.Baseline = "direct", true
			}
			for w := 0; w < 2; w++ {
				v := math.Round(ms[n]*math.Exp(rng.NormFloat64()*0.05)*1000) / 1000
				p.Windows = append(p.Windows, results.Sample{StartS: float64(3 * w), DurationS: 1, Requests: 500,
					P50Ms: v / 2, P90Ms: v / 1.5, P99Ms: v, P999Ms: v * 1.2})
			}
			p.LatencyMs = results.Percentiles{Count: 1000, P50: ms[n] / 2, P90: ms[n] / 1.5, P99: ms[n], P999: ms[n] * 1.2, Max: ms[n] * 2}
			f.Paths = append(f.Paths, p)
		}
	}
	path, err := results.Write(dir, name, f)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGateDecisions runs meshbench gate on result files made to show each
// decision, and checks the exit code and the line that says why.
func TestGateDecisions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	same := map[string]float64{"direct": 0.5, "haproxy-a": 1, "haproxy-b": 1}
	slow := map[string]float64{"direct": 0.5, "haproxy-a": 1, "haproxy-b": 1.4}
	base := writeWindowed(t, dir, "base.json", 1, 5, same)
	again := writeWindowed(t, dir, "again.json", 2, 5, same)
	worse := writeWindowed(t, dir, "worse.json", 3, 5, slow)
	short := writeWindowed(t, dir, "short.json", 4, 1, same)
	shortBase := writeWindowed(t, dir, "short-base.json", 5, 1, same)
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{again, "--baseline", base, "--max", "haproxy-b.p99<=+10%"}, 0, "haproxy-b: no significant change: p99 ", "gate: all 1 checks passed"},
		{[]string{worse, "--baseline", base, "--max", "haproxy-b.p99<=+10%"}, 3, "haproxy-b: regressed: p99 +", "1 of 1 gate checks failed (1 regressed)"},
		{[]string{short, "--baseline", shortBase, "--max", "haproxy-b.p99<=+10%"}, 3, "inconclusive: p99 ", "inconclusive is not a pass"},
		{[]string{short, "--baseline", shortBase, "--max", "haproxy-b.p99<=+10%", "--allow-inconclusive"}, 0, "WARN  haproxy-b.p99<=+10%", "all 1 checks passed"},
		{[]string{worse, "--max", "haproxy-b.p99 <= haproxy-a.p99 +5%"}, 3, "haproxy-b: regressed: p99 +", "1 regressed"},
		{[]string{again, "--max", "haproxy-b.p99 <= haproxy-a.p99 +15%"}, 0, "haproxy-b: no significant change", "all 1 checks passed"},
		{[]string{worse, "--max", "haproxy-b.p99 <= haproxy-a.p99 +500us", "--max", "direct.p99<=1ms"}, 0, "10 paired windows (Wilcoxon signed-rank", "all 2 checks passed"},
	} {
		stdout, stderr, code := runCLI(t, context.Background(), append([]string{"gate"}, c.args...)...)
		if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("gate %v: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", c.args, code, c.code, stdout, c.stdout, stderr, c.stderr)
		}
		if !strings.HasPrefix(stdout, "health of the result: healthy") {
			t.Errorf("gate %v: run health not first: %q", c.args, stdout)
		}
	}
}

// TestGateBadRules: each malformed rule, and each rule naming what the
// files lack, exits 2 with one line naming the rule.
func TestGateBadRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := writeWindowed(t, dir, "r.json", 1, 5, map[string]float64{"direct": 0.5, "haproxy-a": 1, "haproxy-b": 1})
	for _, rule := range []string{
		"haproxy-b.p99<=haproxy-a.p50 +5%",
		"haproxy-b.p99<=haproxy-b.p99",
		"haproxy-b.p99<=nosuch.p99 +5%",
		"haproxy-b.p99<=+10%", // no --baseline
		"haproxy-b.p99<=-150%",
		"haproxy-b.p99<=haproxy-a.p99 plus 5%",
	} {
		stdout, stderr, code := runCLI(t, context.Background(), "gate", f, "--max", rule)
		if code != 2 || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q", rule, code, stdout)
		}
		oneLine(t, stderr, "rule")
	}
}

// TestGateWritesCIFiles: --junit and --summary write their files; without
// --summary, the markdown is appended to $GITHUB_STEP_SUMMARY, read from
// the World's environment, after what earlier steps wrote there.
func TestGateWritesCIFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := writeWindowed(t, dir, "r.json", 1, 5, map[string]float64{"direct": 0.5, "haproxy-a": 1, "haproxy-b": 1.4})
	junit, summary := filepath.Join(dir, "gate.xml"), filepath.Join(dir, "gate.md")
	_, _, code := runCLI(t, context.Background(), "gate", f, "--max", "haproxy-b.p99<=haproxy-a.p99", "--junit", junit, "--summary", summary)
	if code != 3 {
		t.Errorf("exit %d", code)
	}
	x, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(x), `<failure message="FAIL  haproxy-b.p99&lt;=haproxy-a.p99`) || !strings.Contains(string(x), `type="regressed"`) {
		t.Errorf("junit: %v\n%s", err, x)
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(md), "| FAIL | `haproxy-b.p99<=haproxy-a.p99` | haproxy-b | regressed |") {
		t.Errorf("summary: %v\n%s", err, md)
	}
	step := filepath.Join(dir, "step-summary.md")
	os.WriteFile(step, []byte("earlier step\n"), 0o644)
	var out, errb bytes.Buffer
	code = Main(context.Background(), World{
		Args:   []string{"gate", f, "--max", "haproxy-a.p99<=1.5ms"},
		Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "GITHUB_STEP_SUMMARY" {
				return step
			}
			return ""
		},
	})
	got, _ := os.ReadFile(step)
	if code != 0 || !strings.HasPrefix(string(got), "earlier step\n### meshbench gate r.json: passed") || !strings.Contains(string(got), "| PASS | `haproxy-a.p99<=1.5ms` |") {
		t.Errorf("exit %d, step summary %q, stderr %q", code, got, errb.String())
	}
}

// TestRunGateFlags: run refuses gate flags it cannot honour before it
// measures anything.
func TestRunGateFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := filepath.Join(dir, "ab.yaml")
	os.WriteFile(sc, []byte("name: ab\npaths: [direct, haproxy]\nrate: 100\nduration: 1s\ngates: [\"haproxy.p50 <= haproxy-b.p50 +5%\"]\n"), 0o600)
	plain := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plain, []byte("name: plain\npaths: [direct]\nrate: 100\nduration: 1s\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{sc}, `the scenario has no path "haproxy-b"`},
		{[]string{plain, "--max-rounds", "5"}, "--max-rounds is for gates"},
		{[]string{plain, "--junit", filepath.Join(dir, "x.xml")}, "--junit is for gates"},
		{[]string{plain, "--summary", filepath.Join(dir, "x.md")}, "--summary is for gates"},
	} {
		out := t.TempDir()
		_, stderr, code := runCLI(t, context.Background(), append(append([]string{"run"}, c.args...), "--out", out, "--no-host-stats")...)
		if code != 2 || len(resultFiles(t, out)) != 0 {
			t.Errorf("%v: exit %d, files %v", c.args, code, resultFiles(t, out))
		}
		oneLine(t, stderr, c.want)
	}
}

// TestRunAddsRounds: an A/B gate that one round cannot decide (one window
// a path: one pair) makes run add rounds until it is decided, at most
// --max-rounds; the result holds every round, and the gate's outcome is
// printed with its sample count.
func TestRunAddsRounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := filepath.Join(dir, "ab.yaml")
	os.WriteFile(sc, []byte(`name: ab
paths: [direct, {name: direct-b, kind: direct}]
rate: 200
duration: 500ms
warmup: 100ms
trials: 1
gates: ["direct-b.p50 <= direct.p50 +50%"]
`), 0o600)
	out := t.TempDir()
	junit := filepath.Join(dir, "gate.xml")
	_, stderr, code := runCLI(t, context.Background(), "run", sc, "--out", out, "--no-host-stats", "--max-rounds", "8", "--allow-inconclusive", "--junit", junit)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f := onlyResult(t, out)
	rounds := 0
	for _, p := range f.Paths {
		if p.Name == "direct-b" {
			rounds++
		}
	}
	if rounds < 2 || rounds > 8 || !strings.Contains(stderr, "gates undecided after 1 rounds: measuring round 2 (at most 8)") {
		t.Errorf("%d rounds of direct-b; stderr %q", rounds, stderr)
	}
	if !strings.Contains(stderr, "gate: ") || !strings.Contains(stderr, "paired windows (Wilcoxon signed-rank") {
		t.Errorf("outcome not printed: %q", stderr)
	}
	if _, err := os.Stat(junit); err != nil {
		t.Errorf("junit: %v", err)
	}
}

// TestPlanGatesAsksForRounds: the callback run gives the runner asks for
// another round while an A/B gate lacks samples, and stops once it is
// decided.
func TestPlanGatesAsksForRounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc, err := loadScenario(runOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Paths = []scenario.PathSpec{{Name: "direct", Kind: "direct"}, {Name: "haproxy-a", Kind: "haproxy"}, {Name: "haproxy-b", Kind: "haproxy"}}
	sc.Trials, sc.MaxRounds = 1, 6
	plan := runner.NewPlan(sc)
	more, err := planGates(plan, []string{"haproxy-b.p99 <= haproxy-a.p99 +10%", "haproxy-b.p99<=+5%"}, runOptions{maxRounds: 6})
	if err != nil || more == nil || plan.MaxRounds != 6 {
		t.Fatalf("more %v, max rounds %d, err %v", more != nil, plan.MaxRounds, err)
	}
	ms := map[string]float64{"direct": 0.5, "haproxy-a": 1, "haproxy-b": 2}
	for rounds, want := range map[int]bool{1: true, 5: false} {
		f, err := results.Read(writeWindowed(t, dir, fmt.Sprintf("r%d.json", rounds), 1, rounds, ms))
		if err != nil {
			t.Fatal(err)
		}
		if got := more(f); got != want {
			t.Errorf("%d rounds: more = %v, want %v", rounds, got, want)
		}
	}
	if _, _, code := runCLI(t, context.Background(), "run", "--max-rounds", "101", "--out", dir); code != 2 {
		t.Errorf("--max-rounds 101: exit %d, want 2", code)
	}
}

// TestCIExamples keeps docs/ci working: the A/B scenarios load, validate
// and have gates run can decide; the workflows are YAML, and every flag they
// give meshbench is one that run or gate has.
func TestCIExamples(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ab-haproxy.yaml", "mesh-vs-haproxy.yaml"} {
		sc, err := loadScenario(runOptions{scenarioFile: "../../docs/ci/" + name, maxRounds: 12,
			changed: func(name string) bool { return name == "max-rounds" }})
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Validate(); err != nil {
			t.Fatal(err)
		}
		if more, err := planGates(runner.NewPlan(sc), sc.Gates, runOptions{maxRounds: 12, gates: gateOutput{junit: "gate.xml"}}); err != nil || more == nil {
			t.Errorf("%s gates: more %v, %v", name, more != nil, err)
		}
	}
	w := &World{}
	run, gateCmd := newRunCmd(w), newGateCmd(w)
	flagRE := regexp.MustCompile(`(?:^|\s)--([a-z][a-z-]+)`)
	for _, name := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		data, err := os.ReadFile(filepath.Join("../../docs/ci", name))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil || len(doc) == 0 {
			t.Errorf("%s: %v", name, err)
		}
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				n++
				if run.Flags().Lookup(m[1]) == nil && gateCmd.Flags().Lookup(m[1]) == nil {
					t.Errorf("%s: --%s is no flag of run or gate: %s", name, m[1], strings.TrimSpace(line))
				}
			}
		}
		if n < 8 {
			t.Errorf("%s: only %d flags found", name, n)
		}
	}
}
