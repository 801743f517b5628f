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
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
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
	procs  *proc.Group // the session's processes and temp dir
	site   runner.Site

	// startMu lets one path start at a time; teardown takes it to wait
	// for a start in progress.
	startMu sync.Mutex
	// usageMu keeps two agents from reading a proxy's counters at once.
	usageMu sync.Mutex

	// used is when an agent last called (unix ns): a session nobody
	// calls any more gives way to a new run.
	used atomic.Int64

	mu     sync.Mutex
	joined map[int]bool
	ended  map[int]bool
	closed bool
	insts  map[string]paths.Instance
	wins   map[int]*window
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
	// The session owns its processes and temp dir: teardown stops exactly
	// what it started, and the reaper ends them if serve dies first.
	procs := proc.NewGroup()
	tmp, err := procs.TempDir()
	if err != nil {
		procs.Close(stopGrace)
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.base)
	ss := &session{
		srv: s, sc: sc, key: key, count: req.Agent.Count, ctx: ctx, cancel: cancel, procs: procs,
		joined: map[int]bool{req.Agent.Index: true}, ended: map[int]bool{},
		insts: map[string]paths.Instance{}, wins: map[int]*window{},
	}
	ss.used.Store(time.Now().UnixNano())
	env := runner.Env{Self: s.cfg.Self, Roots: s.cfg.Roots, Log: s.cfg.Log}
	ss.site = runner.NewLocalSite(sc, env, procs, tmp, runner.Listen{Host: s.host, BackendPort: s.cfg.Ports["direct"], Ports: s.cfg.Ports})
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

// abandoned reports whether no agent called for longer than a window with
// its warm-up lasts plus the time a window waits for an agent: the agents
// are gone (killed, or cut off) and will not end the session themselves.
func (ss *session) abandoned() bool {
	quiet := ss.srv.barrier() + ss.sc.Duration.D() + ss.sc.Warmup.D()
	return time.Since(time.Unix(0, ss.used.Load())) > quiet
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
	return PathInfo{Name: spec.Name, Kind: spec.Kind, Started: true, Ports: ports, Settings: inst.Settings()}, err
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
	errs = append(errs, ss.procs.Close(stopGrace))
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

// stopGrace is how long a session's processes get to end after SIGTERM.
const stopGrace = 2 * time.Second
