package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

// session is one run on the server: the backend and paths of one scenario,
// shared by the run's agents (one, or N with run --share).
type session struct {
	srv    *Server
	sc     *scenario.Scenario
	key    []byte // the scenario's JSON: every agent must bring the same
	count  int
	ctx    context.Context
	cancel context.CancelFunc
	tmp    string
	site   runner.Site

	// startMu lets one path start at a time; teardown takes it to wait
	// for a start in progress.
	startMu sync.Mutex
	// usageMu keeps two agents from reading a proxy's counters at once.
	usageMu sync.Mutex

	mu     sync.Mutex
	joined map[int]bool
	ended  map[int]bool
	closed bool
	insts  map[string]paths.Instance
	wins   map[int]*window
}

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

// newSession checks what an agent asked for and starts the backend. Path
// specs are checked here, before anything starts, so that a scenario the
// server cannot run fails at once.
func (s *Server) newSession(req sessionRequest) (*session, error) {
	sc, key, err := s.decodeScenario(req.Scenario)
	if err != nil {
		return nil, err
	}
	if err := s.checkPorts(sc); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "meshbench-serve-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.base)
	ss := &session{
		srv: s, sc: sc, key: key, count: req.Agent.Count, ctx: ctx, cancel: cancel, tmp: tmp,
		joined: map[int]bool{req.Agent.Index: true}, ended: map[int]bool{},
		insts: map[string]paths.Instance{}, wins: map[int]*window{},
	}
	env := runner.Env{Self: s.cfg.Self, Roots: s.cfg.Roots, Log: s.cfg.Log}
	ss.site = runner.NewLocalSite(sc, env, tmp, runner.Listen{Host: s.host, BackendPort: s.cfg.Ports["direct"], Ports: s.cfg.Ports})
	if err := ss.site.Open(ctx, logObserver{s}); err != nil {
		ss.teardown()
		return nil, err
	}
	return ss, nil
}

// decodeScenario reads an agent's scenario strictly and checks it as a
// local run would, plus what only the server knows: the paths it offers.
func (s *Server) decodeScenario(raw json.RawMessage) (*scenario.Scenario, []byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var sc scenario.Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, nil, badRequest("scenario: %v", err)
	}
	if err := sc.Validate(); err != nil {
		return nil, nil, badRequest("scenario: %v", err)
	}
	if sc.Target != "" {
		return nil, nil, badRequest("scenario: a target is measured from the client, not through a serve host")
	}
	for _, p := range sc.Paths {
		if err := s.offers(p); err != nil {
			return nil, nil, err
		}
		if err := paths.Check(p, paths.Env{Self: s.cfg.Self, TempDir: os.TempDir()}); err != nil {
			return nil, nil, err
		}
	}
	key, err := json.Marshal(&sc)
	return &sc, key, err
}

// offers refuses a path the server does not offer. Without a scenario of
// its own the server runs the built-in kinds with the client's settings;
// an exec path runs a command, so it must come from the server's scenario.
func (s *Server) offers(p scenario.PathSpec) error {
	if s.cfg.Scenario == nil {
		if p.Kind == "exec" {
			return badRequest("path %s: this server runs exec paths only from its own scenario (meshbench serve SCENARIO)", p.Name)
		}
		return nil
	}
	if p.Kind == "direct" {
		return nil
	}
	for _, q := range s.cfg.Scenario.Paths {
		if q.Name == p.Name {
			a, _ := json.Marshal(q)
			b, _ := json.Marshal(p)
			if !bytes.Equal(a, b) {
				return badRequest("path %s: the server's scenario defines it differently: use the same scenario on both sides", p.Name)
			}
			return nil
		}
	}
	return badRequest("path %s: not offered by this server (its scenario has %s)", p.Name, pathNames(s.cfg.Scenario.Paths))
}

// checkPorts refuses fixed ports that collide: direct's replicas take
// consecutive ports from the one given, one per replica.
func (s *Server) checkPorts(sc *scenario.Scenario) error {
	base := s.cfg.Ports["direct"]
	if base == 0 {
		return nil
	}
	last := base + sc.Backend.Replicas - 1
	if last > 65535 {
		return badRequest("--path-ports direct=%d: %d replicas would need ports up to %d", base, sc.Backend.Replicas, last)
	}
	for name, p := range s.cfg.Ports {
		if name != "direct" && p >= base && p <= last {
			return badRequest("--path-ports: the %d replicas take ports %d-%d (direct=%d and up), which holds %s=%d; space the ports apart or use fewer replicas", sc.Backend.Replicas, base, last, base, name, p)
		}
	}
	if s.port >= base && s.port <= last {
		return badRequest("--path-ports: the %d replicas take ports %d-%d, which holds the control port %d", sc.Backend.Replicas, base, last, s.port)
	}
	return nil
}

// join adds another agent of the same run to the session.
func (ss *session) join(req sessionRequest) error {
	_, key, err := ss.srv.decodeScenario(req.Scenario)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.closed:
		return errStatus(http.StatusConflict, "the session ended")
	case req.Agent.Count != ss.count:
		return errStatus(http.StatusConflict, "a run with %d agents is in progress; this agent is one of %d", ss.count, req.Agent.Count)
	case ss.joined[req.Agent.Index]:
		return errStatus(http.StatusConflict, "agent %d of %d already joined the run in progress", req.Agent.Index, ss.count)
	case !bytes.Equal(key, ss.key):
		return errStatus(http.StatusConflict, "agent %d's scenario differs from the run in progress: give every agent the same scenario and flags", req.Agent.Index)
	}
	ss.joined[req.Agent.Index] = true
	return nil
}

// startPath brings a path up once; agents that ask again get the same one.
func (ss *session) startPath(spec scenario.PathSpec) (PathInfo, error) {
	if err := ss.srv.offers(spec); err != nil {
		return PathInfo{}, err
	}
	ss.startMu.Lock()
	defer ss.startMu.Unlock()
	ss.mu.Lock()
	inst, ok := ss.insts[spec.Name]
	closed := ss.closed
	ss.mu.Unlock()
	if closed {
		return PathInfo{}, errStatus(http.StatusConflict, "the session ended")
	}
	if !ok {
		var err error
		if inst, err = ss.site.StartPath(ss.ctx, spec); err != nil {
			return PathInfo{}, err
		}
		ss.mu.Lock()
		ss.insts[spec.Name] = inst
		ss.mu.Unlock()
		ss.srv.logf("started %s (%s): %v", spec.Name, spec.Kind, inst.Targets())
	}
	ports, err := targetPorts(inst.Targets())
	return PathInfo{Name: spec.Name, Kind: spec.Kind, Started: true, Ports: ports}, err
}

func targetPorts(targets []string) ([]int, error) {
	var out []int
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			return nil, err
		}
		p, err := strconv.Atoi(u.Port())
		if err != nil {
			return nil, fmt.Errorf("target %s has no port", t)
		}
		out = append(out, p)
	}
	return out, nil
}

func (ss *session) instance(name string) (paths.Instance, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	inst, ok := ss.insts[name]
	if !ok {
		return nil, errStatus(http.StatusNotFound, "path %s is not started", name)
	}
	return inst, nil
}

// usage reads a started path's proxy usage; nil for direct.
func (ss *session) usage(ctx context.Context, name string) (*results.Proxy, error) {
	inst, err := ss.instance(name)
	if err != nil {
		return nil, err
	}
	ss.usageMu.Lock()
	defer ss.usageMu.Unlock()
	return inst.Usage(ctx)
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

// end marks an agent done; the last one ends the session. It reports
// whether the session ended.
func (ss *session) end(agent int) bool {
	ss.mu.Lock()
	ss.ended[agent] = true
	last := len(ss.ended) >= ss.count
	for _, w := range ss.wins {
		ss.check(w)
	}
	ss.mu.Unlock()
	if last {
		ss.teardown()
	}
	return last
}

// teardown stops everything the session started: open windows, paths,
// replicas, and its temporary directory. It is safe to call twice.
func (ss *session) teardown() {
	ss.cancel()
	ss.startMu.Lock()
	defer ss.startMu.Unlock()
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	wins, insts := ss.wins, ss.insts
	ss.wins, ss.insts = nil, nil
	ss.mu.Unlock()
	for _, w := range wins {
		w.finish()
	}
	var errs []error
	for _, inst := range insts {
		errs = append(errs, inst.Stop())
	}
	ss.site.Close()
	errs = append(errs, os.RemoveAll(ss.tmp))
	if err := errors.Join(errs...); err != nil {
		ss.srv.logf("stopping the session: %v", err)
	}
}

// logObserver passes the local site's lines to the server's log.
type logObserver struct{ s *Server }

func (o logObserver) Line(format string, args ...any) { o.s.logf(format, args...) }
func (logObserver) Window(runner.Window, string)      {}
func (logObserver) Load(runner.Window, load.Progress) {}
func (logObserver) Done(runner.Window, *results.Path) {}

func pathNames(ps []scenario.PathSpec) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
