package remote

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

// window is one measured window as every agent sees it: a barrier the
// agents pass together before their load starts, the server's own sampling
// from the first agent's opening to the last agent's closing, and the
// faults armed in between.
type window struct {
	n       int
	path    string
	arrived map[int]bool
	ready   chan struct{} // closed once every agent arrived
	failed  error         // set when the barrier timed out

	opened  bool
	sampler *hoststats.Sampler
	closeFn func() (*results.HostStats, error)

	closing   map[int]bool
	closeOnce sync.Once
	done      chan struct{} // closed once the window is closed
	stats     *results.HostStats
	closeErr  error
}

// window returns window n, made on first use. Agents must agree on its
// path. Windows two or more behind n are closed and forgotten: every agent
// is past them. Call with ss.mu held.
func (ss *session) window(n int, path string) (*window, error) {
	if ss.closed {
		return nil, errStatus(http.StatusConflict, "the session ended")
	}
	w, ok := ss.wins[n]
	if !ok {
		w = &window{n: n, path: path, arrived: map[int]bool{}, ready: make(chan struct{}), closing: map[int]bool{}, done: make(chan struct{})}
		ss.wins[n] = w
		for k, old := range ss.wins {
			if k < n-1 {
				go old.finish()
				delete(ss.wins, k)
			}
		}
	}
	if w.path != path {
		return nil, errStatus(http.StatusConflict, "window %d: one agent measures %s, another %s: give every agent the same scenario and flags", n, w.path, path)
	}
	return w, nil
}

// sync returns once every agent reached window n, or fails after the
// barrier timeout.
func (ss *session) sync(ctx context.Context, n int, req windowRequest) error {
	ss.mu.Lock()
	w, err := ss.window(n, req.Path)
	if err == nil && w.failed == nil {
		w.arrived[req.Agent] = true
		ss.check(w)
	}
	if err == nil {
		err = w.failed
	}
	ss.mu.Unlock()
	if err != nil {
		return err
	}
	t := time.NewTimer(ss.srv.barrier())
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-ss.ctx.Done():
		return errStatus(http.StatusConflict, "the session ended")
	case <-t.C:
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.present(w.arrived) == ss.count {
		return nil
	}
	w.failed = errStatus(http.StatusGatewayTimeout, "window %d (%s): %d of %d agents arrived within %s", n, w.path, len(w.arrived), ss.count, ss.srv.barrier())
	return w.failed
}

// present counts the agents in set and those that ended: an agent that
// ended (interrupted) is waited for no more. Call with ss.mu held.
func (ss *session) present(set map[int]bool) int {
	n := len(set)
	for a := range ss.ended {
		if !set[a] {
			n++
		}
	}
	return n
}

// check releases w's barrier once every agent is there and closes it once
// every agent closed it. Call with ss.mu held.
func (ss *session) check(w *window) {
	if ss.present(w.arrived) >= ss.count {
		select {
		case <-w.ready:
		default:
			close(w.ready)
		}
	}
	if w.opened && ss.present(w.closing) >= ss.count {
		go w.finish()
	}
}

// open starts the server's side of window n at the first agent's opening:
// its host sampler and the scenario's faults.
func (ss *session) open(n int, req windowRequest) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	w, err := ss.window(n, req.Path)
	if err != nil || w.opened {
		return err
	}
	w.opened = true
	if !ss.sc.HostStats.Disabled {
		w.sampler = hoststats.StartSampler(ss.ctx, ss.srv.cfg.Roots, ss.sc.HostStats.Interval.D())
	}
	w.closeFn, err = ss.site.OpenWindow(ss.ctx, runner.Window{N: n, Path: scenario.PathSpec{Name: req.Path}})
	return err
}

// close ends window n once every agent closed it (or the barrier timeout
// passed) and returns the server's figures for it, the same to every agent.
func (ss *session) close(ctx context.Context, n int, req windowRequest) (*results.HostStats, error) {
	ss.mu.Lock()
	w, ok := ss.wins[n]
	if !ok || !w.opened || w.path != req.Path {
		ss.mu.Unlock()
		return nil, errStatus(http.StatusConflict, "window %d (%s) is not open", n, req.Path)
	}
	w.closing[req.Agent] = true
	ss.check(w)
	ss.mu.Unlock()
	t := time.NewTimer(ss.srv.barrier())
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		w.finish()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return w.stats, w.closeErr
}

// finish closes the window once: the sampler stops and the faults are undone.
func (w *window) finish() {
	w.closeOnce.Do(func() {
		if w.sampler != nil {
			w.stats = w.sampler.Stop()
		}
		if w.closeFn != nil {
			_, w.closeErr = w.closeFn()
		}
		close(w.done)
	})
}
