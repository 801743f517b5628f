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

// measured is what one window gave.
type measured struct {
	load  *load.Result
	stats *results.HostStats
	// serverStats are the site's own host figures (two-host runs).
	serverStats *results.HostStats
	// usage is what the proxies used over the window; usageErr says why it
	// is unknown (nil usage and nil error: a path without proxies).
	usage    *results.Proxy
	usageErr error
}

// opening is what happens when a measured window opens, collected for after
// the window: it runs in the load engine's OnMeasure goroutine.
type opening struct {
	mu       sync.Mutex
	opened   bool
	usage0   *results.Proxy
	usageErr error
	sampler  *hoststats.Sampler
	close    func() (*results.HostStats, error)
	openErr  error
}

// window drives the load through a started path for one measured window.
// It returns nil and no error when the run was interrupted before the
// window opened.
func (r *run) window(ctx context.Context, w Window, inst paths.Instance) (*measured, error) {
	sc := r.plan.Scenario
	var op opening
	cfg := load.Config{
		Targets:     inst.Targets(),
		Request:     loadRequest(sc.Request),
		Rate:        loadRate(w.Step.Rate),
		Warmup:      w.Warmup,
		Duration:    w.Len,
		Connections: sc.Connections,
		Timeout:     sc.Timeout.D(),
		SendBatch:   sc.SendBatch.Slot(w.Step.Rate.Peak()),
		// Only an https target can be insecure (scenario validation).
		InsecureSkipVerify: sc.Insecure,
		Progress:           func(p load.Progress) { r.obs.Load(w, p) },
		OnMeasure: func(start time.Time) {
			op.mu.Lock()
			defer op.mu.Unlock()
			op.opened = true
			op.usage0, op.usageErr = inst.Usage(ctx)
			if !sc.HostStats.Disabled {
				op.sampler = hoststats.StartSampler(ctx, r.env.Roots, sc.HostStats.Interval.D())
			}
			opened := w
			opened.Opened = start
			op.close, op.openErr = r.site.OpenWindow(ctx, opened)
		},
	}
	if s, ok := r.site.(Syncer); ok {
		phase, err := s.SyncWindow(ctx, w)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
		}
		cfg.Phase = phase
	}
	res, err := load.Run(ctx, cfg)
	op.mu.Lock()
	defer op.mu.Unlock()
	m := &measured{load: res}
	if err == nil {
		err = op.openErr
	}
	if op.close != nil {
		var cerr error
		if m.serverStats, cerr = op.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if op.sampler != nil {
		m.stats = op.sampler.Stop()
	}
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", w.Path.Name, err)
	}
	if !op.opened {
		return nil, nil
	}
	m.usage, m.usageErr = windowUsage(ctx, inst, &op)
	return m, nil
}

// windowUsage is what the path's proxies used over the window. Without the
// reading at the window's opening, the counters would include the warm-up
// and everything before it, so the usage is unknown instead.
func windowUsage(ctx context.Context, inst paths.Instance, op *opening) (*results.Proxy, error) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usageTimeout)
	defer cancel()
	u1, err := inst.Usage(uctx)
	switch {
	case op.usageErr != nil:
		return nil, fmt.Errorf("at the window's opening: %w", op.usageErr)
	case err != nil:
		return nil, err
	case u1 != nil && op.usage0 == nil:
		return nil, fmt.Errorf("the proxy reported none at the window's opening")
	case u1 == nil:
		return nil, nil
	}
	return usageDelta(op.usage0, u1), nil
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

// addUsage adds one window's usage to a row's: CPU time and counters
// summed, gauges and the peak RSS as they stand after the later window.
func addUsage(acc, u *results.Proxy) *results.Proxy {
	if acc == nil {
		c := *u
		c.Counters = make(map[string]float64, len(u.Counters))
		for k, v := range u.Counters {
			c.Counters[k] = v
		}
		return &c
	}
	acc.CPUSeconds += u.CPUSeconds
	acc.MaxRSSBytes = max(acc.MaxRSSBytes, u.MaxRSSBytes)
	acc.MaxProcessRSSBytes = max(acc.MaxProcessRSSBytes, u.MaxProcessRSSBytes)
	acc.Processes, acc.Version = u.Processes, u.Version
	for k, v := range u.Counters {
		if paths.IsGauge(k) {
			acc.Counters[k] = v
		} else {
			acc.Counters[k] += v
		}
	}
	return acc
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

// batchNote says how the load generator grouped its sends, if it did.
func batchNote(sc *scenario.Scenario) string {
	b := sc.SendBatch
	slot := b.Slot(sc.PeakRate())
	if slot == 0 {
		return ""
	}
	where := ""
	if b == scenario.BatchAuto {
		where = fmt.Sprintf(" at %.0f requests/s and above", scenario.AutoBatchRate)
	}
	return fmt.Sprintf("the load generator grouped its sends in %s slots%s (send_batch %s): the requests due in a slot left together at its start, from which their response times count; --send-batch off sends each request at its own time", slot, where, b)
}
