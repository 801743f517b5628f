package paths_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestNginx: the real nginx (master and one worker) carries requests to
// both replicas, reports the CPU and memory of both processes and its
// stub_status counters, writes nothing outside its directory, and leaves no
// process after Stop.
func TestNginx(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	env := testEnv(t, ups)
	inst := start(t, scenario.PathSpec{Name: "ngx", Kind: "nginx", Settings: map[string]string{
		"balance": "leastconn", "next_upstream": "error,timeout,http_502", "keepalive": "16",
	}}, env)
	getN(t, oneLocalTarget(t, inst), 40)
	everyReplicaServed(t, srvs)
	u := loadUntilCPU(t, inst)
	t.Logf("nginx: %+v", u)
	if u.CPUSeconds <= 0 || u.MaxRSSBytes <= 0 || u.Processes != 2 || !strings.HasPrefix(u.Version, "nginx 1.") {
		t.Errorf("usage %+v: want CPU, RSS, master and one worker, and a version", u)
	}
	if u.MaxProcessRSSBytes <= 0 || u.MaxProcessRSSBytes >= u.MaxRSSBytes {
		t.Errorf("largest process's peak RSS %d, summed %d: want the largest of two, below their sum", u.MaxProcessRSSBytes, u.MaxRSSBytes)
	}
	if u.Counters["requests"] < 40 {
		t.Errorf("counters %v: want ≥ 40 requests", u.Counters)
	}
	dir := filepath.Join(env.TempDir, "nginx-ngx")
	cfg, _ := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	for _, want := range []string{"least_conn;\n", "keepalive 16;", "proxy_next_upstream error timeout http_502;",
		"max_fails=3 fail_timeout=10s;", "worker_processes 1;", `proxy_set_header Connection "";`, "proxy_http_version 1.1;",
		"proxy_next_upstream_tries 0;", "proxy_next_upstream_timeout 0s;", "proxy_read_timeout 50s;", "proxy_connect_timeout 5s;"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Index(string(cfg), "least_conn") > strings.Index(string(cfg), "keepalive") {
		t.Error("least_conn must come before keepalive in the upstream block")
	}
	checkPrivate(t, dir, "nginx.conf")
	pids := pidsOf(t, inst)
	if len(pids) != 2 {
		t.Errorf("pids %v: want master and worker", pids)
	}
	stopsClean(t, inst, pids)
}

// TestNginxWorkers: worker_processes is a setting; Usage sums every worker.
func TestNginxWorkers(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	_, ups := replicas(t, 1)
	inst := start(t, scenario.PathSpec{Name: "ngx", Kind: "nginx", Settings: map[string]string{"worker_processes": "3"}}, testEnv(t, ups))
	getN(t, inst.Targets()[0], 5)
	u, err := inst.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Processes != 4 {
		t.Errorf("%d processes, want a master and 3 workers", u.Processes)
	}
	pids := pidsOf(t, inst)
	inst.Stop()
	groupGone(t, pids)
}

// TestNginxRefusesBadSettings: as for haproxy, nothing a setting holds
// reaches the config as syntax.
func TestNginxRefusesBadSettings(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1"})
	for _, c := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"keepalive": "64; } server { listen 0.0.0.0:80"}, "keepalive"},
		{map[string]string{"worker_processes": "1;\nuser root"}, "worker_processes"},
		{map[string]string{"worker_processes": "0"}, "worker_processes"},
		{map[string]string{"balance": "ip_hash"}, "balance"},
		{map[string]string{"next_upstream": "error,timeout;"}, "next_upstream"},
		{map[string]string{"next_upstream": "error timeout"}, "next_upstream"},
		{map[string]string{"fail_timeout": "10s#"}, "fail_timeout"},
		{map[string]string{"max_fails": "three"}, "max_fails"},
		{map[string]string{"proxy_pass": "http://evil"}, `unknown nginx setting "proxy_pass"`},
	} {
		refused(t, scenario.PathSpec{Name: "ngx", Kind: "nginx", Settings: c.settings}, env, c.want)
	}
}

// TestNginxFailsToStart: nginx cannot write its pid file (the path is a
// directory); the error names nginx and its last output, and nothing is
// left running.
func TestNginxFailsToStart(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	_, ups := replicas(t, 1)
	env := testEnv(t, ups)
	os.MkdirAll(filepath.Join(env.TempDir, "nginx-ngx", "nginx.pid"), 0o700)
	_, err := paths.Start(context.Background(), scenario.PathSpec{Name: "ngx", Kind: "nginx"}, env)
	t.Logf("%v", err)
	if err == nil || errext.Code(err) != 1 || !strings.Contains(err.Error(), "nginx (") || !strings.Contains(err.Error(), "[emerg]") {
		t.Errorf("got %v, want a runtime error naming nginx and its [emerg] line", err)
	}
	if left := runningIn(env.TempDir); len(left) > 0 {
		t.Errorf("failed start left %v running", left)
	}
}

// TestNginxNextUpstream: with one replica closed, nginx's
// proxy_next_upstream sends every request to the other one.
func TestNginxNextUpstream(t *testing.T) {
	requireBinary(t, "nginx")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	inst := start(t, scenario.PathSpec{Name: "ngx", Kind: "nginx"}, testEnv(t, ups))
	srvs[0].Close()
	getN(t, inst.Targets()[0], 20)
	if _, err := http.Get(inst.Targets()[0]); err != nil {
		t.Fatal(err)
	}
}
