package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunProxies measures direct, haproxy and nginx with the real binaries
// and checks that each proxied row has its overhead and its proxy's usage.
func TestRunProxies(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--paths", "direct,haproxy,nginx",
		"--rate", "300", "--duration", "2s", "--warmup", "500ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f := onlyResult(t, out)
	if len(f.Paths) != 4 {
		t.Fatalf("%d paths", len(f.Paths))
	}
	for _, p := range f.Paths {
		if !strings.Contains(stdout, p.Name) {
			t.Errorf("no %s row in the table:\n%s", p.Name, stdout)
		}
		if p.Errors != 0 || p.Requests < 580 {
			t.Errorf("%s: %d requests, %d errors %v", p.Name, p.Requests, p.Errors, p.ErrorsByClass)
		}
		if p.HostStats == nil || p.HostStats.CPU == nil {
			t.Errorf("%s: no host stats", p.Name)
		}
		if p.Kind == "direct" {
			if p.Baseline == (p.OverheadMs != nil) || p.Proxy != nil {
				t.Errorf("%s (baseline %v) has overhead %v or proxy %v", p.Name, p.Baseline, p.OverheadMs, p.Proxy)
			}
			continue
		}
		if p.OverheadMs == nil {
			t.Errorf("%s: no overhead", p.Name)
		} else if want := p.LatencyMs.P50 - f.Paths[0].LatencyMs.P50; abs(p.OverheadMs.P50-want) > 1e-9 {
			t.Errorf("%s: overhead p50 %.4f, want %.4f", p.Name, p.OverheadMs.P50, want)
		}
		if p.Proxy == nil || p.Proxy.CPUSeconds <= 0 || p.Proxy.MaxRSSBytes < 1<<20 {
			t.Errorf("%s: proxy usage %+v", p.Name, p.Proxy)
		} else if p.Proxy.Counters["requests"] < 580 {
			// Counters are the window's, not the proxy's lifetime's: the
			// warm-up's 150 requests are not in them.
			t.Errorf("%s: proxy counted %v requests in the window", p.Name, p.Proxy.Counters["requests"])
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestRunMissingBinary: a proxy that is not installed is one line naming
// the package, exit 1, and nothing measured or written.
func TestRunMissingBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := filepath.Join(dir, "exec.yaml")
	os.WriteFile(sc, []byte(`name: missing
paths:
  - direct
  - name: frob
    kind: exec
    exec:
      command: [meshbench-no-such-proxy, --listen, "{{.Listen}}"]
      package: frob-proxy
`), 0o600)
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, context.Background(), "run", sc, "--out", out)
	if code != 1 {
		t.Errorf("exit %d, want 1: %s", code, stderr)
	}
	oneLine(t, stderr, "frob-proxy")
	if stdout != "" || len(resultFiles(t, out)) != 0 {
		t.Errorf("stdout %q, files %v", stdout, resultFiles(t, out))
	}
}

// TestRunKilled: SIGKILL gives meshbench no chance to clean up; its
// children must still go with it, by the parent-death signal, within a
// second.
func TestRunKilled(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(testBinary(t), "run", "--paths", "haproxy", "--rate", "100",
		"--duration", "20s", "--warmup", "100ms", "--out", t.TempDir(), "--no-host-stats")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var kids []int
	for deadline := time.Now().Add(10 * time.Second); len(kids) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		kids = childrenOf(t, cmd.Process.Pid)
	}
	if len(kids) == 0 {
		t.Fatalf("haproxy never started: %s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(time.Second)
	for _, pid := range kids {
		for running(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if running(pid) {
			t.Errorf("child %d outlived a SIGKILLed meshbench by a second", pid)
		}
	}
}

// running reports whether pid is a live process. A zombie is not: it has
// exited and only waits to be reaped, which, once meshbench is gone, is up
// to init (and this container's init may never do it).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
