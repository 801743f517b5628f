package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

// endTimeout bounds the call that ends the session, made also when the run
// was interrupted.
const endTimeout = 10 * time.Second

// Site is the client's side of a two-host run: a runner.Site whose backend
// and paths live on a serve host. The load goes to the host the URL names,
// at the ports the server reports, and nowhere else.
type Site struct {
	c       *Client
	sc      *scenario.Scenario
	share   Share
	host    results.Host
	barrier time.Duration
	opened  bool
}

var (
	_ runner.Site   = (*Site)(nil)
	_ runner.Syncer = (*Site)(nil)
)

// Dial reaches the server, checking its certificate and the token, and
// returns the site for sc; this agent's share of the run is share.
func Dial(ctx context.Context, c *Client, sc *scenario.Scenario, share Share) (*Site, error) {
	if err := share.Check(); err != nil {
		return nil, err
	}
	s := &Site{c: c, sc: sc, share: share, barrier: DefaultBarrierTimeout}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := c.call(cctx, http.MethodGet, "/v1/host", nil, &s.host); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens the session (or joins the one another agent opened): the
// server starts the backend replicas.
func (s *Site) Open(ctx context.Context, obs runner.Observer) error {
	raw, err := json.Marshal(s.sc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var resp sessionResponse
	if err := s.c.call(ctx, http.MethodPost, "/v1/session", sessionRequest{Scenario: raw, Agent: s.share}, &resp); err != nil {
		return err
	}
	s.opened = true
	if resp.BarrierTimeoutS > 0 {
		s.barrier = time.Duration(resp.BarrierTimeoutS * float64(time.Second))
	}
	obs.Line("server %s (%s): backend of %d replicas started; agent %d of %d", s.host.Hostname, s.c.Host(), s.sc.Backend.Replicas, s.share.Index, s.share.Count)
	return nil
}

// StartPath asks the server to bring the path up and returns it as the
// load generator sees it: the server's ports on the URL's host.
func (s *Site) StartPath(ctx context.Context, spec scenario.PathSpec) (paths.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var info PathInfo
	if err := s.c.call(ctx, http.MethodPost, "/v1/paths", startPathRequest{Spec: spec}, &info); err != nil {
		return nil, fmt.Errorf("path %s: %w", spec.Name, err)
	}
	if len(info.Ports) == 0 {
		return nil, fmt.Errorf("path %s: the server reported no port", spec.Name)
	}
	in := &instance{site: s, name: spec.Name, settings: info.Settings}
	for _, p := range info.Ports {
		in.targets = append(in.targets, "http://"+net.JoinHostPort(s.c.Host(), strconv.Itoa(p)))
	}
	return in, nil
}

// SyncWindow waits at the server until every agent reached window w, and
// returns this agent's phase: agent I of N sends (I-1)/N of its own
// request interval later than agent 1, so that together they send as
// evenly as one generator at the full rate.
func (s *Site) SyncWindow(ctx context.Context, w runner.Window) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.barrier+callTimeout)
	defer cancel()
	if err := s.c.call(ctx, http.MethodPost, windowPath(w, "sync"), s.windowReq(w), nil); err != nil {
		return 0, err
	}
	return Phase(s.share, w.Step.Rate.RPS), nil
}

// Phase is the schedule delay of share at its own rate rps (requests/s).
func Phase(sh Share, rps float64) time.Duration {
	if sh.Count <= 1 || rps <= 0 {
		return 0
	}
	return time.Duration(float64(sh.Index-1) / float64(sh.Count) / rps * float64(time.Second))
}

// OpenWindow tells the server the window opened: it starts sampling its
// host and arms the faults. Closing returns the server's host figures.
func (s *Site) OpenWindow(ctx context.Context, w runner.Window) (func() (*results.HostStats, error), error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := s.c.call(cctx, http.MethodPost, windowPath(w, "open"), s.windowReq(w), nil); err != nil {
		return nil, err
	}
	return func() (*results.HostStats, error) {
		// Closing happens also after an interrupt: the server must restore
		// its replicas and stop sampling either way.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.barrier+callTimeout)
		defer cancel()
		var resp closeResponse
		err := s.c.call(cctx, http.MethodPost, windowPath(w, "close"), s.windowReq(w), &resp)
		return resp.HostStats, err
	}, nil
}

func windowPath(w runner.Window, op string) string {
	return "/v1/windows/" + strconv.Itoa(w.N) + "/" + op
}

func (s *Site) windowReq(w runner.Window) windowRequest {
	return windowRequest{Agent: s.share.Index, Path: w.Path.Name}
}

// Host is the server's machine.
func (s *Site) Host(context.Context) *results.Host { return &s.host }

// Close tells the server this agent is done; the last agent's Close makes
// it stop every path and replica.
func (s *Site) Close() {
	if !s.opened {
		return
	}
	s.opened = false
	ctx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	s.c.call(ctx, http.MethodPost, "/v1/session/end", endRequest{Agent: s.share.Index}, nil)
}

// instance is a path on the server.
type instance struct {
	site     *Site
	name     string
	targets  []string
	settings map[string]string
}

func (in *instance) Targets() []string { return in.targets }

// Settings are the path's effective settings as the server started it.
func (in *instance) Settings() map[string]string { return in.settings }

// Usage is the server's reading of the path's proxies.
func (in *instance) Usage(ctx context.Context) (*results.Proxy, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var resp usageResponse
	err := in.site.c.call(ctx, http.MethodGet, "/v1/paths/"+url.PathEscape(in.name)+"/usage", nil, &resp)
	return resp.Usage, err
}

// Stop does nothing: the path is shared by every agent of the run, and the
// server stops it when the session ends.
func (in *instance) Stop() error { return nil }
