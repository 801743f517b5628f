package sidecar

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPendingLimit: a request over max_pending is answered 503 at once,
// counted as shed, and no endpoint hears of it.
func TestPendingLimit(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) { c.MaxPending = 1 }, "a:80")
	arrived, release := make(chan struct{}), make(chan struct{})
	sc.on("a:80", func(n int, _ *http.Request) outcome {
		if n == 0 {
			close(arrived)
			<-release
		}
		return outcome{status: 200}
	})
	first := make(chan int)
	go func() { first <- do(p, "GET", "/", "").Code }()
	<-arrived
	w := do(p, "GET", "/", "")
	if w.Code != 503 || w.Header().Get(ProxyErrorHeader) != errPending {
		t.Errorf("over the limit: %d %q", w.Code, w.Header().Get(ProxyErrorHeader))
	}
	close(release)
	if c := <-first; c != 200 {
		t.Errorf("the request within the limit got %d", c)
	}
	if sc.hits("a:80") != 1 || p.m.shed[shedPending].Load() != 1 || p.eps[0].failures.Load() != 0 {
		t.Errorf("upstream attempts %d, shed %d, failures %d; want 1, 1, 0",
			sc.hits("a:80"), p.m.shed[shedPending].Load(), p.eps[0].failures.Load())
	}
	if w := do(p, "GET", "/", ""); w.Code != 200 || p.m.pending.Load() != 0 {
		t.Errorf("after the burst: %d, pending %d", w.Code, p.m.pending.Load())
	}
}

// TestLocalErrorsNotBlamed: attempts that fail because this host is out of
// file descriptors or ports never eject an endpoint, however many there are.
func TestLocalErrorsNotBlamed(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) {
		c.Accrual, c.ConsecutiveFailures = AccrualConsecutive, 2
	}, "a:80", "b:80")
	for _, host := range []string{"a:80", "b:80"} {
		sc.on(host, func(n int, _ *http.Request) outcome {
			errno := syscall.EMFILE
			if n%2 == 1 {
				errno = syscall.EADDRNOTAVAIL
			}
			return outcome{err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", errno)}}
		})
	}
	for range 20 {
		if w := do(p, "GET", "/", ""); w.Code != 503 || w.Header().Get(ProxyErrorHeader) != errLocal {
			t.Fatalf("local failure answered %d %q", w.Code, w.Header().Get(ProxyErrorHeader))
		}
	}
	for _, e := range p.eps {
		if e.ejections.Load() != 0 || e.failures.Load() != 0 {
			t.Errorf("%s blamed for local failures: %d ejections, %d failures", e.addr, e.ejections.Load(), e.failures.Load())
		}
	}
	if got := p.m.shed[shedLocal].Load(); got != 20 {
		t.Errorf("shed for local resources: %d, want 20", got)
	}
	if sc.hits("a:80")+sc.hits("b:80") != 20 {
		t.Errorf("a local failure was retried: %d attempts for 20 requests", sc.hits("a:80")+sc.hits("b:80"))
	}
}

// exchange writes one request on c and reads its response.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw string) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%.40q: %v", raw, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestConnectionLimit: with max_connections open, the next connection is
// answered 503 (raw, before net/http) and closed; the open ones keep
// working, and once one closes a new connection is served again.
func TestConnectionLimit(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	cfg := Default(Outbound)
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	cfg.MaxConnections = 2
	a := startSidecar(t, cfg)
	const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", a.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if r := exchange(t, c, bufio.NewReader(c), get); r.StatusCode != 200 {
			t.Fatalf("within the limit: %s", r.Status)
		}
		open = append(open, c)
	}
	c, err := net.Dial("tcp", a.Listen)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	r := exchange(t, c, br, get)
	if r.StatusCode != 503 || r.Header.Get(ProxyErrorHeader) != errConnLimit || !r.Close {
		t.Errorf("over the limit: %s %q close=%v", r.Status, r.Header.Get(ProxyErrorHeader), r.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the refused connection stayed open: %v", err)
	}
	c.Close()
	m := scrape(t, a.Admin)
	if m[`load_shed_total{reason="max_connections"}`] != 1 || m["tcp_open_connections"] != 2 {
		t.Errorf("shed %v, open %v; want 1 and 2", m[`load_shed_total{reason="max_connections"}`], m["tcp_open_connections"])
	}
	if r := exchange(t, open[0], bufio.NewReader(open[0]), get); r.StatusCode != 200 {
		t.Errorf("an open connection after the refusal: %s", r.Status)
	}
}

// TestCLTECloses: RFC 9112 6.1, a request with both Content-Length and
// Transfer-Encoding is answered and its connection closed. A request with
// Content-Length alone keeps the connection.
func TestCLTECloses(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	cfg := Default(Outbound)
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	a := startSidecar(t, cfg)

	c, err := net.Dial("tcp", a.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 {
		if r := exchange(t, c, br, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); r.StatusCode != 200 || r.Close {
			t.Fatalf("Content-Length alone: %s close=%v", r.Status, r.Close)
		}
	}
	r := exchange(t, c, br, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if r.StatusCode != 200 || !r.Close {
		t.Errorf("CL+TE: %s close=%v, want 200 and Connection: close", r.Status, r.Close)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the connection stayed open after CL+TE: %v", err)
	}
}

// TestNoAddedHeaders: what the application sends arrives as it was sent,
// both ways, through one sidecar and through the mTLS mesh: no Go
// User-Agent on the request, no sniffed Content-Type on the response. The
// one header a proxy adds is Date, on a response without one (RFC 9110,
// 6.6.1), besides the framing.
func TestNoAddedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		// Send exactly X-App, a body and its length: no Date, no type.
		w.Header()["Date"] = nil
		w.Header()["Content-Type"] = nil
		w.Header().Set("X-App", "1")
		w.Header().Set("Content-Length", "11")
		io.WriteString(w, "<html>x</a>")
	}))
	defer app.Close()
	appAddr := app.Listener.Addr().String()

	one := Default(Outbound)
	one.Upstreams = []string{appAddr}
	oneAddrs := startSidecar(t, one)
	outFiles, inFiles, err := WriteMesh(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := Default(Inbound)
	in.Upstreams, in.TLS = []string{appAddr}, inFiles
	inAddrs := startSidecar(t, in)
	mout := Default(Outbound)
	mout.Upstreams, mout.TLS = []string{inAddrs.Listen}, outFiles
	meshAddrs := startSidecar(t, mout)

	for name, addr := range map[string]string{"direct": appAddr, "linkerd": oneAddrs.Listen, "linkerd-mtls": meshAddrs.Listen} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		resp := exchange(t, c, bufio.NewReader(c), "GET /h HTTP/1.1\r\nHost: app.local\r\nX-Client: 1\r\n\r\n")
		c.Close()
		got := <-seen
		if len(got) != 1 || got.Get("X-Client") != "1" {
			t.Errorf("%s: the app got request headers %v, want only X-Client", name, got)
		}
		delete(resp.Header, "Date")
		if len(resp.Header) != 2 || resp.Header.Get("X-App") != "1" || resp.Header.Get("Content-Length") != "11" {
			t.Errorf("%s: the client got response headers %v, want X-App, Content-Length (and Date)", name, resp.Header)
		}
	}
}

// TestReadyError: a ready callback that fails stops the sidecar, and Run
// returns its error.
func TestReadyError(t *testing.T) {
	cfg := Default(Outbound)
	cfg.Listen, cfg.Upstreams = "127.0.0.1:0", []string{"127.0.0.1:1"}
	want := io.ErrShortWrite
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), cfg, nil, func(Addrs) error { return want })
	}()
	select {
	case err := <-done:
		if err != want {
			t.Errorf("Run returned %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar kept running after its ready callback failed")
	}
}

func TestShedResponseFraming(t *testing.T) {
	r, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(shedResponse))), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 503 || string(b) != errConnLimit+"\n" || !r.Close {
		t.Errorf("shed response: %s %q close=%v", r.Status, b, r.Close)
	}
}
