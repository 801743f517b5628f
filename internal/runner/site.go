package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	client   *http.Client
	// at is where the replicas and paths listen (zero: 127.0.0.1).
	at Listen
}

func newLocalSite(sc *scenario.Scenario, env Env, procs *proc.Group, tmp string) *localSite {
	bk := sc.Backend
	bcfg := backend.Config{Payload: bk.Payload, Delay: bk.Delay.D(), Distribution: bk.DelayDistribution, ErrorRate: bk.ErrorRate}
	return &localSite{
		sc:     sc,
		env:    paths.Env{Target: sc.Target, Self: env.Self, Log: env.Log, TempDir: tmp, Procs: procs, Backend: bcfg, Connections: sc.Connections},
		bcfg:   bcfg,
		client: &http.Client{Timeout: time.Second},
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

func (s *localSite) OpenWindow(context.Context, Window) (func() (*results.HostStats, error), error) {
	if len(s.sc.Faults) == 0 {
		return func() (*results.HostStats, error) { return nil, nil }, nil
	}
	var timers []*time.Timer
	for _, f := range s.sc.Faults {
		if f.Replica >= len(s.replicas) {
			continue
		}
		r := s.replicas[f.Replica]
		timers = append(timers, time.AfterFunc(f.At.D(), func() {
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
	return func() (*results.HostStats, error) {
		for _, t := range timers {
			t.Stop()
		}
		return nil, s.restore()
	}, nil
}

// restore undoes the faults between windows: rates and delays are reset, and
// a killed replica is started again on its old port.
func (s *localSite) restore() error {
	var errs []error
	for i, r := range s.replicas {
		if err := r.SetErrorRate(s.bcfg.ErrorRate); err != nil {
			errs = append(errs, err)
		}
		if err := r.SetDelay(s.bcfg.Delay); err != nil {
			errs = append(errs, err)
		}
		if s.answers(r.URL()) {
			continue
		}
		r.Close()
		nr, err := startOn(r.Addr(), s.bcfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("restarting replica %d: %w", i, err))
			continue
		}
		s.replicas[i] = nr
	}
	return errors.Join(errs...)
}

func (s *localSite) answers(url string) bool {
	resp, err := s.client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// startOn starts a replica on a given address, retrying briefly while the
// kernel still holds the old listener's port.
func startOn(addr string, cfg backend.Config) (*backend.Server, error) {
	var err error
	for range 20 {
		var s *backend.Server
		if s, err = backend.Start(context.Background(), addr, cfg); err == nil {
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}
