package remote

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// DefaultBarrierTimeout is how long a window waits for the agents that have
// not reached it: agents start at different times, and their first paths
// may take seconds to come up.
const DefaultBarrierTimeout = 2 * time.Minute

// Config is a serve host's setup.
type Config struct {
	// Listen is the control API's IP:port. The backend replicas and the
	// paths listen on the same IP.
	Listen string
	// TokenFile holds the token and the certificate's fingerprint; it is
	// written (mode 0600) at start, keeping the token of an existing file.
	TokenFile string
	// Scenario, when set, is what the server offers: only its paths, as it
	// defines them. Exec paths run only this way.
	Scenario *scenario.Scenario
	// Ports fixes listen ports by path name; "direct" is the first
	// replica's, and replica i takes the port i above it.
	Ports map[string]int
	// IdleTimeout ends the server after that long without a request
	// carrying the token (0: never).
	IdleTimeout time.Duration
	// BarrierTimeout bounds how long a window waits for every agent (0:
	// DefaultBarrierTimeout).
	BarrierTimeout time.Duration
	// Once ends the server when its first session ends.
	Once bool
	// Self is the meshbench executable, for the sidecar paths.
	Self  string
	Roots hoststats.Roots
	// Log receives one line per event (io.Discard when nil).
	Log io.Writer
}

// Server is a started serve host: listening, with its credentials written.
type Server struct {
	cfg      Config
	host     string // the IP everything listens on
	port     int    // the control API's port
	ln       net.Listener
	creds    Credentials
	identity results.Host

	base     context.Context // cancelled when the server stops
	stop     context.CancelFunc
	logMu    sync.Mutex
	doneOnce sync.Once
	done     chan struct{}
	why      string

	mu   sync.Mutex
	sess *session

	inflight atomic.Int64
	last     atomic.Int64 // unix nanoseconds of the last request with the token
}

// New makes the certificate, writes the token file and listens. Nothing
// else starts until a client with the token asks.
func New(ctx context.Context, cfg Config) (*Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil || net.ParseIP(host) == nil {
		return nil, errext.BadInputf("--listen %q: want IP:PORT, e.g. 10.0.0.5:7400 (0.0.0.0:7400 for every interface)", cfg.Listen)
	}
	port, _ := strconv.Atoi(portStr)
	for name, p := range cfg.Ports {
		if p == port && port != 0 {
			return nil, errext.BadInputf("--path-ports %s=%d: that is the control API's port", name, p)
		}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cert, leaf, err := newCertificate(host, time.Now())
	if err != nil {
		return nil, err
	}
	creds, err := prepareCredentials(cfg.TokenFile, leaf)
	if err != nil {
		return nil, err
	}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, host: host, port: tcp.Addr().(*net.TCPAddr).Port, creds: creds, done: make(chan struct{})}
	s.ln = tls.NewListener(tcp, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
	s.base, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.identity = hoststats.Identify(ctx, cfg.Roots)
	s.last.Store(time.Now().UnixNano())
	return s, nil
}

// Addr is the control API's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Credentials are what the token file holds.
func (s *Server) Credentials() Credentials { return s.creds }

func (s *Server) barrier() time.Duration {
	if s.cfg.BarrierTimeout > 0 {
		return s.cfg.BarrierTimeout
	}
	return DefaultBarrierTimeout
}

func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "meshbench serve: "+format+"\n", args...)
}

// shutdown ends Serve, saying why.
func (s *Server) shutdown(why string) {
	s.doneOnce.Do(func() {
		s.why = why
		close(s.done)
	})
}

// Serve answers the control API until ctx is done, the idle timeout
// passes, or (with Once) the first session ends. Whatever the reason, it
// stops every path and replica it started before it returns.
func (s *Server) Serve(ctx context.Context) error {
	hs := &http.Server{
		Handler:           s.guard(s.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(&logWriter{s}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	s.logf("control API on https://%s, token in %s", s.Addr(), s.cfg.TokenFile)
	var tick <-chan time.Time
	if s.cfg.IdleTimeout > 0 {
		t := time.NewTicker(min(max(s.cfg.IdleTimeout/4, 10*time.Millisecond), 5*time.Second))
		defer t.Stop()
		tick = t.C
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			s.shutdown("interrupted")
		case <-s.done:
			break loop
		case err = <-errc:
			s.shutdown("the listener failed")
		case <-tick:
			idle := time.Since(time.Unix(0, s.last.Load()))
			if s.inflight.Load() == 0 && idle > s.cfg.IdleTimeout {
				s.shutdown(fmt.Sprintf("idle for %s", s.cfg.IdleTimeout.Round(time.Millisecond)))
			}
		}
	}
	s.logf("stopping: %s", s.why)
	s.stop()
	s.mu.Lock()
	sess := s.sess
	s.sess = nil
	s.mu.Unlock()
	if sess != nil {
		sess.teardown()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// guard lets through only requests with the token, and limits their body.
// It runs before any handler, so a refused request starts nothing.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !sameToken(tok, s.creds.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="meshbench serve"`)
			writeError(w, errStatus(http.StatusUnauthorized, "missing or wrong token"))
			return
		}
		s.inflight.Add(1)
		defer func() {
			s.last.Store(time.Now().UnixNano())
			s.inflight.Add(-1)
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/host", answer(func(*http.Request) (any, error) { return s.identity, nil }))
	mux.HandleFunc("POST /v1/session", answer(s.handleSession))
	mux.HandleFunc("POST /v1/session/end", answer(s.handleEnd))
	mux.HandleFunc("GET /v1/paths", answer(s.handleList))
	mux.HandleFunc("POST /v1/paths", answer(func(r *http.Request) (any, error) {
		var req startPathRequest
		ss, err := s.current(r, &req)
		if err != nil {
			return nil, err
		}
		return ss.startPath(req.Spec)
	}))
	mux.HandleFunc("GET /v1/paths/{name}/usage", answer(func(r *http.Request) (any, error) {
		ss, err := s.current(r, nil)
		if err != nil {
			return nil, err
		}
		u, err := ss.usage(r.Context(), r.PathValue("name"))
		return usageResponse{Usage: u}, err
	}))
	mux.HandleFunc("POST /v1/windows/{n}/{op}", answer(s.handleWindow))
	return mux
}

func (s *Server) handleSession(r *http.Request) (any, error) {
	var req sessionRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := req.Agent.Check(); err != nil {
		return nil, badRequest("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil && s.sess.abandoned() {
		s.logf("ending a run whose agents stopped calling")
		s.sess.teardown()
		s.sess = nil
	}
	if s.sess != nil {
		if err := s.sess.join(req); err != nil {
			return nil, err
		}
	} else {
		ss, err := s.newSession(req)
		if err != nil {
			return nil, err
		}
		s.sess = ss
	}
	s.logf("agent %d/%d joined (scenario %q)", req.Agent.Index, req.Agent.Count, s.sess.sc.Name)
	return sessionResponse{BarrierTimeoutS: s.barrier().Seconds()}, nil
}

func (s *Server) handleEnd(r *http.Request) (any, error) {
	var req endRequest
	ss, err := s.current(r, &req)
	if err != nil {
		return nil, err
	}
	if !ss.end(req.Agent) {
		return struct{}{}, nil
	}
	s.mu.Lock()
	if s.sess == ss {
		s.sess = nil
	}
	s.mu.Unlock()
	s.logf("session ended: everything it started is stopped")
	if s.cfg.Once {
		s.shutdown("the session ended (--once)")
	}
	return struct{}{}, nil
}

// handleList says which paths the server offers and where they listen.
func (s *Server) handleList(*http.Request) (any, error) {
	var specs []scenario.PathSpec
	if s.cfg.Scenario != nil {
		specs = s.cfg.Scenario.Paths
	} else {
		for _, k := range paths.Known() {
			if k != "exec" {
				specs = append(specs, scenario.PathSpec{Name: k, Kind: k})
			}
		}
	}
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	var out []PathInfo
	for _, p := range specs {
		info := PathInfo{Name: p.Name, Kind: p.Kind, FixedPort: s.cfg.Ports[p.Name]}
		if ss != nil {
			if inst, err := ss.instance(p.Name); err == nil {
				info.Started = true
				info.Ports, _ = targetPorts(inst.Targets())
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *Server) handleWindow(r *http.Request) (any, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return nil, badRequest("window %q: want a number from 1", r.PathValue("n"))
	}
	var req windowRequest
	ss, err := s.current(r, &req)
	if err != nil {
		return nil, err
	}
	switch r.PathValue("op") {
	case "sync":
		return struct{}{}, ss.sync(r.Context(), n, req)
	case "open":
		return struct{}{}, ss.open(n, req)
	case "close":
		hs, err := ss.close(r.Context(), n, req)
		return closeResponse{HostStats: hs}, err
	}
	return nil, errStatus(http.StatusNotFound, "no window operation %q", r.PathValue("op"))
}

// current decodes the request into v (when not nil) and returns the
// session in progress.
func (s *Server) current(r *http.Request, v any) (*session, error) {
	if v != nil {
		if err := decode(r, v); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, errStatus(http.StatusConflict, "no run in progress: open a session first")
	}
	s.sess.used.Store(time.Now().UnixNano())
	return s.sess, nil
}

// decode reads a JSON body strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	return nil
}

// answer turns a handler's value or error into a JSON answer.
func answer(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := errorBody{Error: err.Error(), BadInput: errext.IsBadInput(err) || slices.Contains([]int{400, 409, 413}, status)}
	json.NewEncoder(w).Encode(body)
}

func badRequest(format string, args ...any) error {
	return errext.AsBadInput(errStatus(http.StatusBadRequest, format, args...))
}

// logWriter passes the HTTP server's own messages (TLS handshake errors)
// to the server's log.
type logWriter struct{ s *Server }

func (l *logWriter) Write(b []byte) (int, error) {
	l.s.logf("%s", strings.TrimSpace(string(b)))
	return len(b), nil
}
