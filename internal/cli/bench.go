package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// bench is one run of a scenario: the backend replicas, then every path once
// per round, each inside its own measured window.
type bench struct {
	w     *World
	sc    *scenario.Scenario
	env   paths.Env
	roots hoststats.Roots
	prog  *progress
	// outDir is where the result goes; the fsync probe writes there too,
	// since that is the disk a reader of the result cares about.
	outDir string

	replicas []*backend.Server
	bcfg     backend.Config
}

// run measures the scenario. It returns the result file even when it also
// returns an error or was interrupted, holding every path measured so far;
// the file is nil only when the run failed before anything could be recorded.
func (b *bench) run(ctx context.Context) (*results.File, error) {
	w := b.w
	scJSON, err := json.Marshal(b.sc)
	if err != nil {
		return nil, err
	}
	f := &results.File{
		Schema:    results.Schema,
		Tool:      results.Tool{Name: "meshbench", Version: version(), GoVersion: runtime.Version()},
		StartedAt: w.Now().UTC(),
		Scenario:  scJSON,
		Host:      hoststats.Identify(ctx, b.roots),
		Notes:     []string{sharedCPUNote()},
	}
	finish := func(err error) (*results.File, error) {
		f.FinishedAt = w.Now().UTC()
		if ctx.Err() != nil {
			f.Interrupted = true
			err = nil
		}
		addOverhead(f.Paths)
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

	if len(b.sc.HostStats.Probes) > 0 {
		b.prog.line("probing the host: %v", b.sc.HostStats.Probes)
		q, err := hoststats.RunProbes(ctx, b.roots, b.sc.HostStats.Probes, b.outDir)
		if err != nil {
			return finish(err)
		}
		f.HostQuality = q
	}

	if b.sc.Target == "" {
		bk := b.sc.Backend
		b.bcfg = backend.Config{Payload: bk.Payload, Delay: bk.Delay.D(), Distribution: bk.DelayDistribution, ErrorRate: bk.ErrorRate}
		// The replicas live as long as the run; Close below stops them on
		// every exit path.
		b.replicas, err = backend.StartReplicas(context.WithoutCancel(ctx), bk.Replicas, b.bcfg)
		if err != nil {
			return finish(fmt.Errorf("starting the backend: %w", err))
		}
		defer func() {
			for _, r := range b.replicas {
				r.Close()
			}
		}()
		for _, r := range b.replicas {
			b.env.Upstreams = append(b.env.Upstreams, r.Addr())
		}
		b.prog.line("backend: %d replicas on %v (payload %d B, delay %s)", len(b.replicas), b.env.Upstreams, bk.Payload, bk.Delay.D())
	}

	// Without a sweep there is one step, at the scenario's rate. With one,
	// each step is a constant rate measured in all its rounds; rounds are
	// numbered across steps, so that "the same round" (for overhead) never
	// mixes two rates.
	steps := []scenario.Rate{b.sc.Rate}
	if len(b.sc.Sweep) > 0 {
		steps = steps[:0]
		for _, rps := range b.sc.Sweep {
			steps = append(steps, scenario.Rate{Shape: "constant", RPS: rps})
		}
	}
	total := len(steps) * b.sc.Trials * len(b.sc.Paths)
	n, round := 0, 0
	for si, rate := range steps {
		at := window{rate: rate}
		if len(b.sc.Sweep) > 0 {
			at.step = si + 1
			b.prog.line("sweep step %d/%d: %g requests/s", si+1, len(steps), rate.RPS)
		}
		for trial := 1; trial <= b.sc.Trials; trial++ {
			round++
			at.round, at.trial = round, trial
			for order, spec := range rotate(b.sc.Paths, trial-1) {
				if ctx.Err() != nil {
					return finish(nil)
				}
				n++
				at.order, at.n, at.total = order+1, n, total
				p, err := b.measure(ctx, spec, at)
				if p != nil {
					f.Paths = append(f.Paths, *p)
				}
				if err != nil {
					return finish(err)
				}
			}
		}
	}
	return finish(nil)
}

// window says where one measured window falls in the run.
type window struct {
	rate scenario.Rate
	// step is the 1-based sweep step (0 without a sweep); round counts
	// rounds across steps and is what a result calls trial; trial is the
	// round within its step, which decides the rotation.
	step, round, trial int
	// order is the path's place in its round; n of total counts windows.
	order, n, total int
}

// measure brings one path up, drives the load through it and takes it down.
func (b *bench) measure(ctx context.Context, spec scenario.PathSpec, w window) (*results.Path, error) {
	sc := b.sc
	b.prog.phase(w.n, w.total, spec.Name, w.trial, sc.Trials, "starting")
	inst, err := paths.Start(ctx, spec, b.env)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	defer inst.Stop()

	// What happens at the opening of the measured window runs in the load
	// engine's OnMeasure goroutine; win collects it for after the run.
	var win struct {
		sync.Mutex
		opened  bool
		usage0  *results.Proxy
		sampler *hoststats.Sampler
		faults  []*time.Timer
	}
	cfg := load.Config{
		Targets:     inst.Targets(),
		Request:     loadRequest(sc.Request),
		Rate:        loadRate(w.rate),
		Warmup:      sc.Warmup.D(),
		Duration:    sc.Duration.D(),
		Connections: sc.Connections,
		Timeout:     sc.Timeout.D(),
		Progress:    func(p load.Progress) { b.prog.load(spec.Name, p) },
		OnMeasure: func(time.Time) {
			win.Lock()
			defer win.Unlock()
			win.opened = true
			win.usage0, _ = inst.Usage(ctx)
			if !sc.HostStats.Disabled {
				win.sampler = hoststats.StartSampler(ctx, b.roots, sc.HostStats.Interval.D())
			}
			win.faults = b.scheduleFaults()
		},
	}
	res, err := load.Run(ctx, cfg)
	win.Lock()
	defer win.Unlock()
	for _, t := range win.faults {
		t.Stop()
	}
	if len(win.faults) > 0 {
		if rerr := b.restoreReplicas(); rerr != nil && err == nil {
			err = rerr
		}
	}
	var stats *results.HostStats
	if win.sampler != nil {
		stats = win.sampler.Stop()
	}
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", spec.Name, err)
	}
	if !win.opened {
		// Interrupted during warm-up: nothing was measured.
		return nil, nil
	}
	p := &results.Path{Name: spec.Name, Kind: spec.Kind, Trial: w.round, Step: w.step, Order: w.order}
	if err := pathRow(p, res); err != nil {
		return nil, fmt.Errorf("path %s: %w", spec.Name, err)
	}
	p.HostStats = stats
	p.WindowStart = res.Start.UTC()
	if res.Interrupted {
		p.Warnings = append(p.Warnings, fmt.Sprintf("interrupted: the window was cut at %.1fs of %s", res.Window().Seconds(), sc.Duration.D()))
	}
	// Usage is read after the window with a context of its own: an
	// interrupted run still records what its proxies used.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	u1, err := inst.Usage(uctx)
	if err != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf("proxy usage unknown: %v", err))
	} else if u1 != nil {
		p.Proxy = usageDelta(win.usage0, u1)
	}
	b.prog.done(p)
	return p, nil
}

// usageDelta is what the proxy used during the window: CPU time and counting
// counters as differences; gauges and the peak RSS as they stand after it.
func usageDelta(u0, u1 *results.Proxy) *results.Proxy {
	out := *u1
	if u0 == nil {
		return &out
	}
	out.CPUSeconds = u1.CPUSeconds - u0.CPUSeconds
	if len(u1.Counters) > 0 {
		out.Counters = make(map[string]float64, len(u1.Counters))
		for k, v := range u1.Counters {
			if !paths.IsGauge(k) {
				v -= u0.Counters[k]
			}
			out.Counters[k] = v
		}
	}
	return &out
}

// scheduleFaults arms the scenario's fault events from now, the opening of
// a measured window.
func (b *bench) scheduleFaults() []*time.Timer {
	var ts []*time.Timer
	for _, f := range b.sc.Faults {
		if f.Replica >= len(b.replicas) {
			continue
		}
		r := b.replicas[f.Replica]
		ts = append(ts, time.AfterFunc(f.At.D(), func() {
			switch {
			case f.ErrorRate != nil:
				r.SetErrorRate(*f.ErrorRate)
			case f.Delay != nil:
				r.SetDelay(f.Delay.D())
			case f.Kill:
				r.Close()
			}
		}))
	}
	return ts
}

// restoreReplicas undoes the faults between windows, so that every path
// meets the same backend: rates and delays are reset, and a killed replica
// is started again on its old port.
func (b *bench) restoreReplicas() error {
	var errs []error
	for i, r := range b.replicas {
		if err := r.SetErrorRate(b.bcfg.ErrorRate); err != nil {
			errs = append(errs, err)
		}
		if err := r.SetDelay(b.bcfg.Delay); err != nil {
			errs = append(errs, err)
		}
		if !answers(r.URL()) {
			r.Close()
			nr, err := startOn(r.Addr(), b.bcfg)
			if err != nil {
				errs = append(errs, fmt.Errorf("restarting replica %d: %w", i, err))
				continue
			}
			b.replicas[i] = nr
		}
	}
	return errors.Join(errs...)
}

// startOn starts a replica on a given address, retrying briefly while the
// kernel still holds the old listener's port.
func startOn(addr string, cfg backend.Config) (*backend.Server, error) {
	var err error
	for i := 0; i < 20; i++ {
		var s *backend.Server
		if s, err = backend.Start(context.Background(), addr, cfg); err == nil {
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

func answers(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// addOverhead sets each path's overhead against the direct path of the same
// round (SPEC.md: overhead = percentile − direct percentile, same round).
func addOverhead(ps []results.Path) {
	direct := map[int]results.Percentiles{}
	for _, p := range ps {
		if p.Kind == "direct" {
			direct[p.Trial] = p.LatencyMs
		}
	}
	for i := range ps {
		d, ok := direct[ps[i].Trial]
		if ps[i].Kind == "direct" || !ok {
			continue
		}
		ps[i].OverheadMs = results.OverheadOf(ps[i].LatencyMs, d)
	}
}

// rotate returns the paths starting at position k, so that in round k+1 each
// path moves one place earlier and drift on a noisy host spreads over all.
func rotate(ps []scenario.PathSpec, k int) []scenario.PathSpec {
	if len(ps) == 0 {
		return nil
	}
	k %= len(ps)
	out := append([]scenario.PathSpec{}, ps[k:]...)
	return append(out, ps[:k]...)
}

func loadRate(r scenario.Rate) load.Rate {
	return load.Rate{Shape: load.Shape(r.Shape), RPS: r.RPS, End: r.End, Amplitude: r.Amplitude, Period: r.Period.D()}
}

func loadRequest(r scenario.Request) load.Request {
	lr := load.Request{Method: r.Method, Path: r.Path}
	if len(r.Headers) > 0 {
		lr.Header = http.Header{}
		for k, v := range r.Headers {
			lr.Header.Set(k, v)
		}
	}
	if r.Body != "" {
		lr.Body = []byte(r.Body)
	}
	return lr
}
