package paths_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
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
	code := m.Run()
	// Whatever a failed test left running must not outlive the test binary.
	if err := proc.StopAll(time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "stopping leftover children:", err)
		code = 1
	}
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
// if set, otherwise built once from this checkout. Only the tests that need
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
		// The module root is two levels up from internal/paths.
		build := exec.Command("go", "build", "-o", selfOnce.path, "./cmd/meshbench")
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

// testEnv is a path environment over ups, with its own 0700 temp dir.
func testEnv(t *testing.T, ups []string) paths.Env {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	return paths.Env{Upstreams: ups, TempDir: dir, Log: io.Discard}
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
