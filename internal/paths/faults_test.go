package paths_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/scenario"
)

// blackhole makes a replica accept requests and never answer them (for an
// hour: longer than any test).
func blackhole(t *testing.T, s interface{ SetDelay(time.Duration) error }) {
	t.Helper()
	if err := s.SetDelay(time.Hour); err != nil {
		t.Fatal(err)
	}
}

// statuses sends n GETs to base, one after another, and counts the answers
// by status (0 for a transport error).
func statuses(t *testing.T, base string, n int) map[int]int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	got := map[int]int{}
	for range n {
		resp, err := c.Get(base + "/")
		if err != nil {
			got[0]++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got[resp.StatusCode]++
	}
	return got
}

// TestHAProxyBlackholeHealthCheck: a replica that accepts and never
// answers passes tcp checks; with health_check http haproxy marks it down
// (after fall × check_inter, timeout_check bounding each check), and then
// every request goes to the healthy replica. Settings reports what the
// config was given, defaults included.
func TestHAProxyBlackholeHealthCheck(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	inst := start(t, scenario.PathSpec{Name: "hap", Kind: "haproxy", Settings: map[string]string{
		"health_check": "http", "check_inter": "100ms", "timeout_check": "200ms", "fall": "2",
		"timeout_server": "500ms", "retry_on": "conn-failure,response-timeout",
	}}, testEnv(t, ups))
	s := inst.Settings()
	for k, want := range map[string]string{"health_check": "http", "timeout_check": "200ms", "retry_on": "conn-failure,response-timeout",
		"retries": "3", "redispatch": "on", "timeout_connect": "5s", "rise": "2"} {
		if s[k] != want {
			t.Errorf("Settings()[%s] = %q, want %q", k, s[k], want)
		}
	}
	blackhole(t, srvs[1])
	deadline := time.Now().Add(time.Minute) // a guard against a hang, not a timing
	for {
		u, err := inst.Usage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if u.Counters["servers_up"] == 1 && u.Counters["server_downs"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the blackholed replica is still up: %v", u.Counters)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Sessions, not the replica's own request count: haproxy's health
	// checks keep reaching the replica while it is down.
	sessions := func() int {
		s, err := paths.HAProxyServerSessions(context.Background(), inst)
		if err != nil {
			t.Fatal(err)
		}
		n, ok := s[srvs[1].Addr()]
		if !ok {
			t.Fatalf("no server at %s in %v", srvs[1].Addr(), s)
		}
		return n
	}
	before := sessions()
	if got := statuses(t, inst.Targets()[0], 10); got[200] != 10 {
		t.Errorf("with the blackhole down: %v, want 10 × 200", got)
	}
	if after := sessions(); after != before {
		t.Errorf("the replica marked down got %d requests", after-before)
	}
}

// TestNginxBlackholeNextUpstream: nginx has no active checks; a request to
// a replica that never answers times out after read_timeout and, with
// "timeout" in next_upstream, is passed to the other replica, so the client
// sees only 200s. Without it, each request round robin sends there is a 504.
func TestNginxBlackholeNextUpstream(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	for _, c := range []struct {
		nextUpstream string
		want         map[int]int
	}{
		{"error,timeout", map[int]int{200: 4}},
		// Round robin over two replicas: two of four requests reach the
		// blackhole; a timeout that next_upstream does not name is no
		// failure for max_fails either, so it stays in the rotation.
		{"error", map[int]int{200: 2, 504: 2}},
	} {
		srvs, ups := replicas(t, 2)
		blackhole(t, srvs[1])
		inst := start(t, scenario.PathSpec{Name: "ngx", Kind: "nginx", Settings: map[string]string{
			"read_timeout": "200ms", "next_upstream": c.nextUpstream, "next_upstream_tries": "2",
			"next_upstream_timeout": "5s", "max_fails": "0",
		}}, testEnv(t, ups))
		s := inst.Settings()
		if s["next_upstream"] != c.nextUpstream || s["read_timeout"] != "200ms" || s["next_upstream_tries"] != "2" ||
			s["next_upstream_timeout"] != "5s" || s["connect_timeout"] != "5s" || s["fail_timeout"] != "10s" {
			t.Errorf("Settings() = %v", s)
		}
		got := statuses(t, inst.Targets()[0], 4)
		if len(got) != len(c.want) || got[200] != c.want[200] || got[504] != c.want[504] {
			t.Errorf("next_upstream %s: %v, want %v", c.nextUpstream, got, c.want)
		}
		if n, _ := srvs[1].Counts(); n == 0 {
			t.Errorf("next_upstream %s: the blackhole got no request", c.nextUpstream)
		}
		inst.Stop()
	}
}

// TestDirectSettings: direct takes no settings and reports none.
func TestDirectSettings(t *testing.T) {
	t.Parallel()
	inst, err := paths.Start(context.Background(), scenario.PathSpec{Name: "direct", Kind: "direct"}, testEnv(t, []string{"127.0.0.1:1"}))
	if err != nil || inst.Settings() != nil {
		t.Errorf("direct: %v, %v", inst, err)
	}
}
