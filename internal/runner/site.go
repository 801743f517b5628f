package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// Site is where the backend replicas and the paths of a run live: this host
// (the default), or a `meshbench serve` host driven over its control API.
// Run calls open once, startPath for every path of the plan, OpenWindow
// around every measured window and Close at the end.
type Site interface {
	// Open starts the backend replicas (none when a target is measured).
	Open(ctx context.Context, obs Observer) error
	// StartPath brings a path up; it answers once StartPath returns.
	StartPath(ctx context.Context, spec scenario.PathSpec) (paths.Instance, error)
	// OpenWindow is called as a measured window opens: it arms the
	// scenario's faults from now and starts whatever the site samples on
	// its own. The returned func closes the window: it cancels the faults
	// not yet fired and restores every replica, so that the next window
	// meets the same backend, and returns the site's host figures for the
	// window (nil for this host, which the runner samples itself).
	OpenWindow(ctx context.Context, w Window) (closeWindow func() (*results.HostStats, error), err error)
	// Host identifies the machine the paths run on; nil for this host.
	Host(ctx context.Context) *results.Host
	// Close stops everything the site started.
	Close()
}

// localSite runs the backend and the paths on this host.
type localSite struct {
	sc       *scenario.Scenario
	env      paths.Env
	bcfg     backend.Config
	replicas []*backend.Server
	// at is where the replicas and paths listen (zero: 127.0.0.1).
	at Listen
}

func newLocalSite(sc *scenario.Scenario, env Env, procs *proc.Group, tmp string) *localSite {
	bk := sc.Backend
	bcfg := backend.Config{Payload: bk.Payload, Delay: bk.Delay.D(), Distribution: bk.DelayDistribution, ErrorRate: bk.ErrorRate}
	return &localSite{
		sc:   sc,
		env:  paths.Env{Target: sc.Target, Self: env.Self, Log: env.Log, TempDir: tmp, Procs: procs, Backend: bcfg, Connections: sc.Connections, Profile: env.Profile},
		bcfg: bcfg,
	}
}

func (s *localSite) Open(ctx context.Context, obs Observer) error {
	if s.sc.Target != "" {
		return nil
	}
	// The replicas live as long as the run, not as ctx: an interrupted run
	// still stops its paths cleanly before close stops the replicas.
	var err error
	s.replicas, err = startReplicas(context.WithoutCancel(ctx), s.sc.Backend.Replicas, s.bcfg, s.at)
	if err != nil {
		return fmt.Errorf("starting the backend: %w", err)
	}
	for _, r := range s.replicas {
		s.env.Upstreams = append(s.env.Upstreams, upstream(r.Addr()))
	}
	obs.Line("backend: %d replicas on %v (payload %d B, delay %s)", len(s.replicas), s.env.Upstreams, s.bcfg.Payload, s.bcfg.Delay)
	return nil
}

func (s *localSite) StartPath(ctx context.Context, spec scenario.PathSpec) (paths.Instance, error) {
	env := s.env
	env.Host, env.Port = s.at.Host, s.at.Ports[spec.Name]
	return paths.Start(ctx, spec, env)
}

func (s *localSite) Host(context.Context) *results.Host { return nil }

func (s *localSite) Close() {
	for _, r := range s.replicas {
		r.Close()
	}
	s.replicas = nil
}

// OpenWindow arms the scenario's faults from the window's opening; closing
// the window disarms them and restores every replica.
func (s *localSite) OpenWindow(_ context.Context, w Window) (func() (*results.HostStats, error), error) {
	if len(s.sc.Faults) == 0 {
		return func() (*results.HostStats, error) { return nil, nil }, nil
	}
	opened := w.Opened
	if opened.IsZero() {
		opened = time.Now()
	}
	a := armFaults(opened, s.sc.Faults, s.replicas, s.bcfg)
	return func() (*results.HostStats, error) {
		return nil, errors.Join(a.disarm(), restoreReplicas(s.replicas, s.bcfg))
	}, nil
}
