package paths_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/scenario"
)

// nginxHelperEnv makes the test binary start an nginx path as a run would
// and wait to die (see TestMain and nginxHelper).
const nginxHelperEnv = "MESHBENCH_PATHS_NGINX_HELPER"

// nginxHelper runs in a helper process: a process group and temp dir of
// its own, two replicas, and an nginx path with two workers. It prints its
// reaper's pid (its child named meshbench-reaper), the temp dir and nginx's
// pids, then waits: to be killed, or in mode "exit" for a line on stdin,
// upon which it exits skipping every deferred cleanup, as meshbench does on
// a second Ctrl-C.
func nginxHelper(mode string) int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	g := proc.NewGroup()
	dir, err := g.TempDir()
	if err != nil {
		return fail(err)
	}
	srvs, err := backend.StartReplicas(context.Background(), 2, backend.Config{Payload: 512})
	if err != nil {
		return fail(err)
	}
	env := paths.Env{TempDir: dir, Log: io.Discard, Procs: g}
	for _, s := range srvs {
		env.Upstreams = append(env.Upstreams, s.Addr())
	}
	inst, err := paths.Start(context.Background(), scenario.PathSpec{Name: "ngx", Kind: "nginx",
		Settings: map[string]string{"worker_processes": "2"}}, env)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("reaper %d\ndir %s\n", childNamed(os.Getpid(), "meshbench-reaper"), dir)
	for _, pid := range inst.(pidser).Pids() {
		fmt.Printf("pid %d\n", pid)
	}
	fmt.Println("ready")
	if mode == "exit" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(130)
	}
	select {}
}

// childNamed is the pid of a child of ppid whose argv[0] is name, or 0.
func childNamed(ppid int, name string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); argv0 != name {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(ppid) {
				return pid
			}
		}
	}
	return 0
}

// TestNginxDiesWithMeshbench: a process that started an nginx path dies
// with no chance to clean up, by SIGKILL or by exiting at once. nginx's
// master gets the parent-death signal, but its workers are not the dead
// process's children; the reaper must end them and remove the run's temp
// dir. The test is the helpers' subreaper, so the reaper becomes its child
// when the helper dies, and the test waits for the reaper to exit.
func TestNginxDiesWithMeshbench(t *testing.T) {
	requireBinary(t, "nginx")
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	for _, mode := range []string{"kill", "exit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := exec.Command(os.Args[0], "-test.run=^$")
			// The race detector sleeps 1 s before a process exits; the
			// reaper's exit is what this test waits for.
			h.Env = append(os.Environ(), nginxHelperEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			stdin, _ := h.StdinPipe()
			stdout, _ := h.StdoutPipe()
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			said := map[string][]string{}
			for sc := bufio.NewScanner(stdout); sc.Scan() && sc.Text() != "ready"; {
				k, v, _ := strings.Cut(sc.Text(), " ")
				said[k] = append(said[k], v)
			}
			reaper, _ := strconv.Atoi(strings.Join(said["reaper"], ""))
			if said["error:"] != nil || reaper == 0 || len(said["dir"]) != 1 || len(said["pid"]) != 3 {
				h.Process.Kill()
				t.Fatalf("helper said %v; want its reaper, temp dir and nginx's three pids", said)
			}
			start := time.Now()
			if mode == "exit" {
				fmt.Fprintln(stdin, "quit")
			} else {
				h.Process.Signal(syscall.SIGKILL)
			}
			h.Wait()
			exited := make(chan syscall.WaitStatus, 1)
			go func() {
				var ws syscall.WaitStatus
				syscall.Wait4(reaper, &ws, 0, nil)
				exited <- ws
			}()
			select {
			case ws := <-exited:
				if ws.ExitStatus() != 0 {
					t.Errorf("reaper: %v", ws)
				}
			case <-time.After(time.Minute):
				t.Fatal("the reaper did not exit within a minute of the helper's end")
			}
			t.Logf("%s: nginx ended and temp dir removed %v after the helper's end", mode, time.Since(start).Round(time.Millisecond))
			for _, s := range said["pid"] {
				pid, _ := strconv.Atoi(s)
				// Reap it if it became this test's zombie; then it must be gone.
				syscall.Wait4(pid, nil, syscall.WNOHANG, nil)
				if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
					t.Errorf("nginx pid %d after the reaper exited: kill(0) = %v", pid, err)
					syscall.Kill(pid, syscall.SIGKILL)
					syscall.Wait4(pid, nil, 0, nil)
				}
			}
			if _, err := os.Stat(said["dir"][0]); !os.IsNotExist(err) {
				t.Errorf("temp dir %s after the reaper exited: %v", said["dir"][0], err)
				os.RemoveAll(said["dir"][0])
			}
		})
	}
}
