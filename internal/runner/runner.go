// Package runner runs a benchmark: it brings up the backend and the paths of
// a Plan, drives the load through each path in its measured windows, samples
// the host and the proxies while it does, and returns the meshbench/v1
// result. The CLI, tests and library users all call the same Run.
//
// A run owns what it starts: its backend replicas, its paths' processes and
// its temporary directory are stopped and removed when Run returns, and two
// runs in one process never touch each other's.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"time"

	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/placement"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
)

// stopGrace is how long a run's processes get to end after SIGTERM.
const stopGrace = 2 * time.Second

// Env is what a run may take from outside the process.
type Env struct {
	// Self is the meshbench executable; paths that run meshbench's own
	// sidecar start it (or the meshbench-sidecar binary beside it).
	Self string
	// Roots are where /proc and /sys are read from (fixture trees in tests).
	Roots hoststats.Roots
	// Now is the clock for the result's timestamps (time.Now when nil).
	Now func() time.Time
	// ProbeDir is where the fsync probe writes: the result's directory, since
	// that is the disk a reader of the result cares about ("" is the
	// system's temporary directory).
	ProbeDir string
	// Version is meshbench's version, recorded in the result.
	Version string
	// Log receives one-line notes from path kinds (io.Discard when nil).
	Log io.Writer
	// Site hosts the backend and the paths; nil runs them on this host.
	// Run closes it.
	Site Site
	// More, when set, is asked after the plan's last round (and each added
	// one) whether to measure another, up to Plan.MaxRounds; it sees the
	// rows so far with their summary (see moreRound).
	More func(*results.File) bool
	// Profile, when set, is the directory the sidecars this host starts
	// write their runtime profiles to; the caller profiles its own process.
	Profile string
}

// Observer is told what a run is doing, for progress lines. Its methods may
// be called from more than one goroutine, but never at the same time for the
// same window.
type Observer interface {
	// Line is a one-line note ("backend: 3 replicas on ...").
	Line(format string, args ...any)
	// Window says what happens to a measured window ("measuring").
	Window(w Window, what string)
	// Load is a snapshot of the load engine, about every 250 ms.
	Load(w Window, p load.Progress)
	// Done is a row: one path in one round, all its windows measured (w
	// is the row's first window).
	Done(w Window, p *results.Path)
}

// Run measures plan. It returns the result file even when it also returns
// an error or was interrupted (ctx cancelled), holding every window measured
// so far, with Interrupted set in the latter case; the file is nil only when
// the run failed before anything could be recorded. A nil obs is quiet.
func Run(ctx context.Context, plan *Plan, env Env, obs Observer) (*results.File, error) {
	if obs == nil {
		obs = quiet{}
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Log == nil {
		env.Log = io.Discard
	}
	scJSON, err := json.Marshal(plan.Scenario)
	if err != nil {
		return nil, err
	}
	r := &run{plan: plan, env: env, obs: obs, site: env.Site, climb: newClimb(plan)}
	var where *results.Placement
	if r.site == nil {
		var restore func()
		where, restore, err = place(plan.Scenario.Placement)
		if err != nil {
			return nil, fmt.Errorf("placement: %w", err)
		}
		defer restore()
		// The run's processes and temp dir belong to it alone: Close
		// stops exactly what this run started and removes the dir.
		procs := proc.NewGroup()
		defer procs.Close(stopGrace)
		tmp, err := procs.TempDir()
		if err != nil {
			return nil, err
		}
		r.site = newLocalSite(plan.Scenario, env, procs, tmp)
	}
	defer r.site.Close()

	f := &results.File{
		Schema:    results.Schema,
		Tool:      results.Tool{Name: "meshbench", Version: env.Version, GoVersion: runtime.Version()},
		StartedAt: env.Now().UTC(),
		Scenario:  scJSON,
		Host:      hoststats.Identify(ctx, env.Roots),
		Placement: where,
	}
	if env.Site == nil {
		f.Notes = []string{cpuNote(where)}
	}
	if n := batchNote(plan.Scenario); n != "" {
		f.Notes = append(f.Notes, n)
	}
	err = r.measureAll(ctx, f)
	f.FinishedAt = env.Now().UTC()
	if ctx.Err() != nil {
		f.Interrupted = true
		err = nil
	}
	results.SetOverhead(f.Paths)
	f.Summary, f.NoiseFloorMs = results.SummarizePaths(f)
	if kerr := r.climb.finish(f); kerr != nil && err == nil {
		err = kerr
	}
	var stats []*results.HostStats
	for _, p := range f.Paths {
		stats = append(stats, p.HostStats)
	}
	if v := hoststats.Verdicts(f.HostQuality, stats); len(v) > 0 {
		if f.HostQuality == nil {
			f.HostQuality = &results.HostQuality{}
		}
		f.HostQuality.Verdicts = v
	}
	return f, err
}

// run is one Run in progress.
type run struct {
	// dead names the paths whose proxy ended during the run, and how.
	dead map[string]error
	plan *Plan
	env  Env
	obs  Observer
	site Site
	// climb stops a sweep's paths from climbing past saturation.
	climb *climb
}

// measureAll runs the probes, opens the site, brings every path up and
// measures every window of the plan, appending a row to f as each path's
// round completes (and, when interrupted, the rows measured so far).
func (r *run) measureAll(ctx context.Context, f *results.File) error {
	sc := r.plan.Scenario
	if len(sc.HostStats.Probes) > 0 {
		r.obs.Line("probing the host: %v", sc.HostStats.Probes)
		q, err := hoststats.RunProbes(ctx, r.env.Roots, sc.HostStats.Probes, r.env.ProbeDir)
		if err != nil {
			return err
		}
		f.HostQuality = q
	}
	f.ServerHost = r.site.Host(ctx)
	if err := r.site.Open(ctx, r.obs); err != nil {
		return err
	}
	insts, err := r.startPaths(ctx)
	defer func() {
		for _, inst := range insts {
			inst.Stop()
		}
	}()
	if err != nil || ctx.Err() != nil {
		return err
	}
	rs := &rowSet{run: r, f: f, rows: map[rowKey]*row{}}
	err = r.measureWindows(ctx, insts, rs)
	return errors.Join(err, rs.flush(), r.deadErr())
}

// measureWindows measures the plan's windows in order, folding each into
// its row and writing the rows out as each round ends. A path that is
// saturated (sweeps) or whose proxy died has its later windows skipped.
func (r *run) measureWindows(ctx context.Context, insts map[string]paths.Instance, rs *rowSet) error {
	ws := r.plan.Windows()
	step := -1
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		if ctx.Err() != nil {
			return nil
		}
		roundEnds := i == len(ws)-1 || ws[i+1].Round != w.Round
		if !r.climb.skips(w) && r.dead[w.Path.Name] == nil {
			if w.Step.Index > 0 && w.Step.Index != step {
				step = w.Step.Index
				r.obs.Line("sweep step %d/%d: %g requests/s", step, len(r.plan.Steps), w.Step.Rate.RPS)
			}
			r.obs.Window(w, "measuring")
			inst := insts[w.Path.Name]
			m, err := r.window(ctx, w, inst)
			if err != nil {
				return err
			}
			if m != nil {
				rs.add(w, inst, m)
			}
			r.checkAlive(w, inst, rs)
		}
		if roundEnds {
			if err := rs.flush(); err != nil {
				return err
			}
		}
		if i == len(ws)-1 {
			ws = r.moreRound(ctx, rs.f, ws)
		}
	}
	return nil
}

// checkAlive notices a path whose proxy ended during its window: its row
// says so, and its later windows are skipped (they could only measure
// connection errors); the run then ends with an error naming it.
func (r *run) checkAlive(w Window, inst paths.Instance, rs *rowSet) {
	ex, ok := inst.(paths.Exiter)
	if !ok {
		return
	}
	err := ex.Exited()
	if err == nil {
		return
	}
	if r.dead == nil {
		r.dead = map[string]error{}
	}
	r.dead[w.Path.Name] = err
	if rw := rs.rows[rowKey{w.Path.Name, w.Round}]; rw != nil {
		rw.warnings = append(rw.warnings, fmt.Sprintf("proxy died in this window, not the target or the load generator: %v; the path's later windows were skipped", err))
	}
	r.obs.Line("path %s: %v; its later windows are skipped", w.Path.Name, err)
}

// deadErr is the run's error for the paths whose proxy died, if any.
func (r *run) deadErr() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(r.dead)) {
		errs = append(errs, fmt.Errorf("path %s: %w", name, r.dead[name]))
	}
	return errors.Join(errs...)
}

// rowSet holds the rows of the round in progress, in the order their paths
// first came, and writes them into the result when the round ends.
type rowSet struct {
	run   *run
	f     *results.File
	rows  map[rowKey]*row
	order []rowKey
}

func (rs *rowSet) add(w Window, inst paths.Instance, m *measured) {
	k := rowKey{w.Path.Name, w.Round}
	if rs.rows[k] == nil {
		rs.rows[k] = &row{w: w, settings: inst.Settings(), faults: rs.run.plan.Scenario.Faults}
		rs.order = append(rs.order, k)
	}
	rs.rows[k].add(m)
}

func (rs *rowSet) flush() error {
	r := rs.run
	for _, k := range rs.order {
		p, err := rs.rows[k].result(r.plan.Baseline, r.plan.Scenario.Duration.D())
		if err != nil {
			return err
		}
		rs.f.Paths = append(rs.f.Paths, *p)
		r.obs.Done(rs.rows[k].w, p)
		r.climb.observe(rs.rows[k].w, p, r.obs)
	}
	clear(rs.rows)
	rs.order = rs.order[:0]
	return nil
}

type rowKey struct {
	name  string
	round int
}

// startPaths brings every path of the plan up, in order, and keeps them up
// for the whole run so that their windows can interleave. On error it
// returns those it started, for the caller to stop.
func (r *run) startPaths(ctx context.Context) (map[string]paths.Instance, error) {
	insts := map[string]paths.Instance{}
	for _, spec := range r.plan.Paths {
		r.obs.Line("starting %s", spec.Name)
		inst, err := r.site.StartPath(ctx, spec)
		if err != nil {
			if ctx.Err() != nil {
				return insts, nil
			}
			return insts, err
		}
		insts[spec.Name] = inst
	}
	return insts, nil
}

// cpuNote is the caveat every local result carries: on one host the load
// generator, backend and proxies compete for the same cores, all of them or
// their own share.
func cpuNote(where *results.Placement) string {
	const compare = "compare paths measured in the same run, as ratios, rather than with other hosts' absolute figures"
	if where != nil && where.Mode == placement.Split {
		return fmt.Sprintf("the load generator and the backend replicas ran on CPUs %s and the proxies on CPUs %s of this host's %d; %s", where.Loadgen, where.Proxies, runtime.NumCPU(), compare)
	}
	return fmt.Sprintf("the load generator, the backend replicas and the proxies share this host's %d CPU cores; %s", runtime.NumCPU(), compare)
}

type quiet struct{}

func (quiet) Line(string, ...any)        {}
func (quiet) Window(Window, string)      {}
func (quiet) Load(Window, load.Progress) {}
func (quiet) Done(Window, *results.Path) {}
