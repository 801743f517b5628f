package paths_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestHAProxy: the real haproxy carries requests to both replicas, reports
// its CPU, memory, version and stats counters, keeps its config private,
// and leaves no process after Stop.
func TestHAProxy(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	env := testEnv(t, ups)
	inst := start(t, scenario.PathSpec{Name: "hap", Kind: "haproxy", Settings: map[string]string{
		"balance": "leastconn", "timeout_server": "30s", "check_inter": "500ms", "maxconn": "500",
	}}, env)
	getN(t, oneLocalTarget(t, inst), 40)
	everyReplicaServed(t, srvs)
	u := loadUntilCPU(t, inst)
	t.Logf("haproxy: %+v", u)
	if u.CPUSeconds <= 0 || u.MaxRSSBytes <= 0 || u.Processes != 1 || !strings.HasPrefix(u.Version, "haproxy 2.") {
		t.Errorf("usage %+v: want CPU, RSS, one process and a version", u)
	}
	if u.Counters["requests"] < 40 || u.Counters["servers_up"] != 2 || u.Counters["servers"] != 2 {
		t.Errorf("counters %v: want ≥ 40 requests and 2 servers up", u.Counters)
	}
	dir := filepath.Join(env.TempDir, "haproxy-hap")
	checkPrivate(t, dir, "haproxy.cfg")
	cfg, _ := os.ReadFile(filepath.Join(dir, "haproxy.cfg"))
	for _, want := range []string{"balance leastconn", "timeout server 30s", "check inter 500ms fall 3 rise 2", "maxconn 500", "option redispatch", "retries 3", "retry-on conn-failure\n"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	pids := pidsOf(t, inst)
	stopsClean(t, inst, pids)
}

// TestHAProxyRefusesBadSettings: nothing a setting holds can reach the
// config as syntax; every bad key or value is the user's error (exit 2),
// from Check and from Start, and starts nothing.
func TestHAProxyRefusesBadSettings(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1"})
	for _, c := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"balance": "roundrobin\n    server evil 10.0.0.1:80"}, "balance"},
		{map[string]string{"balance": "source"}, "balance"},
		{map[string]string{"maxconn": "100;"}, "maxconn"},
		{map[string]string{"maxconn": "0"}, "maxconn"},
		{map[string]string{"timeout_client": "5s # x"}, "timeout_client"},
		{map[string]string{"timeout_connect": "1.5ms"}, "timeout_connect"},
		{map[string]string{"http_reuse": "always }"}, "http_reuse"},
		{map[string]string{"retries": "3 "}, "retries"},
		{map[string]string{"nbthread": "-1"}, "nbthread"},
		{map[string]string{"stats": "enable"}, `unknown haproxy setting "stats"`},
	} {
		refused(t, scenario.PathSpec{Name: "hap", Kind: "haproxy", Settings: c.settings}, env, c.want)
	}
	refused(t, scenario.PathSpec{Name: "../hap", Kind: "haproxy"}, env, "path name")
}

// TestHAProxyFailsToStart: haproxy refuses a config that passed validation
// (maxconn above what the open-file limit allows, or a stats socket path
// that is a directory); the error names haproxy and its last line of output,
// and nothing is left running.
func TestHAProxyFailsToStart(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	_, ups := replicas(t, 1)
	for _, c := range []struct {
		name     string
		settings map[string]string
		prepare  func(dir string)
	}{
		{"fd-limit", map[string]string{"maxconn": "1000000"}, nil},
		{"socket", nil, func(dir string) { os.MkdirAll(filepath.Join(dir, "haproxy-hap", "haproxy.sock"), 0o700) }},
	} {
		env := testEnv(t, ups)
		if c.prepare != nil {
			c.prepare(env.TempDir)
		}
		_, err := paths.Start(context.Background(), scenario.PathSpec{Name: "hap", Kind: "haproxy", Settings: c.settings}, env)
		t.Logf("%s: %v", c.name, err)
		if err == nil || errext.Code(err) != 1 || !strings.Contains(err.Error(), "haproxy (") || !strings.Contains(err.Error(), "[ALERT]") {
			t.Errorf("%s: got %v, want a runtime error naming haproxy and its alert", c.name, err)
		}
		if left := runningIn(env.TempDir); len(left) > 0 {
			t.Errorf("%s: failed start left %v running", c.name, left)
		}
	}
}

// TestProxyPortTaken: the port picked for a proxy is taken, before the
// proxy binds it, by another HTTP server (which would pass a readiness
// check). The start is retried once on another port; a second conflict is
// an error that leaves nothing behind.
func TestProxyPortTaken(t *testing.T) {
	requireBinary(t, "haproxy")
	requireBinary(t, "nginx")
	requireBinary(t, "caddy")
	t.Parallel()
	_, ups := replicas(t, 1)
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer impostor.Close()
	takenPort := impostor.Listener.Addr().(*net.TCPAddr).Port
	for _, spec := range []scenario.PathSpec{
		{Name: "p", Kind: "haproxy"}, {Name: "p", Kind: "nginx"}, caddySpec(t),
	} {
		// Once taken, then free: the start succeeds on the second port.
		picks := 0
		env := testEnv(t, ups)
		env.Ports = func() (int, error) {
			picks++
			if picks == 1 {
				return takenPort, nil
			}
			return paths.FreePort()
		}
		var log strings.Builder
		env.Log = &log
		inst := start(t, spec, env)
		getN(t, inst.Targets()[0], 3)
		inst.Stop()
		if picks != 2 || !strings.Contains(log.String(), "was taken") {
			t.Errorf("%s: %d picks, log %q: want one retry on a new port", spec.Kind, picks, log.String())
		}

		// Taken twice: an error naming the conflict, nothing left.
		env = testEnv(t, ups)
		env.Ports = func() (int, error) { return takenPort, nil }
		start := time.Now()
		_, err := paths.Start(context.Background(), spec, env)
		t.Logf("%s (%v): %v", spec.Kind, time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || errext.Code(err) != 1 {
			t.Errorf("%s on a taken port: got %v", spec.Kind, err)
		}
		if left := runningIn(env.TempDir); len(left) > 0 {
			t.Errorf("%s: failed start left %v running", spec.Kind, left)
		}
	}
}

// TestProxyMissing: without the binary, Check and Start say which package
// to install, as a runtime error (exit 1). Not parallel: it empties PATH and
// the sbin fallback.
func TestProxyMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	restore := *paths.SbinDirs
	*paths.SbinDirs = nil
	defer func() { *paths.SbinDirs = restore }()
	env := testEnv(t, []string{"127.0.0.1:1"})
	for kind, want := range map[string]string{
		"haproxy": "haproxy is not installed: run scripts/setup.sh or apt-get install haproxy",
		"nginx":   "nginx is not installed: run scripts/setup.sh or apt-get install nginx-light",
	} {
		spec := scenario.PathSpec{Name: kind, Kind: kind}
		err := paths.Check(spec, env)
		if err == nil || err.Error() != want || errext.Code(err) != 1 {
			t.Errorf("Check %s: got %v, want %q (exit 1)", kind, err, want)
		}
		if _, err := paths.Start(context.Background(), spec, env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start %s: got %v", kind, err)
		}
	}
}

// TestParseShowStat reads a `show stat` captured from haproxy 2.6 with one
// replica killed: its requests were redispatched to the other.
func TestParseShowStat(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/haproxy-show-stat.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := paths.ParseShowStat(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[1]["svname"] != "s0" || rows[1]["status"] != "DOWN" {
		t.Fatalf("rows: %v", rows)
	}
	c := paths.HAProxyCounters(rows)
	want := map[string]float64{
		"requests": 21, "retries": 0, "redispatches": 19, "connect_errors": 0, "response_errors": 0,
		"responses_5xx": 0, "servers": 2, "servers_up": 1, "check_failures": 3, "server_downs": 1,
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if _, err := paths.ParseShowStat(strings.NewReader("Unknown command\n")); err == nil {
		t.Error("an error answer parsed as stats")
	}
	if _, err := paths.ParseShowStat(strings.NewReader("")); err == nil {
		t.Error("an empty answer parsed as stats")
	}
}
