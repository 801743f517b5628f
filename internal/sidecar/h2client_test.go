package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rtFunc is a RoundTripper made of a function: the lean client's fallback
// in these tests, which records that it was used.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var errNoFallback = errors.New("the fallback transport was used")

func noFallback(*http.Request) (*http.Response, error) { return nil, errNoFallback }

func leanClient(certs meshCerts, fallback http.RoundTripper) *h2Transport {
	return newH2Transport(fastDial(&net.Dialer{}), certs.client, fallback, 5*time.Second)
}

func roundTrip(t testing.TB, rt http.RoundTripper, method, url string, body []byte) (*http.Response, []byte, error) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestH2ClientWithXNetServer: the lean client against golang.org/x/net's
// HTTP/2 server: a small answer, 1 MiB (four times the client's stream
// window), a request body, trailers, and 50 streams at once, all on one
// connection and none through the fallback.
func TestH2ClientWithXNetServer(t *testing.T) {
	certs := newMeshCerts(t)
	ts := httptest.NewUnstartedServer(newTestApp())
	ts.TLS = certs.server
	var conns atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if err := http2.ConfigureServer(ts.Config, &http2.Server{}); err != nil {
		t.Fatal(err)
	}
	ts.StartTLS()
	defer ts.Close()
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	base := "https://" + ts.Listener.Addr().String()

	resp, b, err := roundTrip(t, tr, "GET", base+"/", nil)
	if err != nil || resp.StatusCode != 200 || string(b) != "hello" || resp.ProtoMajor != 2 {
		t.Fatalf("GET /: %v %v %q", err, resp, b)
	}
	_, b, err = roundTrip(t, tr, "GET", base+"/big?n=1048576", nil)
	if err != nil || !bytes.Equal(b, pattern(1<<20)) {
		t.Errorf("GET 1 MiB: %v, %d bytes", err, len(b))
	}
	resp, b, err = roundTrip(t, tr, "POST", base+"/echo", pattern(10000))
	if err != nil || resp.Header.Get("X-Got") != "10000" || !bytes.Equal(b, pattern(10000)) {
		t.Errorf("POST 10000 bytes: %v, X-Got %q", err, resp.Header.Get("X-Got"))
	}
	resp, b, err = roundTrip(t, tr, "GET", base+"/trailer", nil)
	if err != nil || string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("trailer: %v %q %v", err, b, resp.Trailer)
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 1 + i*3001
			_, b, err := roundTrip(t, tr, "GET", fmt.Sprintf("%s/big?n=%d", base, n), nil)
			if err != nil || !bytes.Equal(b, pattern(n)) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 || conns.Load() != 1 {
		t.Errorf("%d of 50 concurrent streams failed; %d connections (want 1)", bad.Load(), conns.Load())
	}
}

// peerConn is one connection of a scripted HTTP/2 server.
type peerConn struct {
	t   testing.TB
	c   *tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// startRawPeer accepts TLS connections with the mesh's server certificate
// and runs serve on each (n counts them from 1) after reading the preface.
func startRawPeer(t testing.TB, certs meshCerts, serve func(n int, p *peerConn)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", certs.server)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second)) // only against a hung test
				var pre [len(http2.ClientPreface)]byte
				if _, err := io.ReadFull(c, pre[:]); err != nil {
					return
				}
				p := &peerConn{t: t, c: c.(*tls.Conn), fr: http2.NewFramer(c, c)}
				p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				p.enc = hpack.NewEncoder(&p.buf)
				serve(n, p)
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake sends SETTINGS and a PING and reads until the client
// acknowledged both; it returns the streams the client opened meanwhile.
func (p *peerConn) handshake(s ...http2.Setting) []uint32 {
	p.fr.WriteSettings(s...)
	p.fr.WritePing(false, [8]byte{1, 2, 3})
	var opened []uint32
	settingsAck, pingAck := false, false
	for !settingsAck || !pingAck {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Errorf("peer: handshake: %v", err)
			return opened
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			settingsAck = settingsAck || f.IsAck()
		case *http2.PingFrame:
			pingAck = pingAck || f.IsAck() && f.Data == [8]byte{1, 2, 3}
		case *http2.MetaHeadersFrame:
			opened = append(opened, f.StreamID)
		}
	}
	return opened
}

// firstStream is the first stream the client opened: during the handshake
// (opened) or after it.
func (p *peerConn) firstStream(opened []uint32) uint32 {
	if len(opened) > 0 {
		return opened[0]
	}
	return p.nextStream()
}

// nextStream reads until the client opens a stream.
func (p *peerConn) nextStream() uint32 {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return 0
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			return h.StreamID
		}
	}
}

// respond writes a response head and, unless body is nil, body.
func (p *peerConn) respond(id uint32, status int, body []byte, end bool, fields ...string) {
	p.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	for i := 0; i+1 < len(fields); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.buf.Bytes(),
		EndHeaders: true, EndStream: end && body == nil})
	p.buf.Reset()
	if body != nil {
		p.fr.WriteData(id, end, body)
	}
}

// TestH2ClientGoAway: a GOAWAY that excludes the request, and then a
// REFUSED_STREAM on the next connection, both send it again (on a new
// connection, and on the same one), and it succeeds; PING and SETTINGS are
// acknowledged.
func TestH2ClientGoAway(t *testing.T) {
	certs := newMeshCerts(t)
	var conns atomic.Int32
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		conns.Add(1)
		id := p.firstStream(p.handshake())
		if n == 1 {
			p.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			p.nextStream() // until the client closes
			return
		}
		p.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		id = p.nextStream()
		p.respond(id, 200, []byte("second"), true)
		p.nextStream()
	})
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	resp, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
	if err != nil || resp.StatusCode != 200 || string(b) != "second" {
		t.Fatalf("after GOAWAY and REFUSED_STREAM: %v %q", err, b)
	}
	if conns.Load() != 2 {
		t.Errorf("%d connections, want 2", conns.Load())
	}
}

// TestH2ClientPeerClosesMidStream: the peer closes the connection in the
// middle of a response body: the body read fails (it does not end as if
// complete), and the next request gets a new connection.
func TestH2ClientPeerClosesMidStream(t *testing.T) {
	certs := newMeshCerts(t)
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake())
		if n == 1 {
			p.respond(id, 200, pattern(1000), false, "content-length", "100000")
			// Close after what was written (a plain close with the
			// client's frames unread would reset the connection, and
			// the reset could destroy the response before it is read).
			p.c.CloseWrite()
			p.nextStream()
			return
		}
		p.respond(id, 200, []byte("fine"), true)
		p.nextStream()
	})
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	_, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
	if err == nil {
		t.Fatalf("a body cut off after %d bytes read as complete", len(b))
	}
	t.Logf("cut off after %d bytes: %v", len(b), err)
	_, b, err = roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
	if err != nil || string(b) != "fine" {
		t.Errorf("next request: %v %q", err, b)
	}
}

// TestH2ClientStreamLimit: with the peer's MAX_CONCURRENT_STREAMS taken,
// a request goes to the fallback transport instead of a stream the peer
// would refuse.
func TestH2ClientStreamLimit(t *testing.T) {
	certs := newMeshCerts(t)
	opened := make(chan struct{})
	release := make(chan struct{})
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1}))
		close(opened)
		<-release
		p.respond(id, 200, []byte("first"), true)
		p.nextStream()
	})
	var fallbacks atomic.Int32
	tr := leanClient(certs, rtFunc(func(r *http.Request) (*http.Response, error) {
		fallbacks.Add(1)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("fallback")), Request: r}, nil
	}))
	defer tr.CloseIdleConnections()
	first := make(chan string, 1)
	go func() {
		_, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
		first <- fmt.Sprint(string(b), err)
	}()
	<-opened
	_, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
	if err != nil || string(b) != "fallback" || fallbacks.Load() != 1 {
		t.Errorf("second request at the limit: %v %q, %d fallbacks", err, b, fallbacks.Load())
	}
	close(release)
	if s := <-first; s != "first<nil>" {
		t.Errorf("first request: %s", s)
	}
}

// TestH2ClientHeaderLimit: a response head larger than the client's limit
// fails the request instead of growing the sidecar's memory.
func TestH2ClientHeaderLimit(t *testing.T) {
	certs := newMeshCerts(t)
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake())
		p.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		p.enc.WriteField(hpack.HeaderField{Name: "x-huge", Value: strings.Repeat("h", maxResponseHead+1)})
		block := p.buf.Bytes()
		p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:16384], EndStream: true})
		for block = block[16384:]; len(block) > 0; {
			k := min(len(block), 16384)
			if p.fr.WriteContinuation(id, k == len(block), block[:k]) != nil {
				return
			}
			block = block[k:]
		}
		p.nextStream()
	})
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	if resp, _, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil); err == nil {
		t.Errorf("a %d-byte response head was accepted: %v", maxResponseHead, resp.Status)
	} else {
		t.Logf("refused: %v", err)
	}
}

// TestH2ClientDeadPeer: a peer that stops answering (here: it reads and
// ignores everything, PINGs included) is taken for dead once a request on
// it times out and a PING goes unanswered: the connection is closed, and
// the next request dials a new one.
func TestH2ClientDeadPeer(t *testing.T) {
	defer func(d time.Duration) { h2PingTimeout = d }(h2PingTimeout)
	h2PingTimeout = 50 * time.Millisecond
	certs := newMeshCerts(t)
	closed := make(chan struct{})
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake())
		if n == 1 {
			for {
				if _, err := p.fr.ReadFrame(); err != nil {
					close(closed)
					return
				}
			}
		}
		p.respond(id, 200, []byte("alive"), true)
		p.nextStream()
	})
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Fatal("a peer that answers nothing answered")
	}
	<-closed
	_, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil)
	if err != nil || string(b) != "alive" {
		t.Errorf("after the dead connection: %v %q", err, b)
	}
}

// TestH2ClientFlowControl: a request body larger than the peer's windows
// (1000 bytes per stream, as its SETTINGS say, and the connection's 65535)
// is sent as the peer's WINDOW_UPDATEs allow, whole and in order.
func TestH2ClientFlowControl(t *testing.T) {
	certs := newMeshCerts(t)
	body := pattern(h2MaxBody)
	got := make(chan []byte, 1)
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		// A GET first, so that the client knows the windows before the POST.
		id := p.firstStream(p.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000}))
		p.respond(id, 200, []byte("hi"), true)
		var b []byte
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				got <- b
				return
			}
			d, ok := f.(*http2.DataFrame)
			if !ok {
				continue
			}
			if len(d.Data()) > 1000 {
				t.Errorf("a DATA frame of %d bytes with a 1000-byte window", len(d.Data()))
			}
			b = append(b, d.Data()...)
			if d.StreamEnded() {
				got <- b
				p.respond(d.StreamID, 200, []byte(strconv.Itoa(len(b))), true)
				p.nextStream()
				return
			}
			if len(d.Data()) > 0 {
				p.fr.WriteWindowUpdate(d.StreamID, uint32(len(d.Data())))
				p.fr.WriteWindowUpdate(0, uint32(len(d.Data())))
			}
		}
	})
	tr := leanClient(certs, rtFunc(noFallback))
	defer tr.CloseIdleConnections()
	if _, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil); err != nil || string(b) != "hi" {
		t.Fatalf("GET: %v %q", err, b)
	}
	_, b, err := roundTrip(t, tr, "POST", "https://"+addr+"/", body)
	if err != nil || string(b) != strconv.Itoa(len(body)) {
		t.Errorf("POST %d bytes: %v %q", len(body), err, b)
	}
	if sent := <-got; !bytes.Equal(sent, body) {
		t.Errorf("the peer received %d bytes, not the body", len(sent))
	}
}

// TestH2ClientBodyLength: a response body shorter or longer than its
// content-length fails to read instead of passing for complete; one that
// matches, and a HEAD response whose content-length describes a body it
// does not carry, read cleanly.
func TestH2ClientBodyLength(t *testing.T) {
	certs := newMeshCerts(t)
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake())
		for {
			switch n {
			case 1:
				p.respond(id, 200, []byte("short"), true, "content-length", "10")
			case 2:
				p.respond(id, 200, []byte("much too long"), true, "content-length", "4")
			case 3:
				p.respond(id, 200, []byte("exact"), true, "content-length", "5")
			default:
				p.respond(id, 200, nil, false, "content-length", "1234")
				p.fr.WriteData(id, true, nil)
			}
			if id = p.nextStream(); id == 0 {
				return
			}
		}
	})
	cases := []struct {
		method string
		ok     bool
		body   string
	}{{"GET", false, ""}, {"GET", false, ""}, {"GET", true, "exact"}, {"HEAD", true, ""}}
	for i, c := range cases {
		// A new client each time, so that each request meets its own
		// connection (n above) even after a reset.
		tr := leanClient(certs, rtFunc(noFallback))
		_, b, err := roundTrip(t, tr, c.method, "https://"+addr+"/", nil)
		tr.CloseIdleConnections()
		if c.ok && (err != nil || string(b) != c.body) || !c.ok && err == nil {
			t.Errorf("case %d (%s): body %q, error %v; want ok %v", i+1, c.method, b, err, c.ok)
		}
	}
}

// TestH2ClientIdlePing: a connection that stays silent (its peer answered a
// request, then stopped answering anything, PINGs included) is checked
// with a PING once idle and closed when the PING goes unanswered, with no
// request waiting on it; the next request dials a new one.
func TestH2ClientIdlePing(t *testing.T) {
	defer func(d time.Duration) { h2PingTimeout = d }(h2PingTimeout)
	h2PingTimeout = 50 * time.Millisecond
	certs := newMeshCerts(t)
	closed := make(chan struct{})
	pinged := make(chan struct{}, 1)
	addr := startRawPeer(t, certs, func(n int, p *peerConn) {
		id := p.firstStream(p.handshake())
		p.respond(id, 200, []byte("alive"), true)
		if n > 1 {
			p.nextStream()
			return
		}
		for {
			f, err := p.fr.ReadFrame()
			if err != nil {
				close(closed)
				return
			}
			if pf, ok := f.(*http2.PingFrame); ok && !pf.IsAck() {
				select {
				case pinged <- struct{}{}:
				default:
				}
			}
		}
	})
	tr := leanClient(certs, rtFunc(noFallback))
	tr.idlePing = 30 * time.Millisecond
	defer tr.CloseIdleConnections()
	if _, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil); err != nil || string(b) != "alive" {
		t.Fatalf("first request: %v %q", err, b)
	}
	for _, ev := range []struct {
		ch   chan struct{}
		what string
	}{{pinged, "idle PING"}, {closed, "close of the silent connection"}} {
		select {
		case <-ev.ch:
		case <-time.After(10 * time.Second): // only against a broken client
			t.Fatalf("%s: none within 10 s", ev.what)
		}
	}
	if _, b, err := roundTrip(t, tr, "GET", "https://"+addr+"/", nil); err != nil || string(b) != "alive" {
		t.Errorf("after the silent connection: %v %q", err, b)
	}
}
