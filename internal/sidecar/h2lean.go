package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// h2Server is the inbound sidecar's side of the mesh hop: HTTP/2 on the
// TLS connections net/http accepted and handed over by ALPN. One reader
// goroutine per connection parses frames; each request stream runs the
// proxy on a goroutine of its own, which writes the response's HEADERS and
// DATA itself under the connection's write lock and flushes them once, as
// one TLS record (h2conn.go says why). x/net's server would move each
// request through a read loop, a serve loop, the handler and a writer.
type h2Server struct {
	p   *Proxy
	srv *http.Server // IdleTimeout, ReadHeaderTimeout, MaxHeaderBytes, ErrorLog

	mu       sync.Mutex
	conns    map[*h2ServerConn]struct{}
	shutdown bool
}

// h2MaxStreams is the SETTINGS_MAX_CONCURRENT_STREAMS the server
// advertises (x/net's default).
const h2MaxStreams = 250

// serveMeshH2 makes srv serve the mesh hop's HTTP/2 with p: net/http
// accepts the connection and completes the TLS handshake, and ALPN h2
// hands it to the lean server. Shutdown sends every connection GOAWAY and
// closes it once its requests are done (at the latest after
// shutdownGrace).
func serveMeshH2(srv *http.Server, p *Proxy) {
	s := &h2Server{p: p, srv: srv, conns: map[*h2ServerConn]struct{}{}}
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		http2.NextProtoTLS: func(_ *http.Server, c *tls.Conn, _ http.Handler) { s.serveConn(c) },
	}
	srv.RegisterOnShutdown(s.startShutdown)
}

func (s *h2Server) startShutdown() {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*h2ServerConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		sc.shutdown(http2.ErrCodeNo)
		time.AfterFunc(shutdownGrace, func() { sc.c.Close() })
	}
}

// h2ServerConn is one client connection (an outbound sidecar).
type h2ServerConn struct {
	h2Framing
	s      *h2Server
	tls    *tls.ConnectionState
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the request goroutines
	idle   *time.Timer

	// Under mu (after wmu when both are held).
	mu        sync.Mutex
	streams   map[uint32]*h2ServerStream
	maxID     uint32 // the highest stream the client opened
	goingAway bool   // GOAWAY sent or received: no new streams
	dead      bool
}

// h2ServerStream is one request.
type h2ServerStream struct {
	sc       *h2ServerConn
	id       uint32
	in       h2Inbox // the request body
	declared int64   // the body's Content-Length, -1 if none
	received int64
	trailer  http.Header
	sendWin  int32 // under wmu
	reset    error // under mu: the stream may send no more
	ctx      context.Context
	cancel   context.CancelFunc
	w        h2ResponseWriter
}

func (s *h2Server) serveConn(c *tls.Conn) {
	st := c.ConnectionState()
	sc := &h2ServerConn{s: s, tls: &st, remote: c.RemoteAddr().String(), streams: map[uint32]*h2ServerStream{}}
	sc.init(c, uint32(max(s.srv.MaxHeaderBytes, 4<<10)))
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
	}()
	err := sc.handshake()
	if err == nil {
		sc.idle = time.AfterFunc(idleOr(s.srv.IdleTimeout), func() { sc.shutdown(http2.ErrCodeNo) })
		err = sc.readFrames()
		sc.idle.Stop()
	}
	sc.die(err)
	sc.wg.Wait()
}

func idleOr(d time.Duration) time.Duration {
	if d <= 0 {
		return 90 * time.Second
	}
	return d
}

// handshake reads the client preface and its SETTINGS and sends this
// side's, within ReadHeaderTimeout.
func (sc *h2ServerConn) handshake() error {
	sc.c.SetReadDeadline(deadline(sc.s.srv.ReadHeaderTimeout))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(sc.br, preface[:]); err != nil {
		return err
	}
	if string(preface[:]) != http2.ClientPreface {
		sc.goAway(0, http2.ErrCodeProtocol)
		return errors.New("http2: bad client preface")
	}
	sc.wmu.Lock()
	sc.writeSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: sc.fr.MaxHeaderListSize},
	)
	err := sc.flush()
	sc.wmu.Unlock()
	if err != nil {
		return err
	}
	f, err := sc.fr.ReadFrame()
	if err != nil {
		return err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		sc.goAway(0, http2.ErrCodeProtocol)
		return errors.New("http2: first frame from the client is not SETTINGS")
	}
	if err := sc.applySettings(sf, sc.adjustWindows); err != nil {
		sc.goAway(0, http2.ErrCodeProtocol)
		return err
	}
	return sc.c.SetReadDeadline(time.Time{})
}

func (sc *h2ServerConn) readFrames() error {
	for {
		f, err := sc.fr.ReadFrame()
		if err == nil {
			err = sc.handle(f)
		}
		if err == nil {
			continue
		}
		var se http2.StreamError
		if errors.As(err, &se) {
			sc.resetStream(se.StreamID, se.Code, se)
			continue
		}
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			sc.mu.Lock()
			last := sc.maxID
			sc.mu.Unlock()
			sc.goAway(last, http2.ErrCode(ce))
		} else if errors.Is(err, http2.ErrFrameTooLarge) {
			sc.goAway(0, http2.ErrCodeFrameSize)
		}
		return err
	}
}

func (sc *h2ServerConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return sc.onHeaders(f)
	case *http2.DataFrame:
		return sc.onData(f)
	case *http2.RSTStreamFrame:
		sc.onReset(f)
	case *http2.SettingsFrame:
		return sc.applySettings(f, sc.adjustWindows)
	case *http2.PingFrame:
		sc.ping(f)
	case *http2.WindowUpdateFrame:
		return sc.windowUpdate(f, sc.sendWindowOf)
	case *http2.GoAwayFrame:
		sc.mu.Lock()
		sc.goingAway = true
		sc.mu.Unlock()
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients do not push
	}
	return nil
}

// shutdown sends GOAWAY: the streams opened so far finish, no new one is
// served, and the connection closes when the last one ends.
func (sc *h2ServerConn) shutdown(code http2.ErrCode) {
	sc.mu.Lock()
	if sc.goingAway && code == http2.ErrCodeNo {
		sc.mu.Unlock()
		return
	}
	sc.goingAway = true
	last, none := sc.maxID, len(sc.streams) == 0
	sc.mu.Unlock()
	sc.goAway(last, code)
	if none {
		sc.closeGracefully()
	}
}

// closeGracefully ends the connection after what was written: the TLS
// close_notify tells the client, whose own close ends the reader (or a
// second passes).
func (sc *h2ServerConn) closeGracefully() {
	if tc, ok := sc.c.(*tls.Conn); ok {
		sc.wmu.Lock()
		tc.CloseWrite()
		sc.wmu.Unlock()
	}
	sc.c.SetReadDeadline(time.Now().Add(time.Second))
}

// die ends the connection: request contexts are canceled and writers
// fail.
func (sc *h2ServerConn) die(err error) {
	sc.closeWrites(errH2Closed)
	sc.c.Close()
	sc.mu.Lock()
	sc.dead = true
	for _, st := range sc.streams {
		if st.reset == nil {
			st.reset = errH2Closed
		}
		if st.in.err == nil && !st.in.end {
			st.in.err = errH2Closed
		}
		st.in.signal()
	}
	sc.mu.Unlock()
	sc.cancel()
}
