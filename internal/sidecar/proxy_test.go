package sidecar

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHopHeaders: hop-by-hop headers, and those the client named in
// Connection, stop at the sidecar; end-to-end headers pass.
func TestHopHeaders(t *testing.T) {
	p, sc, _ := newTestProxy(t, nil, "a:80")
	var got http.Header
	sc.on("a:80", func(_ int, r *http.Request) outcome {
		got = r.Header.Clone()
		return outcome{status: 200}
	})
	w := do(p, "GET", "/x?q=1", "",
		"Connection", "close, X-Secret", "X-Secret", "s", "Keep-Alive", "300",
		"Upgrade", "websocket", "X-Trace", "t1", RetryableHeader, "true")
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Upgrade", RetryableHeader, OrigProtoHeader} {
		if _, ok := got[k]; ok {
			t.Errorf("%s was forwarded", k)
		}
	}
	if got.Get("X-Trace") != "t1" {
		t.Errorf("X-Trace lost: %v", got)
	}
}

// TestOrigProto: an outbound sidecar on the mesh hop tags each request with
// the protocol the application spoke; an inbound sidecar takes the tag off
// before the application sees the request, and counts the restoration.
func TestOrigProto(t *testing.T) {
	out, sc, _ := newTestProxy(t, func(c *Config) {
		c.TLS = TLSFiles{Cert: "c", Key: "k", CA: "ca"} // only meshHop is looked at
	}, "peer:4143")
	var tag string
	sc.on("peer:4143", func(_ int, r *http.Request) outcome {
		tag = r.Header.Get(OrigProtoHeader)
		if r.URL.Scheme != "https" {
			t.Errorf("mesh hop scheme %q", r.URL.Scheme)
		}
		return outcome{status: 200}
	})
	do(out, "GET", "/", "")
	if tag != "HTTP/1.1" {
		t.Errorf("outbound tag %q, want HTTP/1.1", tag)
	}

	in, isc, _ := newTestProxy(t, func(c *Config) { c.Mode = Inbound }, "app:8080")
	isc.on("app:8080", func(_ int, r *http.Request) outcome {
		tag = r.Header.Get(OrigProtoHeader)
		return outcome{status: 200}
	})
	tag = "unset"
	do(in, "GET", "/", "", OrigProtoHeader, "HTTP/1.1")
	if tag != "" || in.m.restored.Load() != 1 {
		t.Errorf("inbound forwarded tag %q, restored %d", tag, in.m.restored.Load())
	}
}

// TestMetrics: what a path reads back from /metrics.
func TestMetrics(t *testing.T) {
	p, sc, _ := newTestProxy(t, func(c *Config) {
		c.Accrual = AccrualConsecutive
		c.ConsecutiveFailures = 1
		c.Balancer = BalancerRoundRobin
	}, "bad:80", "good:80")
	sc.on("bad:80", always(500, 3*time.Millisecond))
	sc.on("good:80", always(200, 3*time.Millisecond))
	for range 4 {
		do(p, "GET", "/", "")
	}
	var b strings.Builder
	if err := p.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	m, err := ParseMetrics(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		"request_total": 4, "endpoint_ejections_total": 1, "retry_total": 1,
		"endpoint_ejected": 1, "response_latency_ms_count": 4,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if !strings.Contains(b.String(), `endpoint_ejections_total{endpoint="bad:80"} 1`) ||
		!strings.Contains(b.String(), `response_total{status_class="2xx"} 4`) {
		t.Errorf("metrics text:\n%s", b.String())
	}
}

func TestParseMetricsRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"x{a=\"b\" 1", "x", "x nope"} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestSettings: one table validates scenario settings and flags alike.
func TestSettings(t *testing.T) {
	c := Default(Outbound)
	c.Upstreams = []string{"127.0.0.1:1"}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if err := c.Apply(map[string]string{"balancer": "p2c", "success_rate": "0.8", "timeout": "2s", "retry_budget_ratio": "0"}); err != nil {
		t.Fatal(err)
	}
	if c.Balancer != BalancerP2C || c.SuccessRate != 0.8 || c.Timeout != 2*time.Second || c.Get("timeout") != "2s" {
		t.Errorf("not applied: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"balancer": "random"}, {"accrual": "sometimes"}, {"success_rate": "1.5"},
		{"success_rate": "NaN"}, {"success_window": "0"}, {"timeout": "soon"},
		{"timeout": "0s"}, {"consecutive_failures": "-1"}, {"nope": "1"},
		{"backoff_min": "10s", "backoff_max": "1s"},
	} {
		c := Default(Outbound)
		if err := c.Apply(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	for _, mut := range []func(*Config){
		func(c *Config) { c.Mode = "sideways" },
		func(c *Config) { c.Upstreams = nil },
		func(c *Config) { c.Upstreams = []string{"no-port"} },
		func(c *Config) { c.Listen = ":80" },
		func(c *Config) { c.TLS.Cert = "only-cert.pem" },
	} {
		c := Default(Outbound)
		c.Upstreams = []string{"127.0.0.1:1"}
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("invalid config accepted: %+v", c)
		}
	}
}
