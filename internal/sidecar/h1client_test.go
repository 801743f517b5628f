package sidecar

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func newTestH1(t *testing.T) *h1Transport {
	cfg := Default(Outbound)
	cfg.Upstreams = []string{"127.0.0.1:1"}
	rt, err := newTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h1, ok := rt.(*h1Transport)
	if !ok {
		t.Fatalf("plain upstreams: transport %T, want *h1Transport", rt)
	}
	t.Cleanup(h1.CloseIdleConnections)
	return h1
}

// The lean client sends what net/http's Transport would: the client's
// Host, path and query as they came, every end-to-end header, and
// Content-Length: 0 for a POST without a body; it reuses one connection.
func TestH1TransportRequestHead(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-App")+" cl="+r.Header.Get("Content-Length"))
		io.WriteString(w, "hello")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h1 := newTestH1(t)
	for _, c := range []struct{ method, want string }{
		{"GET", "GET app.example /a%20b?q=1&r=2 v cl="},
		{"POST", "POST app.example /a%20b?q=1&r=2 v cl=0"},
		{"HEAD", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/a%20b?q=1&r=2", nil)
		req.Host = "app.example"
		req.Header.Set("X-App", "v")
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.method == "HEAD" {
			if len(b) != 0 || resp.StatusCode != 200 {
				t.Errorf("HEAD: %d %q, want 200 and no body", resp.StatusCode, b)
			}
			continue
		}
		if got := resp.Header.Get("X-Seen"); got != c.want || string(b) != "hello" {
			t.Errorf("%s: upstream saw %q, body %q; want %q, hello", c.method, got, b, c.want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 sequential requests, want 1 kept alive", n)
	}
}

// An upstream that closes each keep-alive connection after one response,
// without saying so: the next request finds the pooled connection dead
// before any answer and goes again on a new one, instead of failing.
func TestH1TransportRetriesDeadPooledConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	h1 := newTestH1(t)
	for i := range 3 {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d: body %q", i, b)
		}
	}
}

// The request's context ends a wait for the response head and one for the
// body, and the error says it was the context.
func TestH1TransportContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	h1 := newTestH1(t)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/head", nil)
	errc := make(chan error, 1)
	go func() { _, err := h1.RoundTrip(req); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled while waiting for the head: %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/body", nil)
	resp, err := h1.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel() // the upstream holds back the rest of the body: only the context can end the read
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("body read went on after the context ended")
	}
	resp.Body.Close()
}

// A request with a body is carried by net/http's Transport.
func TestH1TransportBodyFallsBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	defer srv.Close()
	h1 := newTestH1(t)
	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("payload"))
	if lean(req) {
		t.Fatal("a request with a body took the lean path")
	}
	resp, err := h1.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "payload" {
		t.Errorf("echo %q, want payload", b)
	}
}

// Informational responses before the answer are skipped, and an answer
// that says Connection: close is not pooled: the next request dials anew.
func TestH1TransportInformationalAndClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+
						"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
				}
			}()
		}
	}()
	h1 := newTestH1(t)
	for i := range 2 {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q, want the 200 after the 103", i, resp.StatusCode, b)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for two answers that closed theirs, want 2", n)
	}
}
