package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Server serves the sidecar's plain-text listener. Requests without a
// body (the common case) are read, proxied and answered on the
// connection's own goroutine, one at a time, with no per-request goroutine:
// net/http's server starts one per request to watch for the client going
// away, with a read that fails with EAGAIN, and at a sidecar's rates that
// and its response machinery cost more CPU than the proxying. The first
// request on a connection that is anything else (a body, Upgrade, Expect,
// HTTP/2 with prior knowledge, a malformed or oversized head) moves the
// whole connection, with the bytes already read, to net/http's server,
// which answers it and everything after it exactly as it always does.
type h1Server struct {
	p   *Proxy
	srv *http.Server // the fallback, serving handed-over connections
	ln  net.Listener
	off *handoffListener

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*h1ServerConn]struct{}
	wg      sync.WaitGroup
}

// watchAfter is how long a request may wait for its upstream before the
// server starts watching its client connection for a close (which cancels
// the request, as net/http's server does at once).
const watchAfter = 20 * time.Millisecond

// newH1Server serves ln (once Serve is called) with p, and srv for what
// the lean path hands over.
func newH1Server(p *Proxy, srv *http.Server, ln net.Listener) *h1Server {
	return &h1Server{p: p, srv: srv, ln: ln, conns: map[*h1ServerConn]struct{}{},
		off: &handoffListener{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}}
}

// Serve accepts connections until the listener is closed.
func (s *h1Server) Serve() error {
	ln := s.ln
	go s.srv.Serve(s.off)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			// Out of descriptors, say: wait and go on, as net/http does.
			if ne, ok := err.(net.Error); ok && ne.Temporary() { //lint:ignore SA1019 what net/http's Serve checks
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		s.p.m.open.Add(1)
		s.p.m.accepted.Add(1)
		hc := newH1ServerConn(s, c)
		s.conns[hc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go hc.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish (their connections close after the response) until ctx
// ends, then closes what is left, and shuts the fallback server down.
func (s *h1Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.idle.Load() {
				c.c.Close()
			}
		}
		s.mu.Unlock()
		select {
		case <-done:
			return s.srv.Shutdown(ctx)
		case <-ctx.Done():
			// Out of time: end the requests still in flight too, as the
			// close would end them under net/http's server.
			s.mu.Lock()
			for c := range s.conns {
				c.cancel()
				c.c.Close()
			}
			s.mu.Unlock()
			s.srv.Shutdown(ctx)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// handoffListener feeds the fallback server the connections the lean path
// gave up.
type handoffListener struct {
	net.Listener // for Addr
	conns        chan net.Conn
	done         chan struct{}
	once         sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// replayConn reads prefix before the connection's own bytes.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// h1ServerConn is one client connection on the lean path.
type h1ServerConn struct {
	s      *h1Server
	c      net.Conn
	br     *bufio.Reader
	w      h1Writer
	idle   atomic.Bool // waiting for a request head (Shutdown may close it)
	head   []byte      // a copy of the current head, to replay on handoff
	remote string      // the client's address, for Request.RemoteAddr

	ctx    context.Context
	cancel context.CancelFunc
	// The lazy watch for a client that goes away mid-request.
	watch     *time.Timer
	watchDone chan struct{}
	// mu orders the connection goroutine's use of the reader before the
	// watch's (a timer's start is no synchronisation for the race detector).
	mu sync.Mutex
}

func newH1ServerConn(s *h1Server, c net.Conn) *h1ServerConn {
	hc := &h1ServerConn{s: s, c: c, br: bufio.NewReaderSize(c, 4<<10), watchDone: make(chan struct{}, 1)}
	hc.w.bw = bufio.NewWriterSize(c, 4<<10)
	hc.w.header = http.Header{}
	hc.ctx, hc.cancel = context.WithCancel(context.Background())
	hc.watch = time.AfterFunc(time.Hour, hc.watchClient)
	hc.watch.Stop()
	return hc
}

func (hc *h1ServerConn) serve() {
	handedOff := false
	defer func() {
		hc.cancel()
		hc.watch.Stop()
		hc.s.mu.Lock()
		delete(hc.s.conns, hc)
		hc.s.mu.Unlock()
		hc.s.p.m.open.Add(-1)
		if !handedOff {
			hc.c.Close()
		}
		hc.s.wg.Done()
	}()
	for !hc.s.closing.Load() {
		req, ok := hc.readRequest()
		if req == nil {
			if ok {
				handedOff = true
				hc.handoff()
			}
			return
		}
		if !hc.serveRequest(req) {
			return
		}
	}
}

// handoff gives the connection, with the head read so far and whatever
// followed it, to the fallback server, which counts it as its own.
func (hc *h1ServerConn) handoff() {
	prefix := append(hc.head, peekAll(hc.br)...)
	// net/http's ConnState counts it again; the deferred accounting in
	// serve takes it out of the open ones.
	hc.s.p.m.accepted.Add(-1)
	select {
	case hc.s.off.conns <- &replayConn{Conn: hc.c, prefix: prefix}:
	case <-hc.s.off.done:
		hc.c.Close()
	}
}

func peekAll(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// readRequest waits for the next request head and parses it. It returns
// the request, or nil and whether the connection is to be handed over
// (false: it is finished).
func (hc *h1ServerConn) readRequest() (*http.Request, bool) {
	hc.head = hc.head[:0]
	hc.idle.Store(true)
	hc.c.SetReadDeadline(deadline(hc.s.srv.IdleTimeout))
	if _, err := hc.br.Peek(1); err != nil {
		return nil, false
	}
	hc.idle.Store(false)
	hc.c.SetReadDeadline(deadline(hc.s.srv.ReadHeaderTimeout))
	end := -1
	for end < 0 {
		buf := peekAll(hc.br)
		if end = headEnd(buf); end >= 0 {
			break
		}
		if len(buf) == hc.br.Size() {
			return nil, true // a head larger than the buffer
		}
		if _, err := hc.br.Peek(len(buf) + 1); err != nil {
			return nil, len(buf) > 0 // what came so far is net/http's to judge
		}
	}
	buf, _ := hc.br.Peek(end)
	hc.head = append(hc.head, buf...)
	req, err := http.ReadRequest(hc.br)
	if err != nil || !leanRequest(req) {
		// hc.head holds the head, the reader what followed it.
		return nil, true
	}
	hc.c.SetReadDeadline(time.Time{})
	if hc.remote == "" {
		hc.remote = hc.c.RemoteAddr().String()
	}
	req.RemoteAddr = hc.remote
	return req, true
}

// deadline is d from now, or none for 0 (as net/http's server reads its
// timeouts).
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// headEnd is the length of the request head at the start of b (up to and
// including the empty line), or -1 if it is not all there yet.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// leanRequest reports whether req is one the lean path serves: HTTP/1.x in
// origin form, no body, exactly one valid Host (for 1.1), valid header
// fields, nothing that changes the exchange (Upgrade, Expect) and not
// CONNECT. Everything else goes to net/http.
func leanRequest(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.Method == http.MethodConnect || req.ContentLength != 0 ||
		req.TransferEncoding != nil || len(req.RequestURI) == 0 || req.RequestURI[0] != '/' {
		return false
	}
	// ReadRequest moved the Host field to req.Host (and refused two).
	if req.Host == "" && req.ProtoMinor >= 1 || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// serveRequest runs the proxy for req and finishes the response; it
// reports whether the connection stays open for another request.
func (hc *h1ServerConn) serveRequest(req *http.Request) (keep bool) {
	// The connection's context is the request's: a client that left
	// ends both.
	hc.mu.Lock()
	req = req.WithContext(hc.ctx)
	hc.mu.Unlock()
	w := &hc.w
	w.reset(req, hc.s.closing.Load())
	hc.watch.Reset(watchAfter)
	defer func() {
		if !hc.watch.Stop() {
			// The watch started: wake it and wait until it is done
			// with the reader.
			hc.c.SetReadDeadline(aLongTimeAgo)
			<-hc.watchDone
		}
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				hc.s.srv.ErrorLog.Printf("http: panic serving %v: %v\n%s", req.RemoteAddr, v, debug.Stack())
			}
			keep = false
		}
	}()
	hc.s.p.ServeHTTP(w, req)
	return w.finish() && !hc.s.closing.Load() && hc.ctx.Err() == nil
}

// watchClient reads ahead on a client connection whose request waits for
// its upstream: the client closing it ends the request. Pipelined bytes
// stay in the reader for the next request.
func (hc *h1ServerConn) watchClient() {
	hc.mu.Lock()
	_, err := hc.br.Peek(1)
	hc.mu.Unlock()
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			hc.cancel()
		}
	}
	hc.watchDone <- struct{}{}
}
