package sidecar

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAddedDelay: with added_delay, every response through the sidecar
// takes at least that long (a lower bound only: how much longer depends on
// the host), the endpoint's latency estimate does not include it, and the
// setting is bounded.
func TestAddedDelay(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	cfg := Default(Outbound)
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	if err := cfg.Apply(map[string]string{"added_delay": "30ms"}); err != nil {
		t.Fatal(err)
	}
	a := startSidecar(t, cfg)
	cl := &http.Client{Timeout: 10 * time.Second}
	for range 5 {
		start := time.Now()
		resp, err := cl.Get("http://" + a.Listen + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != 200 || took < 30*time.Millisecond {
			t.Errorf("through a 30ms added delay: %s in %s", resp.Status, took)
		}
	}
	// The app answers in well under the delay; the estimate must not
	// carry it (the default RTT of 30 ms decays toward the samples).
	if rtt := scrape(t, a.Admin)["endpoint_ewma_rtt_ms"]; rtt >= 30 {
		t.Errorf("the endpoint's latency estimate %v ms includes the sidecar's delay", rtt)
	}

	for _, bad := range []string{"2s", "-1ms", "soon"} {
		c := Default(Outbound)
		if err := c.Apply(map[string]string{"added_delay": bad}); err == nil {
			t.Errorf("added_delay=%s accepted", bad)
		}
	}
	c := Default(Outbound)
	if err := c.Apply(map[string]string{"added_delay": "500us"}); err != nil || c.AddedDelay != 500*time.Microsecond {
		t.Errorf("added_delay=500us: %v, %v", c.AddedDelay, err)
	}
}
