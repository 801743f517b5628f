package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// h2Transport is the outbound sidecar's client for the mesh hop: HTTP/2
// over mutual TLS to inbound sidecars, one connection per peer. The
// request's own goroutine encodes and writes its HEADERS (and a small
// body) and flushes them once; the connection's reader goroutine parses
// the response and wakes the request once, when the frames that have
// arrived are all parsed, so that a small response (HEADERS and DATA with
// END_STREAM, usually one TLS record) costs one hand-off. Requests whose
// body is large or of unknown length, or that find the connection at the
// peer's stream limit, go to the fallback (x/net's Transport).
type h2Transport struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	tls      *tls.Config
	fallback http.RoundTripper
	// handshake bounds the TLS handshake; 0 means none.
	handshake time.Duration
	// idlePing is how long a connection may be silent before it is
	// checked (h2IdlePing).
	idlePing time.Duration

	mu    sync.Mutex
	peers map[string]*h2Peer
}

// h2Peer holds the connection to one inbound sidecar; mu serialises dials.
type h2Peer struct {
	mu sync.Mutex
	cc atomic.Pointer[h2ClientConn]
}

// h2MaxBody is the largest request body the lean client carries: it is
// read whole before the connection's write lock is taken.
const h2MaxBody = 64 << 10

// h2Retries bounds how often a request the peer refused unprocessed
// (GOAWAY, REFUSED_STREAM) is sent again.
const h2Retries = 3

func newH2Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), tc *tls.Config, fallback http.RoundTripper, handshake time.Duration) *h2Transport {
	return &h2Transport{dial: dial, tls: tc, fallback: fallback, handshake: handshake, idlePing: h2IdlePing, peers: map[string]*h2Peer{}}
}

// leanH2 reports whether req takes the lean client.
func leanH2(req *http.Request) bool {
	return req.URL.Scheme == "https" && req.Trailer == nil && req.Method != http.MethodConnect &&
		(req.Body == nil || req.Body == http.NoBody || req.ContentLength > 0 && req.ContentLength <= h2MaxBody)
}

func (t *h2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !leanH2(req) {
		return t.fallback.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body = make([]byte, req.ContentLength)
		_, err := io.ReadFull(req.Body, body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		cc, err := t.conn(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := cc.roundTrip(req, body)
		var r *h2Refused
		switch {
		case err == nil:
			return resp, nil
		case errors.Is(err, errH2Busy):
			out := *req
			if body != nil {
				out.Body = io.NopCloser(bytes.NewReader(body))
			}
			return t.fallback.RoundTrip(&out)
		case errors.As(err, &r) && attempt < h2Retries && ctx.Err() == nil:
			continue
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			return nil, err
		}
	}
}

// conn returns the live connection to addr, dialling one if there is none.
func (t *h2Transport) conn(ctx context.Context, addr string) (*h2ClientConn, error) {
	t.mu.Lock()
	p := t.peers[addr]
	if p == nil {
		p = &h2Peer{}
		t.peers[addr] = p
	}
	t.mu.Unlock()
	if cc := p.cc.Load(); cc != nil && !cc.closed.Load() {
		return cc, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cc := p.cc.Load(); cc != nil && !cc.closed.Load() {
		return cc, nil
	}
	cc, err := t.dialConn(ctx, addr)
	if err != nil {
		return nil, err
	}
	p.cc.Store(cc)
	return cc, nil
}

// dialConn connects to addr, completes the TLS handshake (ALPN h2) and
// starts the connection's reader.
func (t *h2Transport) dialConn(ctx context.Context, addr string) (*h2ClientConn, error) {
	raw, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, t.tls)
	hctx := ctx
	if t.handshake > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, t.handshake)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		tc.Close()
		return nil, errors.New("mesh peer " + addr + " did not negotiate h2 (ALPN " + p + ")")
	}
	cc := &h2ClientConn{streams: map[uint32]*h2ClientStream{}, nextID: 1}
	cc.init(tc, maxResponseHead)
	cc.wmu.Lock()
	io.WriteString(cc.bw, http2.ClientPreface)
	cc.writeSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxResponseHead},
	)
	err = cc.flush()
	cc.wmu.Unlock()
	if err != nil {
		tc.Close()
		return nil, err
	}
	go cc.readLoop(t.idlePing)
	return cc, nil
}

// CloseIdleConnections closes the peers' connections that carry no
// stream, and the fallback's idle ones.
func (t *h2Transport) CloseIdleConnections() {
	t.mu.Lock()
	for _, p := range t.peers {
		if cc := p.cc.Load(); cc != nil {
			cc.closeIfIdle()
		}
	}
	t.mu.Unlock()
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// h2PingTimeout is how long a suspect connection's PING may go unanswered
// before the connection is taken for dead (x/net's Transport waits as long
// with the sidecar's settings).
var h2PingTimeout = 5 * time.Second

// h2PingData marks the client's own PING.
var h2PingData = [8]byte{'m', 'e', 's', 'h', 'p', 'i', 'n', 'g'}

// suspect checks a connection on which a request timed out or was
// canceled: a peer that died without closing (a host gone, a partition)
// answers nothing, and without the check every later request would wait
// on it until its own timeout. The PING is skipped if a writer holds the
// connection (it may be stuck on the dead peer); no answer closes it all
// the same.
func (cc *h2ClientConn) suspect() {
	if cc.closed.Load() || !cc.pinging.CompareAndSwap(false, true) {
		return
	}
	cc.pingAcked.Store(false)
	time.AfterFunc(h2PingTimeout, func() {
		if !cc.pingAcked.Load() {
			cc.c.Close() // the reader fails what is still open
		}
		cc.pinging.Store(false)
	})
	if cc.wmu.TryLock() {
		if cc.werr == nil && cc.fail(cc.fr.WritePing(false, h2PingData)) == nil {
			cc.flush()
		}
		cc.wmu.Unlock()
	}
}

// errH2Busy: the connection is at the peer's limit of concurrent streams.
var errH2Busy = errors.New("http2: peer's stream limit reached")

// h2Refused is a request the peer did not process (a stream above its
// GOAWAY's last stream, or REFUSED_STREAM): it may be sent again anywhere.
type h2Refused struct{ err error }

func (e *h2Refused) Error() string { return e.err.Error() }
func (e *h2Refused) Unwrap() error { return e.err }

// h2ClientConn is one connection to an inbound sidecar.
type h2ClientConn struct {
	h2Framing
	closed atomic.Bool // no new streams: GOAWAY came, or the connection ended
	// A request that gave up waiting makes the connection suspect: a PING
	// must come back within h2PingTimeout, or it is closed.
	pinging, pingAcked atomic.Bool
	// framesRead counts the frames the reader parsed, for watchIdle.
	framesRead atomic.Uint64

	// Under mu (after wmu when both are held).
	mu        sync.Mutex
	streams   map[uint32]*h2ClientStream
	nextID    uint32
	gotGoAway bool
	dead      error
	dirty     []*h2ClientStream // reader only: streams to wake
	informed  int               // reader only
}

// h2ClientStream is one request in flight.
type h2ClientStream struct {
	id       uint32
	req      *http.Request
	idem     bool // the method is idempotent: a lost connection may retry it
	informed int  // 1xx responses so far
	in       h2Inbox
	resp     *http.Response // set by the reader when the final headers came
	trailer  http.Header
	body     h2ClientBody
	got      int64 // response body bytes received, for bodyLengthOK
	sendWin  int32 // under wmu
	reset    error // under mu: RST_STREAM or GOAWAY ended the sending side
}
