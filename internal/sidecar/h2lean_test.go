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

// meshCerts are one mesh's TLS configurations: the inbound side's server
// and the outbound side's client.
type meshCerts struct{ server, client *tls.Config }

func newMeshCerts(t testing.TB) meshCerts {
	t.Helper()
	out, in, err := WriteMesh(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	c, err := out.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	return meshCerts{server: s, client: c}
}

// testApp is the application behind the inbound sidecar in these tests.
//
//	/big?n=N     N bytes of a repeating pattern
//	/echo        the request body back, with its length in X-Got
//	/trailer     "body", then a trailer X-Sum: 42
//	/empty       200 without a body
//	/wait        blocks until release is closed (or the request ends)
//	anything else "hello"
type testApp struct {
	release chan struct{}
	waiting chan struct{}
}

func newTestApp() *testApp {
	return &testApp{release: make(chan struct{}), waiting: make(chan struct{}, 16)}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func (a *testApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/big":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(pattern(n))
	case "/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("X-Got", strconv.Itoa(len(b)))
		w.Write(b)
	case "/trailer":
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
	case "/empty":
		w.WriteHeader(http.StatusOK)
	case "/wait":
		a.waiting <- struct{}{}
		select {
		case <-a.release:
			io.WriteString(w, "released")
		case <-r.Context().Done():
		}
	default:
		io.WriteString(w, "hello")
	}
}

// leanInbound is an inbound sidecar's listener served by its http.Server
// (and so by the lean HTTP/2 server) in this process.
type leanInbound struct {
	addr  string
	p     *Proxy
	srv   *http.Server
	pw    *panicWatch
	certs meshCerts
	done  chan error
}

func startLeanInbound(t testing.TB, app http.Handler, mod func(*http.Server, *Proxy)) *leanInbound {
	t.Helper()
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	out, in, err := WriteMesh(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default(Inbound)
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	cfg.Upstreams, cfg.TLS = []string{appSrv.Listener.Addr().String()}, in
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	li := &leanInbound{p: p, pw: &panicWatch{t: t}, done: make(chan error, 1)}
	if li.srv, err = p.server(cfg, li.pw); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(li.srv, p)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	li.addr = ln.Addr().String()
	if li.certs.client, err = out.ClientTLS(); err != nil {
		t.Fatal(err)
	}
	li.certs.server = li.srv.TLSConfig
	go func() { li.done <- li.srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		li.srv.Close()
		if li.pw.panicked.Load() {
			t.Error("the server panicked")
		}
	})
	return li
}

// xnetClient is golang.org/x/net's HTTP/2 client with the mesh's
// certificate.
func xnetClient(tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http2.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
}

func mustGet(t testing.TB, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, b
}

// TestH2ServerWithXNetClient: x/net's HTTP/2 client against the lean
// server: a small answer, a 1 MiB answer (four times the stream window the
// server's client advertises: WINDOW_UPDATEs must flow), a 1 MiB request
// body (the server's own receive window), trailers, and 100 streams at
// once on the one connection.
func TestH2ServerWithXNetClient(t *testing.T) {
	li := startLeanInbound(t, newTestApp(), nil)
	c := xnetClient(li.certs.client)
	defer c.Transport.(*http2.Transport).CloseIdleConnections()
	base := "https://" + li.addr

	resp, b := mustGet(t, c, base+"/")
	if resp.StatusCode != 200 || string(b) != "hello" || resp.ProtoMajor != 2 || resp.ContentLength != 5 {
		t.Errorf("GET /: %s %q proto %d length %d", resp.Status, b, resp.ProtoMajor, resp.ContentLength)
	}
	if resp.Header.Get("Date") == "" {
		t.Error("no Date header")
	}

	resp, b = mustGet(t, c, base+"/big?n=1048576")
	if resp.StatusCode != 200 || !bytes.Equal(b, pattern(1<<20)) {
		t.Errorf("GET /big: %s, %d bytes, equal %v", resp.Status, len(b), bytes.Equal(b, pattern(1<<20)))
	}

	body := pattern(1 << 20)
	resp, err := c.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Header.Get("X-Got") != "1048576" || !bytes.Equal(b, body) {
		t.Errorf("POST /echo 1 MiB: %v, X-Got %q, %d bytes back", err, resp.Header.Get("X-Got"), len(b))
	}

	resp, b = mustGet(t, c, base+"/trailer")
	if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("GET /trailer: %q, trailer %v", b, resp.Trailer)
	}

	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 1000 + i*997
			resp, err := c.Get(fmt.Sprintf("%s/big?n=%d", base, n))
			if err != nil {
				bad.Add(1)
				t.Error(err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(b, pattern(n)) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of 100 concurrent streams failed", bad.Load())
	}
	if n := li.p.m.accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted, want the one", n)
	}
}

// TestH2ServerShutdown: Shutdown sends GOAWAY to a connection with a
// request in flight, which still gets its answer; then the connection
// closes, Shutdown returns and new requests are refused.
func TestH2ServerShutdown(t *testing.T) {
	app := newTestApp()
	li := startLeanInbound(t, app, nil)
	tr := newH2Transport(fastDial(&net.Dialer{}), li.certs.client, http.DefaultTransport, time.Second)
	defer tr.CloseIdleConnections()
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", "https://"+li.addr+"/wait", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			got <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprint(resp.StatusCode, " ", string(b), " ", err)
	}()
	<-app.waiting
	tr.mu.Lock()
	cc := tr.peers[li.addr].cc.Load()
	tr.mu.Unlock()
	shut := make(chan error, 1)
	go func() { shut <- li.srv.Shutdown(context.Background()) }()
	// The client sees the GOAWAY: the connection takes no new stream.
	for !cc.closed.Load() {
		time.Sleep(time.Millisecond)
	}
	close(app.release)
	if s := <-got; s != "200 released <nil>" {
		t.Errorf("request in flight at shutdown: %s", s)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	req, _ := http.NewRequest("GET", "https://"+li.addr+"/", nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Error("a request after shutdown was served")
	}
}

// TestH2ServerIdleTimeout: a connection without streams for the idle
// timeout gets GOAWAY(NO_ERROR) and is closed.
func TestH2ServerIdleTimeout(t *testing.T) {
	li := startLeanInbound(t, newTestApp(), func(s *http.Server, _ *Proxy) { s.IdleTimeout = 30 * time.Millisecond })
	fr, c := rawH2Client(t, li)
	defer c.Close()
	var away *http2.GoAwayFrame
	for away == nil {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			away = g
		}
	}
	if away.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v, want NO_ERROR", away.ErrCode)
	}
	for {
		if _, err := fr.ReadFrame(); err != nil {
			break // closed
		}
	}
}

// TestH2ServerStreamEnds: a response without a body (an empty 200, an
// answer to HEAD) ends its stream exactly once, on its HEADERS, and one
// with a body on its last DATA: no frame for the stream follows. A PING
// after the requests marks the end of what the server sent for them.
func TestH2ServerStreamEnds(t *testing.T) {
	li := startLeanInbound(t, newTestApp(), nil)
	fr, c := rawH2Client(t, li)
	defer c.Close()
	p := &badPeer{c: c, fr: fr}
	p.enc = hpack.NewEncoder(&p.buf)
	p.headers(1, true, reqFields("GET", "/empty")...)
	p.headers(3, true, reqFields("HEAD", "/")...)
	p.headers(5, true, reqFields("GET", "/")...)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	ended := map[uint32]bool{}
	pinged := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		id := f.Header().StreamID
		if id != 0 && ended[id] {
			t.Errorf("%v on stream %d after its END_STREAM", f.Header().Type, id)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			ended[id] = f.StreamEnded()
			if want := map[uint32]bool{1: true, 3: true, 5: false}[id]; f.StreamEnded() != want {
				t.Errorf("stream %d: HEADERS END_STREAM %v, want %v", id, f.StreamEnded(), want)
			}
		case *http2.DataFrame:
			ended[id] = f.StreamEnded()
		case *http2.PingFrame:
			if f.IsAck() {
				if !ended[1] || !ended[3] || !ended[5] {
					t.Errorf("streams ended: %v", ended)
				}
				return
			}
		}
		if !pinged && ended[1] && ended[3] && ended[5] {
			pinged = true
			fr.WritePing(false, [8]byte{9})
		}
	}
}

// TestH2ServerClientGoesAway: a stream the client resets while its request
// waits for the application ends that request, and a client that closes
// the connection in the middle of a large response ends the connection's
// requests and goroutines; neither leaves anything behind.
func TestH2ServerClientGoesAway(t *testing.T) {
	li := startLeanInbound(t, newTestApp(), nil)
	fr, c := rawH2Client(t, li)
	p := &badPeer{c: c, fr: fr}
	p.enc = hpack.NewEncoder(&p.buf)
	p.headers(1, true, reqFields("GET", "/wait")...)
	for li.p.m.pending.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	for li.p.m.pending.Load() != 0 {
		time.Sleep(time.Millisecond) // the reset request ends
	}
	p.headers(3, true, reqFields("GET", "/big?n=4194304")...)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := untilFrame(fr, func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for li.p.m.open.Load() != 0 || li.p.m.pending.Load() != 0 {
		time.Sleep(time.Millisecond) // the connection's goroutines end
	}
	if err := h2Request(li.addr, li.certs.client); err != nil {
		t.Errorf("afterwards: %v", err)
	}
}

// rawH2Client opens a TLS connection to li, sends the client preface and an
// empty SETTINGS, and returns a framer on it (with a deadline that only
// keeps a broken test from hanging).
func rawH2Client(t testing.TB, li *leanInbound) (*http2.Framer, *tls.Conn) {
	t.Helper()
	c, err := tls.Dial("tcp", li.addr, li.certs.client)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = nil
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr, c
}

// TestH2LeanMesh: the whole mesh with both lean ends: many streams at once
// on one connection, a 1 MiB answer, small and large request bodies (the
// large one goes through x/net's client), and an upstream that breaks off.
func TestH2LeanMesh(t *testing.T) {
	app := newTestApp()
	appSrv := httptest.NewServer(app)
	defer appSrv.Close()
	out, in, err := WriteMesh(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	icfg := Default(Inbound)
	icfg.Upstreams, icfg.TLS = []string{appSrv.Listener.Addr().String()}, in
	inAddrs := startSidecar(t, icfg)
	ocfg := Default(Outbound)
	ocfg.Upstreams, ocfg.TLS = []string{inAddrs.Listen}, out
	outAddrs := startSidecar(t, ocfg)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 20 * time.Second}
	base := "http://" + outAddrs.Listen

	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 1 + i*4099
			resp, err := c.Get(fmt.Sprintf("%s/big?n=%d", base, n))
			if err != nil {
				bad.Add(1)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, pattern(n)) {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of 64 concurrent requests failed", bad.Load())
	}
	if n := scrape(t, inAddrs.Admin)["tcp_accepted_total"]; n != 1 {
		t.Errorf("inbound accepted %v connections, want 1", n)
	}
	resp, b := mustGet(t, c, base+"/big?n=1048576")
	if resp.StatusCode != 200 || !bytes.Equal(b, pattern(1<<20)) {
		t.Errorf("1 MiB through the mesh: %s, %d bytes", resp.Status, len(b))
	}
	for _, n := range []int{1000, 300 << 10} {
		resp, err := c.Post(base+"/echo", "text/plain", bytes.NewReader(pattern(n)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.Header.Get("X-Got") != strconv.Itoa(n) || !bytes.Equal(b, pattern(n)) {
			t.Errorf("POST %d bytes: %s %v, X-Got %q", n, resp.Status, err, resp.Header.Get("X-Got"))
		}
	}
	resp, b = mustGet(t, c, base+"/trailer")
	if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("trailer through the mesh: %q %v", b, resp.Trailer)
	}
	resp, err = c.Head(base + "/big?n=100")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 100 || len(b) != 0 {
		t.Errorf("HEAD through the mesh: %s, length %d, %d body bytes", resp.Status, resp.ContentLength, len(b))
	}
	resp, b = mustGet(t, c, base+"/empty")
	if resp.StatusCode != 200 || resp.ContentLength != 0 || len(b) != 0 {
		t.Errorf("empty answer through the mesh: %s, length %d, %q", resp.Status, resp.ContentLength, b)
	}
}

var errNoFrame = errors.New("no such frame")

// untilFrame reads frames until match accepts one; it returns errNoFrame
// wrapped with the connection's end if none did.
func untilFrame(fr *http2.Framer, match func(http2.Frame) bool) (http2.Frame, error) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoFrame, err)
		}
		if match(f) {
			return f, nil
		}
	}
}

var _ = strings.Repeat
