package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/profiling"
	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/scenarios"
)

// runOptions are run's flags. A flag overrides the scenario only when it was
// given on the command line, so that a scenario's value is never replaced by
// a flag's default.
type runOptions struct {
	scenarioFile string
	paths        []string
	rate         float64
	sweep        []float64
	duration     time.Duration
	warmup       time.Duration
	trials       int
	connections  int
	payload      int
	backendDelay time.Duration
	replicas     int
	target       string
	out          string
	format       string
	noHostStats  bool
	probes       []string
	window       time.Duration
	sendBatch    scenario.Batch
	placement    string
	insecure     bool
	remote       remoteOptions
	maxRounds    int
	profile      string
	gates        gateOutput

	// changed reports whether a flag was set on the command line.
	changed func(name string) bool
}

func newRunCmd(w *World) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [SCENARIO.yaml]",
		Short: "Measure every path of a scenario and write a result file",
		Long: `run starts the test backend replicas on 127.0.0.1, brings up each path of the
scenario in front of them (direct, haproxy, haproxy-mtls, nginx, linkerd, linkerd-mtls, exec),
drives open-model load through each path in turn and records response time
from each request's intended send time, so a stalled server cannot hide its
own latency. The host is sampled while each path is measured.

Without a scenario file it runs the embedded default scenario. Flags override
the scenario. The table goes to stdout, progress to stderr, and the result
file (meshbench/v1 JSON) to --out; its path is printed last.

The load generator, the proxies and the backend share this host's CPUs: compare
paths measured in the same run, and prefer --trials 3 on a noisy host.`,
		Example: `  meshbench run                                   # default scenario, every path
  meshbench run --paths direct,haproxy,linkerd --rate 2000 --duration 20s
  meshbench run scenarios/classic.yaml --trials 3 --format markdown
  meshbench run --paths direct --target http://127.0.0.1:8080 --rate 500
  meshbench run --paths direct,haproxy,linkerd --sweep 500,1000,2000,4000 --duration 5s
  meshbench run --remote https://10.0.0.5:7400 --token-file mb.token --paths direct,haproxy,linkerd
  meshbench run --paths direct,haproxy-mtls,linkerd-mtls --trials 3   # the mesh beside the same two hops built from haproxy
  meshbench run --paths linkerd-mtls --rate 1000 --profile prof   # then: go tool pprof prof/sidecar-outbound-*-cpu.pprof`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.scenarioFile = args[0]
			}
			o.changed = func(name string) bool { return cmd.Flags().Changed(name) }
			return runRun(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.paths, "paths", nil, "paths to measure, comma separated (direct,haproxy,haproxy-mtls,nginx,linkerd,linkerd-mtls, or names from the scenario)")
	f.Float64Var(&o.rate, "rate", 0, "constant offered load, requests/s (default scenario: 1000)")
	f.Float64SliceVar(&o.sweep, "sweep", nil, "measure every path at each of these `RATES` in turn, e.g. 500,1000,2000 (replaces --rate)")
	f.DurationVar(&o.duration, "duration", 0, "measured window per path per trial (default scenario: 10s)")
	f.DurationVar(&o.warmup, "warmup", 0, "load sent before each window and not recorded (default scenario: 2s)")
	f.IntVar(&o.trials, "trials", 0, "rounds; each measures every path once, in rotated order (default scenario: 1)")
	f.IntVar(&o.connections, "connections", 0, "max open connections per path (default scenario: 64)")
	f.IntVar(&o.payload, "payload", 0, "backend response size in bytes (default scenario: 1024)")
	f.DurationVar(&o.backendDelay, "backend-delay", 0, "service time the backend adds, e.g. 1ms")
	f.IntVar(&o.replicas, "replicas", 0, "backend replicas (default scenario: 3)")
	f.Lookup("sweep").DefValue = "" // pflag would print "(default [])"
	f.StringVar(&o.target, "target", "", "measure this existing http:// or https:// endpoint as the direct path (no backend is started); https trusts the system's CAs and SSL_CERT_FILE")
	f.BoolVar(&o.insecure, "insecure", false, "with an https --target: do not verify its certificate (self-signed test endpoints)")
	f.StringVar(&o.out, "out", "results", "directory for the result file")
	f.StringVar(&o.format, "format", "table", "stdout format: table, markdown or json")
	f.BoolVar(&o.noHostStats, "no-host-stats", false, "do not sample the host during the runs")
	f.StringSliceVar(&o.probes, "probes", nil, "host probes to run once before the first round: jitter,fsync,audit")
	f.DurationVar(&o.window, "window", 0, "length of one measured window: each path's --duration is cut into such windows, interleaved with the other paths' (default 1s where the scenario allows; the duration itself: one window per path per round)")
	f.Var(&o.sendBatch, "send-batch", "group the sends due within one slot this long (at most 250us) to leave together at its start: less load-generator CPU at high rates; auto groups in 250us slots from 4000 req/s, off sends each request at its own time")
	f.StringVar(&o.placement, "placement", "", "CPU sets: shared, split (load generator and backend on one set, proxies on the other) or auto (default scenario: auto)")
	f.StringVar(&o.remote.url, "remote", "", "load from this host, backend and paths on a `meshbench serve` host: https://HOST:PORT")
	f.StringVar(&o.remote.tokenFile, "token-file", "", "with --remote: the token file the serve host wrote")
	f.StringVar(&o.remote.share, "share", "", "with --remote: this agent's share of the rate, I/N (agent I of N, each driving 1/N)")
	f.StringVar(&o.remote.shareIndexEnv, "share-index-env", "", "with --remote: take I from this environment variable, counted from 0 (e.g. JOB_COMPLETION_INDEX)")
	f.IntVar(&o.remote.shareCount, "share-count", 0, "with --share-index-env: N, the number of agents")
	f.IntVar(&o.maxRounds, "max-rounds", 0, "with gates: after --trials rounds, add rounds until every gate is decided, up to this many in all")
	f.StringVar(&o.profile, "profile", "", "write runtime profiles into this `DIR`: a CPU profile, an execution trace, heap, block and mutex profiles of meshbench (meshbench-run-PID-*) and of every sidecar the run starts (sidecar-MODE-PID-*)")
	o.gates.flags(f)
	return cmd
}

// runFormats are the stdout formats of run; report has more.
var runFormats = []string{"table", "markdown", "json"}

func runRun(ctx context.Context, w *World, o runOptions) error {
	sc, err := loadScenario(o)
	if err != nil {
		return err
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	if !slices.Contains(runFormats, o.format) {
		return errext.BadInputf("--format %q: want one of %s", o.format, strings.Join(runFormats, ", "))
	}
	if err := results.CheckDir(o.out); err != nil {
		return err
	}
	var site *remote.Site
	var share remote.Share
	if o.remote.active() {
		// The serve host checks the paths: they run there, not here.
		if site, share, err = dialRemote(ctx, w, o.remote, sc); err != nil {
			return err
		}
	} else if err := checkLocal(ctx, w, sc); err != nil {
		return err
	}

	plan := runner.NewPlan(sc)
	shareRates(plan, share)
	more, err := planGates(plan, sc.Gates, o)
	if err != nil {
		return err
	}
	prog := newProgress(w.Stderr, w.StderrIsTTY)
	prog.rounds, prog.maxRounds = plan.Rounds, plan.MaxRounds
	env := runner.Env{
		Self:     w.Self,
		Roots:    hoststats.Roots{Proc: w.ProcRoot, Sys: w.SysRoot},
		Now:      w.Now,
		ProbeDir: o.out,
		Version:  version(),
		Log:      w.Stderr,
		More:     more,
	}
	if site != nil {
		env.Site = site
	}
	file, runErr := runProfiled(ctx, w, o.profile, plan, env, prog)
	if file == nil {
		return runErr
	}
	if site != nil {
		markRemote(file, share, o.remote.url)
	}
	interrupted := file.Interrupted
	if len(file.Paths) == 0 {
		// Nothing was measured: no file is better than an empty one.
		if interrupted {
			return fmt.Errorf("nothing measured: %w", errext.ErrInterrupted)
		}
		return runErr
	}
	// The table is printed before the file is written, so that a full disk
	// or a vanished directory loses the file but not what was measured
	// (with --format json, stdout then holds the whole result).
	printErr := printRun(w, file, o.format)
	name, err := results.Write(o.out, results.DefaultName(file.Host.Hostname, file.StartedAt), file)
	if err != nil {
		return errors.Join(runErr, printErr, fmt.Errorf("writing the result: %w", err))
	}
	if printErr != nil {
		return errors.Join(runErr, printErr)
	}
	fmt.Fprintf(w.Stderr, "result: %s\n", name)
	if runErr != nil {
		return runErr
	}
	if interrupted {
		return fmt.Errorf("partial results in %s: %w", name, errext.ErrInterrupted)
	}
	return checkRunGates(w, file, sc.Gates, o.gates, name)
}

// runProfiled is runner.Run, with the runtime profiles of this process and
// of the sidecars it starts written to dir when dir is set. The profiles
// cover the whole run, start-up of the paths included.
func runProfiled(ctx context.Context, w *World, dir string, plan *runner.Plan, env runner.Env, prog runner.Observer) (*results.File, error) {
	if dir == "" {
		return runner.Run(ctx, plan, env, prog)
	}
	prof, err := profiling.Start(dir, fmt.Sprintf("meshbench-run-%d", os.Getpid()))
	if err != nil {
		return nil, err
	}
	env.Profile = dir
	file, runErr := runner.Run(ctx, plan, env, prog)
	if err := prof.Stop(); err != nil {
		fmt.Fprintf(w.Stderr, "warning: %v\n", err)
	} else {
		fmt.Fprintf(w.Stderr, "profiles: %s (go tool pprof %s; go tool trace %s)\n", dir, prof.Path("cpu.pprof"), prof.Path("trace.out"))
	}
	return file, runErr
}

// checkLocal checks, before anything starts, that this host can run the
// scenario's paths and that a --target answers.
func checkLocal(ctx context.Context, w *World, sc *scenario.Scenario) error {
	env := paths.Env{Target: sc.Target, Self: w.Self, Log: w.Stderr}
	for _, p := range sc.Paths {
		if err := paths.Check(p, env); err != nil {
			return err
		}
	}
	if sc.Target != "" {
		return checkTarget(ctx, sc.Target, sc.Insecure)
	}
	return nil
}

// loadScenario reads the scenario file (or the embedded default) and applies
// the flags given on the command line.
func loadScenario(o runOptions) (*scenario.Scenario, error) {
	var sc *scenario.Scenario
	var err error
	if o.scenarioFile != "" {
		sc, err = scenario.Load(o.scenarioFile)
	} else {
		var data []byte
		data, err = scenarios.Files.ReadFile(scenarios.DefaultName)
		if err == nil {
			sc, err = scenario.Parse(scenarios.DefaultName, data)
		}
	}
	if err != nil {
		return nil, errext.AsBadInput(err)
	}
	return o.overrides().Apply(sc)
}

// overrides are the flags given on the command line; a flag left at its
// default leaves the scenario's value.
func (o runOptions) overrides() scenario.Overrides {
	ch := o.changed
	if ch == nil {
		ch = func(string) bool { return false }
	}
	var v scenario.Overrides
	if ch("paths") {
		v.Paths = &o.paths
	}
	if ch("rate") {
		v.Rate = &o.rate
	}
	if ch("sweep") {
		v.Sweep = &o.sweep
	}
	if ch("duration") {
		v.Duration = &o.duration
	}
	if ch("warmup") {
		v.Warmup = &o.warmup
	}
	if ch("trials") {
		v.Trials = &o.trials
	}
	if ch("connections") {
		v.Connections = &o.connections
	}
	if ch("payload") {
		v.Payload = &o.payload
	}
	if ch("backend-delay") {
		v.BackendDelay = &o.backendDelay
	}
	if ch("replicas") {
		v.Replicas = &o.replicas
	}
	if ch("target") {
		v.Target = &o.target
	}
	if ch("no-host-stats") {
		v.NoHostStats = &o.noHostStats
	}
	if ch("probes") {
		v.Probes = &o.probes
	}
	if ch("window") {
		v.Window = &o.window
	}
	if ch("placement") {
		v.Placement = &o.placement
	}
	if ch("send-batch") {
		v.SendBatch = &o.sendBatch
	}
	if ch("insecure") {
		v.Insecure = &o.insecure
	}
	if ch("max-rounds") {
		v.MaxRounds = &o.maxRounds
	}
	return v
}

// checkTarget makes sure an existing endpoint answers before load is sent to
// it, so that a typo is a clear error rather than a table full of errors.
func checkTarget(ctx context.Context, target string, insecure bool) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return errext.BadInputf("--target %s: %v", target, err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return errext.BadInputf("--target %s is unreachable: %v", target, err)
	}
	resp.Body.Close()
	return nil
}

// printRun writes the run's report to stdout in the chosen format. json is
// the result file itself, so that a script piping run's output sees the
// same meshbench/v1 document that was written to disk.
func printRun(w *World, f *results.File, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(f)
	}
	r, err := report.Build([]*results.File{f}, nil)
	if err != nil {
		return err
	}
	return report.Write(w.Stdout, r, format, report.Options{})
}

// checkRunGates decides the scenario's gates on the fresh result (name is
// its file), as meshbench gate would without a baseline.
func checkRunGates(w *World, f *results.File, texts []string, o gateOutput, name string) error {
	texts = runGates(w.Stderr, texts)
	if len(texts) == 0 {
		return nil
	}
	v, err := gate.Decide(f, nil, texts, gate.Options{AllowInconclusive: o.allowInconclusive})
	if err != nil {
		return err
	}
	return finishGate(w, w.Stderr, "gate: ", "meshbench run "+filepath.Base(name), v, o)
}
