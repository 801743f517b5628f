// Package backend is the test backend every path ends at: an HTTP/1.1 and
// h2c server that answers with a fixed-size payload after an added delay, and
// fails a chosen share of requests with 500.
//
// It is meant to cost as little as possible per request, so that what a path
// adds is not hidden in backend noise: the payload is built once, delays use
// the precise timer of package timer rather than Go's coarse timers, and the
// delay and error draws come from one seeded generator, so a run can be
// repeated. Error rate and delay can be changed while it serves, and a
// replica can be put into a fault mode (blackhole, reset, killed) and back
// (faults.go), for fault scenarios.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/meshbench/meshbench/internal/timer"
)

// Delay distributions.
const (
	Fixed       = "fixed"
	Exponential = "exponential"
	Uniform     = "uniform"
)

// MaxPayload bounds the response size; larger bodies measure the network, not a hop.
const MaxPayload = 64 << 20

// Config is what a backend answers. The zero value answers an empty 200 at once.
type Config struct {
	// Payload is the response body size in bytes.
	Payload int
	// Delay is the added service time: exact for fixed, the mean for
	// exponential and uniform (uniform draws from [0, 2×Delay]).
	Delay time.Duration
	// Distribution is fixed (the default when empty), exponential or uniform.
	Distribution string
	// Added is a fixed delay on top of the drawn one, for every answer: the
	// known effect of a calibration path (a direct path with added_delay).
	Added time.Duration
	// ErrorRate is the share of requests answered 500, in [0,1].
	ErrorRate float64
	// Seed seeds the delay and error draws (0 is a seed like any other).
	Seed int64
}

// Validate says what is wrong with c, if anything.
func (c Config) Validate() error {
	switch {
	case c.Payload < 0 || c.Payload > MaxPayload:
		return fmt.Errorf("payload %d is out of range (0 to %d bytes)", c.Payload, MaxPayload)
	case c.Delay < 0:
		return fmt.Errorf("delay %s is negative", c.Delay)
	case c.Added < 0:
		return fmt.Errorf("added delay %s is negative", c.Added)
	case math.IsNaN(c.ErrorRate) || c.ErrorRate < 0 || c.ErrorRate > 1:
		return fmt.Errorf("error rate %g is not in [0,1]", c.ErrorRate)
	}
	switch c.Distribution {
	case "", Fixed, Exponential, Uniform:
	default:
		return fmt.Errorf("delay distribution %q is not fixed, exponential or uniform", c.Distribution)
	}
	return nil
}

// Server is one running backend replica.
type Server struct {
	// addr is where the replica listens, fixed at Start: a killed replica
	// listens there again when it is revived.
	addr string
	tm   *timer.Timer
	// life guards the listener and HTTP server of the current life of the
	// replica (a kill ends one, a revival starts the next) and closed.
	life   sync.Mutex
	srv    *http.Server
	done   chan struct{} // closed when the current Serve returns
	closed bool
	// gone is closed by Close: the replica is stopped for good.
	gone chan struct{}

	// mode is the fault mode (a Mode); connMu guards conns, the open
	// connections, and hold, which a blackhole's held requests wait on.
	mode   atomic.Int32
	connMu sync.Mutex
	conns  map[*conn]struct{}
	hold   chan struct{}

	payload []byte
	// Header values shared by every response, built once.
	okLen, errLen, ctype []string

	dist      string
	delay     atomic.Int64  // ns
	added     time.Duration // fixed, on top of the drawn delay
	errorRate atomic.Uint64 // float64 bits

	mu  sync.Mutex
	rng *rand.Rand

	requests, failures atomic.Int64
	closeOnce          sync.Once
	closeErr           error
}

var errBody = []byte("meshbench backend: injected error\n")

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves until
// ctx is done or Close is called.
func Start(ctx context.Context, addr string, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	s := &Server{
		addr:    ln.Addr().String(),
		gone:    make(chan struct{}),
		conns:   map[*conn]struct{}{},
		tm:      timer.Default(),
		payload: make([]byte, cfg.Payload),
		okLen:   []string{strconv.Itoa(cfg.Payload)},
		errLen:  []string{strconv.Itoa(len(errBody))},
		ctype:   []string{"application/octet-stream"},
		dist:    cfg.Distribution,
		added:   cfg.Added,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d657368)),
	}
	for i := range s.payload {
		s.payload[i] = 'a' + byte(i%26)
	}
	s.delay.Store(int64(cfg.Delay))
	s.errorRate.Store(math.Float64bits(cfg.ErrorRate))
	s.serve(ln)
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.gone:
		}
	}()
	return s, nil
}

// serve starts a life of the replica on ln. The caller holds s.life or is
// Start.
func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           h2c.NewHandler(s, &http2.Server{}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// A request can reach its own connection, to reset it.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	done := make(chan struct{})
	s.srv, s.done = srv, done
	go func() {
		defer close(done)
		// Serve returns ErrServerClosed on Close; anything else means the
		// listener broke, and Close reports the same state.
		_ = srv.Serve(&listener{Listener: ln, s: s})
	}()
}

// StartReplicas starts n backends on 127.0.0.1 with kernel-chosen ports.
// Replica i draws from Seed+i, so replicas differ but a run repeats.
func StartReplicas(ctx context.Context, n int, cfg Config) ([]*Server, error) {
	if n < 1 {
		return nil, fmt.Errorf("replicas %d: need at least 1", n)
	}
	var out []*Server
	for i := 0; i < n; i++ {
		c := cfg
		c.Seed = cfg.Seed + int64(i)
		s, err := Start(ctx, "127.0.0.1:0", c)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Addr is the host:port the backend listens on (or did, and will again
// when revived, while it is killed).
func (s *Server) Addr() string { return s.addr }

// URL is the backend's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// SetErrorRate changes the share of requests answered 500 from now on.
func (s *Server) SetErrorRate(f float64) error {
	if math.IsNaN(f) || f < 0 || f > 1 {
		return fmt.Errorf("error rate %g is not in [0,1]", f)
	}
	s.errorRate.Store(math.Float64bits(f))
	return nil
}

// SetDelay changes the added delay (the mean, for random distributions) from now on.
func (s *Server) SetDelay(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("delay %s is negative", d)
	}
	s.delay.Store(int64(d))
	return nil
}

// Counts returns the requests served and the ones failed on purpose.
func (s *Server) Counts() (requests, failures int64) {
	return s.requests.Load(), s.failures.Load()
}

// Close stops listening and drops every connection at once (a killed
// replica, as far as clients can tell), for good: it cannot be revived.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.life.Lock()
		defer s.life.Unlock()
		s.closed = true
		s.closeErr = s.stop()
		s.release()
		close(s.gone)
	})
	return s.closeErr
}

// stop ends the current life, if the replica is serving: the listener and
// every connection are closed. The caller holds s.life.
func (s *Server) stop() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	// Connections the HTTP server no longer tracks (those h2c took over)
	// are closed too.
	s.connMu.Lock()
	open := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.connMu.Unlock()
	for _, c := range open {
		c.Close()
	}
	s.srv = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// draw picks this request's delay and whether it fails.
func (s *Server) draw() (time.Duration, bool) {
	mean := s.delay.Load()
	rate := math.Float64frombits(s.errorRate.Load())
	if mean == 0 && rate == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := mean
	switch s.dist {
	case Exponential:
		d = int64(s.rng.ExpFloat64() * float64(mean))
	case Uniform:
		d = int64(s.rng.Float64() * 2 * float64(mean))
	}
	fail := rate > 0 && s.rng.Float64() < rate
	return time.Duration(d), fail
}

// ServeHTTP answers one request, unless a fault mode says otherwise.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.requests.Add(1)
	s.fault(r)
	if r.Body != nil {
		// Read the whole request, as a real service would, before answering.
		_, _ = io.Copy(io.Discard, r.Body)
	}
	d, fail := s.draw()
	d += s.added
	if d > 0 {
		s.tm.SleepUntil(start.Add(d))
	}
	h := w.Header()
	h["Content-Type"] = s.ctype
	if fail {
		s.failures.Add(1)
		h["Content-Length"] = s.errLen
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(errBody)
		return
	}
	h["Content-Length"] = s.okLen
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.payload)
}
