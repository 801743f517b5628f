package backend

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestPayloadOverHTTP1AndH2C(t *testing.T) {
	s := start(t, Config{Payload: 3000})
	resp, body := get(t, http.DefaultClient, s.URL())
	if resp.StatusCode != 200 || len(body) != 3000 || resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1: %s %d bytes proto %s", resp.Status, len(body), resp.Proto)
	}
	// h2c with prior knowledge: HTTP/2 frames on a plain TCP connection.
	h2 := &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, body = get(t, h2, s.URL())
	if resp.StatusCode != 200 || len(body) != 3000 || resp.ProtoMajor != 2 {
		t.Errorf("h2c: %s %d bytes proto %s", resp.Status, len(body), resp.Proto)
	}
	if n, f := s.Counts(); n != 2 || f != 0 {
		t.Errorf("Counts() = %d, %d; want 2, 0", n, f)
	}
}

func TestErrorRateAndSetErrorRate(t *testing.T) {
	s := start(t, Config{ErrorRate: 1})
	if resp, _ := get(t, http.DefaultClient, s.URL()); resp.StatusCode != 500 {
		t.Errorf("error rate 1: status %d, want 500", resp.StatusCode)
	}
	if err := s.SetErrorRate(0); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, http.DefaultClient, s.URL()); resp.StatusCode != 200 {
		t.Errorf("after SetErrorRate(0): status %d, want 200", resp.StatusCode)
	}
	if err := s.SetErrorRate(0.3); err != nil {
		t.Fatal(err)
	}
	fails := 0
	for i := 0; i < 400; i++ {
		if resp, _ := get(t, http.DefaultClient, s.URL()); resp.StatusCode == 500 {
			fails++
		}
	}
	if fails < 80 || fails > 160 {
		t.Errorf("error rate 0.3: %d of 400 failed", fails)
	}
	if s.SetErrorRate(1.5) == nil || s.SetDelay(-time.Second) == nil {
		t.Error("out-of-range fault accepted")
	}
}

// TestDelayNeverEarly: every answer takes at least the fixed delay.
func TestDelayNeverEarly(t *testing.T) {
	s := start(t, Config{Delay: 3 * time.Millisecond})
	for i := 0; i < 20; i++ {
		start := time.Now()
		get(t, http.DefaultClient, s.URL())
		if el := time.Since(start); el < 3*time.Millisecond {
			t.Fatalf("answered after %s, before the 3ms delay", el)
		}
	}
}

// TestDrawsAreSeededAndShaped: the same seed gives the same delays; each
// distribution has the configured mean and its own shape.
func TestDrawsAreSeededAndShaped(t *testing.T) {
	draws := func(dist string, seed int64) []time.Duration {
		s := start(t, Config{Delay: time.Millisecond, Distribution: dist, Seed: seed})
		out := make([]time.Duration, 20000)
		for i := range out {
			out[i], _ = s.draw()
		}
		return out
	}
	a, b := draws(Exponential, 42), draws(Exponential, 42)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 42 gave different draw %d: %s vs %s", i, a[i], b[i])
		}
	}
	for _, dist := range []string{Fixed, Exponential, Uniform} {
		d := draws(dist, 1)
		var sum, maxd time.Duration
		for _, v := range d {
			sum += v
			maxd = max(maxd, v)
		}
		mean := sum / time.Duration(len(d))
		if mean < 970*time.Microsecond || mean > 1030*time.Microsecond {
			t.Errorf("%s: mean %s, want 1ms ± 3%%", dist, mean)
		}
		switch dist {
		case Fixed:
			if maxd != time.Millisecond {
				t.Errorf("fixed: max %s", maxd)
			}
		case Uniform:
			if maxd > 2*time.Millisecond || maxd < 1990*time.Microsecond {
				t.Errorf("uniform: max %s, want just under 2ms", maxd)
			}
		case Exponential:
			if maxd < 5*time.Millisecond {
				t.Errorf("exponential: max %s, want a long tail", maxd)
			}
		}
	}
}

func TestStartReplicasAndClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := StartReplicas(ctx, 3, Config{Payload: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Addr()] = true
		if resp, body := get(t, http.DefaultClient, r.URL()); resp.StatusCode != 200 || len(body) != 10 {
			t.Errorf("%s: %s, %d bytes", r.Addr(), resp.Status, len(body))
		}
	}
	if len(seen) != 3 {
		t.Errorf("replicas share addresses: %v", seen)
	}
	cancel() // ctx ends: every replica stops listening
	for _, r := range rs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", r.Addr())
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s still accepts connections after its context ended", r.Addr())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close after ctx: %v", err)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Payload: -1}, {Payload: MaxPayload + 1}, {Delay: -1},
		{ErrorRate: 1.1}, {ErrorRate: -0.1}, {Distribution: "normal"},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
		if _, err := Start(context.Background(), "127.0.0.1:0", c); err == nil {
			t.Errorf("Start(%+v) accepted", c)
		}
	}
	if _, err := StartReplicas(context.Background(), 0, Config{}); err == nil {
		t.Error("0 replicas accepted")
	}
}
