package sidecar

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// h1Transport is the sidecar's HTTP/1.1 client toward plain upstreams for
// requests without a body, which is nearly all of a benchmark's and most
// of an API's traffic. net/http's Transport runs two goroutines per
// connection (a reader and a writer) and hands every request and response
// between them and the caller through channels; at a sidecar's rates those
// hand-offs and their allocations cost more CPU than the proxying. Here the
// caller's own goroutine writes the request head and reads the response
// head on a pooled connection; the response body is read from the same
// connection, which goes back to the pool at the body's end.
//
// Requests with a body, and anything else unusual (a TLS upstream), go to
// the full net/http Transport, which also streams a request body while the
// response arrives.
type h1Transport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback    http.RoundTripper
	maxIdle     int
	idleTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*h1Conn // per upstream address, most recently used last
}

// maxResponseHead bounds the status line and headers of a response, so that
// an upstream cannot grow the sidecar's memory with an endless head.
const maxResponseHead = 1 << 20

// max1xx is how many informational responses may precede the final one.
const max1xx = 5

func newH1Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), fallback http.RoundTripper, maxIdle int, idleTimeout time.Duration) *h1Transport {
	return &h1Transport{dial: dial, fallback: fallback, maxIdle: maxIdle, idleTimeout: idleTimeout, idle: map[string][]*h1Conn{}}
}

// lean reports whether req takes the lean path.
func lean(req *http.Request) bool {
	return req.URL.Scheme == "http" && (req.Body == nil || req.Body == http.NoBody) && req.ContentLength <= 0
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !lean(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	for {
		pc, reused, err := t.get(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		// A connection from the pool that the upstream closed while it
		// sat idle fails before any byte of a response: the request goes
		// again on a new connection, as net/http's Transport does.
		var nr *notAnswered
		if !reused || ctx.Err() != nil || !errors.As(err, &nr) || !(nr.unsent || idempotent(req.Method)) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// notAnswered is a failure before the first byte of a response; unsent
// says the request itself could not be written.
type notAnswered struct {
	err    error
	unsent bool
}

func (e *notAnswered) Error() string { return e.err.Error() }
func (e *notAnswered) Unwrap() error { return e.err }

// get returns an idle connection to addr (reused) or dials a new one.
func (t *h1Transport) get(ctx context.Context, addr string) (*h1Conn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	for list := t.idle[addr]; len(list) > 0; list = t.idle[addr] {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		if now.Sub(pc.idleSince) < t.idleTimeout {
			t.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	t.mu.Unlock()
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	pc := &h1Conn{t: t, addr: addr, c: c}
	pc.lr = limitedConn{c: c, n: -1}
	pc.br = bufio.NewReaderSize(&pc.lr, 4<<10)
	pc.bw = bufio.NewWriterSize(c, 4<<10)
	return pc, false, nil
}

// put returns pc to the pool, or closes it when the pool is full.
func (t *h1Transport) put(pc *h1Conn) {
	pc.idleSince = time.Now()
	t.mu.Lock()
	list := t.idle[pc.addr]
	if len(list) < t.maxIdle {
		t.idle[pc.addr] = append(list, pc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	pc.c.Close()
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.c.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// h1Conn is one keep-alive connection to an upstream; it carries one
// exchange at a time.
type h1Conn struct {
	t         *h1Transport
	addr      string
	c         net.Conn
	lr        limitedConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// limitedConn reads from c, at most n more bytes while n >= 0.
type limitedConn struct {
	c net.Conn
	n int64
}

var errHeadTooLarge = errors.New("upstream response head too large")

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n >= 0 {
		if l.n == 0 {
			return 0, errHeadTooLarge
		}
		p = p[:min(int64(len(p)), l.n)]
	}
	n, err := l.c.Read(p)
	if l.n >= 0 {
		l.n -= int64(n)
	}
	return n, err
}

// aLongTimeAgo is a deadline that has passed: setting it wakes a blocked
// read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the head of its response. The response
// body reads from the connection; its end (or Close) releases it.
func (pc *h1Conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	// The request's context ends the exchange at any point, the body
	// included: an expired deadline wakes whatever waits on the socket.
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.c.Close()
		return nil, err
	}
	if err := writeRequestHead(pc.bw, req); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(&notAnswered{err: err, unsent: true})
	}
	pc.lr.n = maxResponseHead
	if _, err := pc.br.Peek(1); err != nil {
		return fail(&notAnswered{err: err})
	}
	var resp *http.Response
	for i := 0; ; i++ {
		var err error
		if resp, err = http.ReadResponse(pc.br, req); err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if i == max1xx {
			return fail(errors.New("too many 1xx responses from the upstream"))
		}
	}
	pc.lr.n = -1
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The sidecar strips Upgrade from what it forwards; a switch it
		// did not ask for is a broken upstream.
		return fail(errors.New("upstream switched protocols unasked"))
	}
	resp.Body = &h1Body{pc: pc, body: resp.Body, stop: stop, close: resp.Close}
	return resp, nil
}

// writeRequestHead writes the request line and headers as net/http's
// Transport would for a request without a body: its Host, every header but
// the framing ones, and Content-Length: 0 for the methods that expect a
// body.
func writeRequestHead(w *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if strings.ContainsAny(host, "\r\n ") {
		return errors.New("invalid Host " + strconv.Quote(host))
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	if req.URL.Opaque != "" {
		w.WriteString(req.URL.Opaque)
	} else {
		p := req.URL.EscapedPath()
		if p == "" {
			p = "/"
		}
		w.WriteString(p)
	}
	if req.URL.RawQuery != "" || req.URL.ForceQuery {
		w.WriteByte('?')
		w.WriteString(req.URL.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				return errors.New("invalid value for header " + k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	_, err := w.WriteString("\r\n")
	return err
}

// h1Body is a response body read from a pooled connection. At its end the
// connection goes back to the pool, unless the upstream said it closes it,
// the request's context fired, or bytes follow the response; closed early,
// the connection is closed with it.
type h1Body struct {
	pc    *h1Conn
	body  io.ReadCloser
	stop  func() bool
	close bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.finish(b.body == http.NoBody)
	}
	return nil
}

func (b *h1Body) finish(complete bool) {
	b.done = true
	stopped := b.stop()
	if complete && stopped && !b.close && b.pc.br.Buffered() == 0 {
		b.pc.t.put(b.pc)
		return
	}
	b.pc.c.Close()
}
