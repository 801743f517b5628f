package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// rawGet opens a connection to s and sends one keep-alive GET on it.
func rawGet(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := sendGet(t, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendGet is rawGet that returns the dial's or the write's error (and a
// nil conn when the dial failed).
func sendGet(t *testing.T, s *Server) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	return c, err
}

// firstError is the first error a connection gives: from the dial or the
// write that sent the request, else from reading to the end. A reset shows
// in whichever call comes first after it arrived.
func firstError(c net.Conn, werr error) error {
	if werr != nil {
		return werr
	}
	_, err := io.ReadAll(c)
	return err
}

// waitRequests returns once s has seen n requests (an event, not a time).
func waitRequests(t *testing.T, s *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := s.Counts(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never saw request %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func setMode(t *testing.T, s *Server, m Mode) {
	t.Helper()
	if err := s.SetMode(m); err != nil {
		t.Fatalf("SetMode(%s): %v", m, err)
	}
	if s.Mode() != m {
		t.Fatalf("Mode() = %s after SetMode(%s)", s.Mode(), m)
	}
}

func wantOK(t *testing.T, s *Server, when string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	if resp, body := get(t, c, s.URL()); resp.StatusCode != 200 || len(body) != 100 {
		t.Fatalf("%s: %s, %d bytes", when, resp.Status, len(body))
	}
}

// TestBlackholeHoldsUntilRestored: a blackholed replica accepts the
// connection and reads the request, then writes nothing at all; when the
// mode ends the held request's connection is closed without an answer,
// and new requests are answered again.
func TestBlackholeHoldsUntilRestored(t *testing.T) {
	s := start(t, Config{Payload: 100})
	setMode(t, s, Blackhole)
	c := rawGet(t, s)
	waitRequests(t, s, 1) // the request was read
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c) // until the replica closes the connection
		got <- b
	}()
	setMode(t, s, Serving)
	if b := <-got; len(b) != 0 {
		t.Errorf("the blackhole answered %q", b)
	}
	wantOK(t, s, "after the blackhole")
}

// TestBlackholeEndsAtClose: Close lets held requests go, so it never hangs.
func TestBlackholeEndsAtClose(t *testing.T) {
	s, err := Start(context.Background(), "127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	setMode(t, s, Blackhole)
	rawGet(t, s)
	waitRequests(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(Serving); !errors.Is(err, ErrClosed) {
		t.Errorf("SetMode after Close: %v, want ErrClosed", err)
	}
}

// TestResetOpenAndNewConnections: in Reset mode a connection that was open
// and one made afterwards both end in a TCP reset, not an answer or a
// clean close.
func TestResetOpenAndNewConnections(t *testing.T) {
	s := start(t, Config{Payload: 100})
	open := rawGet(t, s)
	br := bufio.NewReader(open)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the reset: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	setMode(t, s, Reset)
	if _, err := br.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("open connection: read gave %v, want a reset", err)
	}
	if err := firstError(sendGet(t, s)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("new connection: read gave %v, want a reset", err)
	}
	if n, _ := s.Counts(); n != 1 {
		t.Errorf("%d requests reached the handler, want only the one before the reset", n)
	}
	setMode(t, s, Serving)
	wantOK(t, s, "after the reset mode")
}

// TestKillAndRevive: a killed replica refuses connections and drops open
// ones, h2c connections included; revived, it answers on the same port.
func TestKillAndRevive(t *testing.T) {
	s := start(t, Config{Payload: 100})
	addr := s.Addr()
	h2 := &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	if resp, _ := get(t, h2, s.URL()); resp.ProtoMajor != 2 {
		t.Fatalf("h2c client spoke %s", resp.Proto)
	}
	open := rawGet(t, s)
	setMode(t, s, Killed)
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dialing a killed replica: %v, want refused", err)
	}
	io.ReadAll(open) // returns once the replica closed it
	// The h2c connection (taken over from the HTTP server) is gone too:
	// the request needs a new one, which is refused.
	if resp, err := h2.Get(s.URL()); err == nil {
		resp.Body.Close()
		t.Errorf("h2c request to a killed replica answered %s", resp.Status)
	}
	setMode(t, s, Serving)
	if s.Addr() != addr {
		t.Errorf("revived on %s, was %s", s.Addr(), addr)
	}
	wantOK(t, s, "revived")
	// A fault mode from killed revives the replica into that mode.
	setMode(t, s, Killed)
	setMode(t, s, Reset)
	if err := firstError(sendGet(t, s)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("revived into reset: %v", err)
	}
	if s.SetMode(Mode(9)) == nil {
		t.Error("unknown mode accepted")
	}
}
