package sidecar

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeClock is the proxy's clock in tests: it moves only when a scripted
// endpoint "takes time" or the test advances it.
type fakeClock struct {
	mu sync.Mutex
	ns int64
}

func (c *fakeClock) now() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.ns }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.ns += int64(d)
	c.mu.Unlock()
}

// outcome is what a scripted endpoint does with one attempt.
type outcome struct {
	status  int           // response status (ignored when err is set)
	latency time.Duration // how far the fake clock moves
	err     error         // transport error instead of a response
	hang    bool          // block until the attempt's context ends
}

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// script is a RoundTripper whose endpoints answer from functions the test
// writes, and which records every attempt.
type script struct {
	clock *fakeClock
	mu    sync.Mutex
	eps   map[string]func(n int, r *http.Request) outcome
	calls []string // hosts, in order
	body  []string // request bodies, in order
	count map[string]int
}

func newScript(c *fakeClock) *script {
	return &script{clock: c, eps: map[string]func(int, *http.Request) outcome{}, count: map[string]int{}}
}

func (s *script) on(host string, f func(n int, r *http.Request) outcome) { s.eps[host] = f }

func always(status int, lat time.Duration) func(int, *http.Request) outcome {
	return func(int, *http.Request) outcome { return outcome{status: status, latency: lat} }
}

func (s *script) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	s.mu.Lock()
	n := s.count[r.URL.Host]
	s.count[r.URL.Host]++
	s.calls = append(s.calls, r.URL.Host)
	s.body = append(s.body, string(b))
	f := s.eps[r.URL.Host]
	s.mu.Unlock()
	o := f(n, r)
	if o.hang {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	s.clock.advance(o.latency)
	if o.err != nil {
		return nil, o.err
	}
	return &http.Response{
		StatusCode: o.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "X-Upstream": {r.URL.Host}},
		Body:          io.NopCloser(strings.NewReader("body")),
		ContentLength: 4, Request: r,
	}, nil
}

func (s *script) hits(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[host]
}

// newTestProxy builds an outbound proxy over the given upstreams with a
// fake clock, a seeded random source and scripted endpoints.
func newTestProxy(t testing.TB, mod func(*Config), upstreams ...string) (*Proxy, *script, *fakeClock) {
	t.Helper()
	cfg := Default(Outbound)
	cfg.Upstreams = upstreams
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{}
	sc := newScript(clk)
	r := rand.New(rand.NewPCG(1, 2))
	p := newProxy(cfg, deps{now: clk.now, intn: r.IntN, float: r.Float64, rt: sc})
	return p, sc, clk
}

// do sends one request through p and returns the recorded response.
func do(p *Proxy, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequestWithContext(context.Background(), method, path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}
