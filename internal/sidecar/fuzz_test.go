package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// panicWatch is the sidecar's error log in these tests: net/http recovers a
// panicking handler and logs it, so a panic shows up here, not as a crash.
type panicWatch struct {
	t        testing.TB
	panicked atomic.Bool
}

func (p *panicWatch) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "panic") {
		p.panicked.Store(true)
		p.t.Logf("sidecar log: %s", b)
	}
	return len(b), nil
}

// startFuzzSidecar runs an outbound sidecar with a small header limit in
// front of an echoing app, and returns its address and panic watch.
func startFuzzSidecar(t testing.TB) (string, *panicWatch) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	cfg := Default(Outbound)
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	cfg.MaxHeaderBytes = 8 << 10
	cfg.Timeout = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pw := &panicWatch{t: t}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.server(cfg, pw)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	// The listener's own server: the lean path, which hands what it does
	// not serve to srv.
	lean := newH1Server(p, srv, ln)
	go lean.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		lean.Shutdown(ctx)
	})
	return ln.Addr().String(), pw
}

// rawExchange writes raw to a new connection and reads one response (nil
// if the sidecar closed without answering). A request that looks complete
// gets a moment to be answered before the write side is closed: net/http
// cancels a request whose client half-closes, as if it had gone away. An
// incomplete one is half-closed at once, so that the sidecar sees its end.
func rawExchange(t testing.TB, addr string, raw []byte) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("sidecar is down: %v", err)
	}
	defer c.Close()
	c.Write(raw)
	br := bufio.NewReader(c)
	if bytes.Contains(raw, []byte("\r\n\r\n")) || bytes.Contains(raw, []byte("\n\n")) {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := br.Peek(1); err != nil {
			c.(*net.TCPConn).CloseWrite()
		}
	} else {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp
}

var healthClient = &http.Client{Timeout: 3 * time.Second}

func stillUp(t testing.TB, addr string) {
	t.Helper()
	resp, err := healthClient.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("sidecar down after the input: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sidecar answers %s after the input", resp.Status)
	}
}

// Statuses the sidecar may answer a request with, whatever the request:
// the app's 200, or a client error. A 5xx must be the sidecar's own and say
// why; anything else means a malformed request got through to the app.
var fuzzAllowed = map[int]bool{
	200: true, 400: true, 405: true, 411: true, 413: true, 417: true,
	431: true, 501: true, 505: true,
}

func fuzzSeeds() []string {
	big := strings.Repeat("a", 12<<10)
	return []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n", // no Host
		"GET / HTTP/1.0\r\n\r\n",
		"GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
		"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",
		"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"GET http://elsewhere.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: Host, Content-Length\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\n\r\n",
		"",
	}
}

// TestMalformedRequests pins the answers to classic malformed requests.
// net/http answers an oversized header block with 431 (RFC 6585) rather
// than a bare 400; both are the client's error and leave the sidecar up.
func TestMalformedRequests(t *testing.T) {
	addr, pw := startFuzzSidecar(t)
	big := strings.Repeat("a", 12<<10)
	for raw, want := range map[string]int{
		"GET / HTTP/1.1\r\n\r\n":                                                     400,
		"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n":                         400,
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n":                    431,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n":                  400,
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n": 400,
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort":              400,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort":             400,
		"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n":                              405,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":                                          200,
	} {
		resp := rawExchange(t, addr, []byte(raw))
		if resp == nil || resp.StatusCode != want {
			got := "no response"
			if resp != nil {
				got = resp.Status
			}
			t.Errorf("%.60q: %s, want %d", raw, got, want)
		}
		stillUp(t, addr)
	}
	if pw.panicked.Load() {
		t.Error("the sidecar panicked")
	}
}

// FuzzRequestPath throws raw bytes at a live sidecar. It must never panic,
// must answer each request it parses with the app's 200 or a client error
// (a 5xx only if it is the sidecar's own, saying why), and must keep
// serving. The seeds run in every `go test`.
func FuzzRequestPath(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	addr, pw := startFuzzSidecar(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if resp := rawExchange(t, addr, raw); resp != nil {
			if !fuzzAllowed[resp.StatusCode] &&
				!(resp.StatusCode >= 500 && resp.Header.Get(ProxyErrorHeader) != "") {
				t.Errorf("%.80q: answered %s", raw, resp.Status)
			}
		}
		stillUp(t, addr)
		if pw.panicked.Load() {
			t.Fatalf("%.80q: the sidecar panicked", raw)
		}
	})
}
