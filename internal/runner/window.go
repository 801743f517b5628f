package runner

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// usageTimeout bounds reading a proxy's usage after its window, with a
// context of its own so that an interrupted run still records it.
const usageTimeout = 3 * time.Second

// opening is what happens when a measured window opens, collected for after
// the window: it runs in the load engine's OnMeasure goroutine.
type opening struct {
	mu       sync.Mutex
	opened   bool
	usage0   *results.Proxy
	usageErr error
	sampler  *hoststats.Sampler
	restore  func() error
}

// measure brings one path up, drives the load through it in its window and
// takes it down. It returns nil and no error when the run was interrupted
// before the window opened.
func (r *run) measure(ctx context.Context, w Window) (*results.Path, error) {
	sc := r.plan.Scenario
	r.obs.Window(w, "starting")
	inst, err := r.site.startPath(ctx, w.Path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	defer inst.Stop()

	var op opening
	cfg := load.Config{
		Targets:     inst.Targets(),
		Request:     loadRequest(sc.Request),
		Rate:        w.Step.Rate,
		Warmup:      sc.Warmup.D(),
		Duration:    sc.Duration.D(),
		Connections: sc.Connections,
		Timeout:     sc.Timeout.D(),
		Progress:    func(p load.Progress) { r.obs.Load(w, p) },
		OnMeasure: func(time.Time) {
			op.mu.Lock()
			defer op.mu.Unlock()
			op.opened = true
			op.usage0, op.usageErr = inst.Usage(ctx)
			if !sc.HostStats.Disabled {
				op.sampler = hoststats.StartSampler(ctx, r.env.Roots, sc.HostStats.Interval.D())
			}
			op.restore = r.site.armFaults()
		},
	}
	res, err := load.Run(ctx, cfg)
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.restore != nil {
		if rerr := op.restore(); rerr != nil && err == nil {
			err = rerr
		}
	}
	var stats *results.HostStats
	if op.sampler != nil {
		stats = op.sampler.Stop()
	}
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	if !op.opened {
		return nil, nil // interrupted during warm-up: nothing was measured
	}
	p := &results.Path{Name: w.Path.Name, Kind: w.Path.Kind, Trial: w.Round, Step: w.Step.Index, Order: w.Order}
	if err := res.Fill(p); err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	p.HostStats = stats
	p.WindowStart = res.Start.UTC()
	if res.Interrupted {
		p.Warnings = append(p.Warnings, fmt.Sprintf("interrupted: the window was cut at %.1fs of %s", res.Window().Seconds(), sc.Duration.D()))
	}
	r.addUsage(ctx, p, inst, &op)
	r.obs.Done(w, p)
	return p, nil
}

// addUsage records what the path's proxies used over the window. Without the
// reading at the window's opening, the counters would include the warm-up and
// everything before it, so the row says the usage is unknown instead.
func (r *run) addUsage(ctx context.Context, p *results.Path, inst paths.Instance, op *opening) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usageTimeout)
	defer cancel()
	u1, err := inst.Usage(uctx)
	switch {
	case op.usageErr != nil:
		p.Warnings = append(p.Warnings, fmt.Sprintf("proxy usage unknown: at the window's opening: %v", op.usageErr))
	case err != nil:
		p.Warnings = append(p.Warnings, fmt.Sprintf("proxy usage unknown: %v", err))
	case u1 != nil && op.usage0 == nil:
		p.Warnings = append(p.Warnings, "proxy usage unknown: the proxy reported none at the window's opening")
	case u1 != nil:
		p.Proxy = usageDelta(op.usage0, u1)
	}
}

// usageDelta is what the proxy used during the window: CPU time and counting
// counters as differences; gauges and the peak RSS as they stand after it.
func usageDelta(u0, u1 *results.Proxy) *results.Proxy {
	out := *u1
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
