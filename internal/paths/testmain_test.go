package paths_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// raceEnabled lowers the rates of the load tests: the race detector makes
// the in-process load generator and backends several times slower.
var raceEnabled = func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()

// buildDir holds the meshbench binary the linkerd paths start.
var buildDir string

func TestMain(m *testing.M) {
	if mode := os.Getenv(nginxHelperEnv); mode != "" {
		os.Exit(nginxHelper(mode))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var selfOnce struct {
	sync.Once
	path string
	err  error
}

// self is the meshbench executable for the linkerd paths: $MESHBENCH_BIN
// if set, otherwise built once from this checkout, with meshbench-sidecar
// beside it. Only the tests that need
// it build it, so the proxy tests do not depend on the CLI compiling.
func self(t *testing.T) string {
	t.Helper()
	selfOnce.Do(func() {
		if p := os.Getenv("MESHBENCH_BIN"); p != "" {
			selfOnce.path = p
			return
		}
		dir, err := os.MkdirTemp("", "meshbench-paths-test-")
		if err != nil {
			selfOnce.err = err
			return
		}
		buildDir = dir
		selfOnce.path = filepath.Join(dir, "meshbench")
		// The module root is two levels up from internal/paths. The lean
		// sidecar goes beside meshbench, where the linkerd paths look for it.
		build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/meshbench", "./cmd/meshbench-sidecar")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			selfOnce.err = fmt.Errorf("building meshbench: %v\n%s", err, out)
		}
	})
	if selfOnce.err != nil {
		t.Fatal(selfOnce.err)
	}
	return selfOnce.path
}

// testEnv is a path environment over ups, with its own 0700 temp dir and
// process group, which the test's cleanup closes: whatever a failed test
// left running ends with it.
func testEnv(t *testing.T, ups []string) paths.Env {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	g := proc.NewGroup()
	t.Cleanup(func() {
		if err := g.Close(time.Second); err != nil {
			t.Errorf("stopping what the test left running: %v", err)
		}
	})
	return paths.Env{Upstreams: ups, TempDir: dir, Log: io.Discard, Procs: g}
}

// linkerdEnv is testEnv with the meshbench executable the sidecar runs from.
func linkerdEnv(t *testing.T, ups []string) paths.Env {
	env := testEnv(t, ups)
	env.Self = self(t)
	return env
}

func replicas(t *testing.T, n int) ([]*backend.Server, []string) {
	t.Helper()
	srvs, err := backend.StartReplicas(context.Background(), n, backend.Config{Payload: 512})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, s := range srvs {
		t.Cleanup(func() { s.Close() })
		addrs = append(addrs, s.Addr())
	}
	return srvs, addrs
}

func start(t *testing.T, spec scenario.PathSpec, env paths.Env) paths.Instance {
	t.Helper()
	if err := paths.Check(spec, env); err != nil {
		t.Fatal(err)
	}
	inst, err := paths.Start(context.Background(), spec, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Stop() })
	return inst
}

// requireBinary fails the test when a proxy binary is missing, or skips it
// when MESHBENCH_SKIP_MISSING=1: a proxy test that silently does not run
// would prove nothing.
func requireBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if _, err := os.Stat(filepath.Join("/usr/sbin", name)); err == nil {
		return
	}
	if os.Getenv("MESHBENCH_SKIP_MISSING") == "1" {
		t.Skipf("%s is not installed (MESHBENCH_SKIP_MISSING=1)", name)
	}
	t.Fatalf("%s is not installed: run scripts/setup.sh (or set MESHBENCH_SKIP_MISSING=1 to skip)", name)
}

// groupGone checks that none of pids exists any more.
func groupGone(t *testing.T, pids []int) {
	t.Helper()
	if len(pids) == 0 {
		t.Error("no pids to check")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d still exists after Stop (kill(0) = %v)", pid, err)
		}
	}
}

// stopsClean stops inst, checks that none of pids (its processes) is
// left, and that a second Stop is harmless.
func stopsClean(t *testing.T, inst paths.Instance, pids []int) {
	t.Helper()
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	groupGone(t, pids)
	if err := inst.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// everyReplicaServed checks that each replica got at least one request.
func everyReplicaServed(t *testing.T, srvs []*backend.Server) {
	t.Helper()
	for i, s := range srvs {
		if n, _ := s.Counts(); n == 0 {
			t.Errorf("replica %d got no request", i)
		}
	}
}

// oneLocalTarget returns inst's target, failing the test unless it has
// exactly one, on 127.0.0.1.
func oneLocalTarget(t *testing.T, inst paths.Instance) string {
	t.Helper()
	tg := inst.Targets()
	if len(tg) != 1 || !strings.HasPrefix(tg[0], "http://127.0.0.1:") {
		t.Fatalf("Targets() = %v", tg)
	}
	return tg[0]
}

// getN sends n GETs to base and fails the test unless every one is a 200
// with the replicas' 512-byte body.
func getN(t *testing.T, base string, n int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	for i := range n {
		resp, err := c.Get(base + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(b) != 512 {
			t.Fatalf("request %d: %s, %d bytes, %v", i, resp.Status, len(b), err)
		}
	}
}

// pidser is what the binary-proxy paths expose for these tests.
type pidser interface{ Pids() []int }

// pidsOf lists the live processes of a started binary-proxy path.
func pidsOf(t *testing.T, inst paths.Instance) []int {
	t.Helper()
	p, ok := inst.(pidser)
	if !ok {
		t.Fatalf("%T has no Pids method", inst)
	}
	return p.Pids()
}

// runningIn lists the processes whose command line mentions dir: what a
// failed start could have left behind.
func runningIn(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// checkPrivate checks that dir is 0700 and the named files in it 0600.
func checkPrivate(t *testing.T, dir string, files ...string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want 0700", dir, fi.Mode().Perm())
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// loadUntilCPU sends requests through base until Usage shows CPU time
// (the kernel counts it in 10 ms ticks), and returns that Usage.
func loadUntilCPU(t *testing.T, inst paths.Instance) *results.Proxy {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		getN(t, inst.Targets()[0], 50)
		u, err := inst.Usage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if u.CPUSeconds > 0 || time.Now().After(deadline) {
			return u
		}
	}
}

// refused checks that Check and Start both refuse spec as bad input (exit 2)
// naming want, and that Start left nothing running.
func refused(t *testing.T, spec scenario.PathSpec, env paths.Env, want string) {
	t.Helper()
	if err := paths.Check(spec, env); errext.Code(err) != 2 || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("Check %v: got %v (exit %d), want exit 2 naming %q", spec.Settings, err, errext.Code(err), want)
	}
	inst, err := paths.Start(context.Background(), spec, env)
	if inst != nil {
		inst.Stop()
	}
	if errext.Code(err) != 2 {
		t.Errorf("Start %v: got %v (exit %d), want exit 2", spec.Settings, err, errext.Code(err))
	}
	if left := runningIn(env.TempDir); len(left) > 0 {
		t.Errorf("Start %v left %v running", spec.Settings, left)
	}
}
