package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Group owns the children of one run. Its methods are safe for concurrent
// use; the zero value is not usable, call NewGroup.
type Group struct {
	mu     sync.Mutex
	live   map[*Process]struct{}
	closed bool
	dir    string // the run's temp dir, once made
}

// NewGroup returns an empty group.
func NewGroup() *Group { return &Group{live: map[*Process]struct{}{}} }

// ErrClosed is returned by Start once the group was closed: a start racing
// the end of its run must not leave a child nobody will stop.
var ErrClosed = errors.New("the run's process group is closed")

// Start starts spec's program in g. ctx only bounds the start: the child
// lives until Stop, StopAll or Close, so that a run whose context is
// cancelled can still read the proxy's usage before it stops it.
func (g *Group) Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.isClosed() {
		return nil, fmt.Errorf("start %s: %w", spec.Name, ErrClosed)
	}
	p, err := start(spec)
	if err != nil {
		return nil, err
	}
	p.group = g
	g.mu.Lock()
	closed := g.closed
	if !closed {
		g.live[p] = struct{}{}
	}
	g.mu.Unlock()
	if closed {
		// Close ran while the child was forked: it did not see this one.
		p.Stop(0)
		return nil, fmt.Errorf("start %s: %w", p.name, ErrClosed)
	}
	return p, nil
}

// Run starts spec's program in g, waits until it exits (or ctx ends, which
// stops it) and returns its output: for short commands such as a version
// query, which must not outlive meshbench either.
func (g *Group) Run(ctx context.Context, spec Spec) (string, error) {
	p, err := g.Start(ctx, spec)
	if err != nil {
		return "", err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
	}
	p.Stop(0)
	if err := ctx.Err(); err != nil {
		return p.Output(), err
	}
	return p.Output(), p.Err()
}

// StopAll stops every child of g not yet stopped, in parallel, each with
// grace. g stays usable.
func (g *Group) StopAll(grace time.Duration) error {
	var wg sync.WaitGroup
	live := g.Live()
	errs := make([]error, len(live))
	for i, p := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop(grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TempDir is the run's private directory for configs and keys: 0700, made
// on the first call, under the system's temp dir. Close removes it, and so
// does the reaper when meshbench dies without closing g.
func (g *Group) TempDir() (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return "", fmt.Errorf("temp dir: %w", ErrClosed)
	}
	if g.dir == "" {
		dir, err := makeTempDir()
		if err != nil {
			return "", err
		}
		g.dir = dir
	}
	return g.dir, nil
}

// Close stops every child of g, then removes its temp dir, and refuses new
// children. A run calls it on every exit path. Calling it again does
// nothing more.
func (g *Group) Close(grace time.Duration) error {
	g.mu.Lock()
	g.closed = true
	dir := g.dir
	g.dir = ""
	g.mu.Unlock()
	err := g.StopAll(grace)
	if dir != "" {
		if rerr := os.RemoveAll(dir); rerr != nil {
			// Left registered: the reaper tries again at exit.
			return errors.Join(err, fmt.Errorf("removing the run's temp dir: %w", rerr))
		}
		watchDir(dir, false)
	}
	return err
}

// Live lists the children started in g and not yet stopped, by pid. A child
// that exited on its own stays until stopped: its process group may still
// hold processes.
func (g *Group) Live() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*Process, 0, len(g.live))
	for p := range g.live {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

func (g *Group) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

func (g *Group) remove(p *Process) {
	g.mu.Lock()
	delete(g.live, p)
	g.mu.Unlock()
}
