package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// leanApp is an app behind an outbound sidecar, and the sidecar's address.
func leanApp(t *testing.T, h http.HandlerFunc, mod ...func(*Config)) string {
	t.Helper()
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)
	cfg := Default(Outbound)
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	for _, m := range mod {
		m(&cfg)
	}
	return startSidecar(t, cfg).Listen
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails rather than blocks
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Framing on the lean path: a body of known length keeps its
// Content-Length; a streamed one
// is chunked to HTTP/1.1 (trailers after it) and ends with the connection
// for HTTP/1.0; HEAD gets the head alone. Pipelined requests are answered
// in order on one connection.
func TestLeanServerFraming(t *testing.T) {
	addr := leanApp(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/known":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "known")
		case "/stream":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte(strings.Repeat("s", 3000)))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("t", 3000)))
			w.Header().Set("X-Sum", "6000")
		}
	})
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET /known HTTP/1.1\r\nHost: a\r\n\r\nHEAD /known HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if body != "known" || resp.ContentLength != 5 || resp.Header.Get("Date") == "" {
		t.Errorf("/known: %q, length %d, Date %q", body, resp.ContentLength, resp.Header.Get("Date"))
	}
	resp, body = readResp(t, br, "HEAD")
	if body != "" || resp.ContentLength != 5 {
		t.Errorf("HEAD /known: %q, length %d", body, resp.ContentLength)
	}
	resp, body = readResp(t, br, "GET")
	if len(body) != 6000 || resp.TransferEncoding == nil || resp.Trailer.Get("X-Sum") != "6000" || resp.Close {
		t.Errorf("/stream: %d bytes, TE %v, trailer %v, close %v", len(body), resp.TransferEncoding, resp.Trailer, resp.Close)
	}

	c, br = dialRaw(t, addr)
	io.WriteString(c, "GET /stream HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
	resp, body = readResp(t, br, "GET")
	if len(body) != 6000 || resp.TransferEncoding != nil || !resp.Close {
		t.Errorf("HTTP/1.0 /stream: %d bytes, TE %v, close %v; want the body ended by the close", len(body), resp.TransferEncoding, resp.Close)
	}
	c, br = dialRaw(t, addr)
	io.WriteString(c, "GET /known HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /known HTTP/1.0\r\n\r\n")
	resp, _ = readResp(t, br, "GET")
	if resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Errorf("HTTP/1.0 keep-alive: Connection %q", resp.Header.Get("Connection"))
	}
	if resp, _ = readResp(t, br, "GET"); !resp.Close {
		t.Error("HTTP/1.0 without keep-alive: the connection stays open")
	}
}

// A request the lean path does not serve (here one with a body) moves the
// connection to net/http's server, bytes and all; the requests after it on
// that connection are answered there.
func TestLeanServerHandsOver(t *testing.T) {
	addr := leanApp(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+":"+string(b))
	})
	c, br := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []string{"GET:", "POST:body", "GET:"} {
		if _, body := readResp(t, br, "GET"); body != want {
			t.Errorf("got %q, want %q", body, want)
		}
	}
}

// A client that goes away while its request waits for the upstream ends
// the request: the upstream attempt is canceled, not left to time out and
// be blamed on the endpoint.
func TestLeanServerClientGone(t *testing.T) {
	arrived, canceled := make(chan struct{}), make(chan struct{})
	addr := leanApp(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(canceled)
	}, func(c *Config) {
		// Longer than the wait below: only the client's leaving can end
		// the request in time.
		c.Timeout, c.AttemptTimeout = 10*time.Minute, 0
	})
	c, _ := dialRaw(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-arrived
	c.Close()
	select {
	case <-canceled:
	case <-time.After(30 * time.Second): // a hang, not a slow machine
		t.Fatal("the upstream request went on after its client left")
	}
}

// The sidecar's own answers are written whole, so they carry a
// Content-Length, and the connection stays open.
func TestLeanServerOwnAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := Default(Outbound)
	cfg.Upstreams = []string{dead}
	c, br := dialRaw(t, startSidecar(t, cfg).Listen)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	for range 2 {
		resp, body := readResp(t, br, "GET")
		if resp.StatusCode != http.StatusBadGateway || resp.ContentLength != int64(len(body)) ||
			resp.Header.Get(ProxyErrorHeader) == "" || resp.Close {
			t.Errorf("%s, length %d for %q, %s %q, close %v", resp.Status, resp.ContentLength, body,
				ProxyErrorHeader, resp.Header.Get(ProxyErrorHeader), resp.Close)
		}
	}
}
