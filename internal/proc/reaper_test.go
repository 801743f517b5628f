package proc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphansHelper runs in a helper process (see TestMain): it makes a temp
// dir with a key in it and starts a shell whose background child is in the
// shell's process group but not meshbench's child, as an nginx worker is.
// mode "orphans-replace" kills the reaper first and starts a second shell,
// which must start a new reaper that knows the first shell too. It prints
// what it made and then waits: to be killed, or in mode "orphans-exit" for
// a line on stdin, upon which it exits at once, skipping every deferred
// cleanup as meshbench does on a second Ctrl-C.
func orphansHelper(mode string) int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	g := NewGroup()
	dir, err := g.TempDir()
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("secret"), 0o600); err != nil {
		return fail(err)
	}
	shells := 1
	if mode == "orphans-replace" {
		shells = 2
	}
	var pids []int
	for i := range shells {
		if i == 1 {
			first := watch.pid
			syscall.Kill(first, syscall.SIGKILL)
			for {
				if _, ok := readState(procRoot, first); !ok {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		p, err := g.Start(context.Background(), sh(`sleep 60 & echo "orphan $!"; wait`))
		if err != nil {
			return fail(err)
		}
		for !strings.Contains(p.Output(), "orphan ") {
			time.Sleep(5 * time.Millisecond)
		}
		pids = append(pids, p.Pids()...)
	}
	fmt.Printf("reaper %d\ndir %s\n", watch.pid, dir)
	for _, pid := range pids {
		fmt.Printf("pid %d\n", pid)
	}
	fmt.Println("ready")
	if mode == "orphans-exit" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(130)
	}
	select {}
}

// prSetChildSubreaper makes this test process the parent of its helpers'
// orphans, so that it can wait for their reaper to exit (an event, not a
// poll) and reap what the reaper killed.
func becomeSubreaper(t *testing.T) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
}

// TestReaper: a helper that started children and made a temp dir dies
// without running any cleanup of its own (SIGKILL, or os.Exit as on a
// second Ctrl-C). Its reaper must then end every process of the helper's
// groups, including the one that is not the helper's child, and remove the
// temp dir; then it exits. With its first reaper killed, the helper starts
// another that knows everything the first one knew.
func TestReaper(t *testing.T) {
	becomeSubreaper(t)
	for _, mode := range []string{"orphans", "orphans-exit", "orphans-replace"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := exec.Command(os.Args[0], "-test.run=^$")
			// The race detector sleeps 1 s before a process exits; the
			// reaper's exit is what this test waits for.
			h.Env = append(os.Environ(), helperEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			stdin, _ := h.StdinPipe()
			stdout, _ := h.StdoutPipe()
			if err := h.Start(); err != nil {
				t.Fatal(err)
			}
			var reaper int
			var dir string
			var pids []int
			sc := bufio.NewScanner(stdout)
			for sc.Scan() && sc.Text() != "ready" {
				var pid int
				switch line := sc.Text(); {
				case strings.HasPrefix(line, "reaper "):
					reaper = atoi(t, strings.TrimPrefix(line, "reaper "))
				case strings.HasPrefix(line, "dir "):
					dir = strings.TrimPrefix(line, "dir ")
				case strings.HasPrefix(line, "pid "):
					fmt.Sscan(strings.TrimPrefix(line, "pid "), &pid)
					pids = append(pids, pid)
				default:
					h.Process.Kill()
					t.Fatalf("helper: %s", line)
				}
			}
			wantPids := 2
			if mode == "orphans-replace" {
				wantPids = 4
			}
			if reaper == 0 || dir == "" || len(pids) != wantPids {
				h.Process.Kill()
				t.Fatalf("helper said reaper %d, dir %q, pids %v", reaper, dir, pids)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("temp dir: %v, %v; want mode 0700", fi, err)
			}

			start := time.Now()
			if mode == "orphans-exit" {
				fmt.Fprintln(stdin, "quit")
			} else {
				h.Process.Signal(syscall.SIGKILL)
			}
			h.Wait()
			// The helper is gone, so its reaper is now this process's
			// child: wait for it to exit.
			exited := make(chan error, 1)
			go func() {
				var ws syscall.WaitStatus
				_, err := syscall.Wait4(reaper, &ws, 0, nil)
				if err == nil && ws.ExitStatus() != 0 {
					err = fmt.Errorf("reaper exited with %v", ws)
				}
				exited <- err
			}()
			select {
			case err := <-exited:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the reaper did not exit within a minute of the helper's death")
			}
			t.Logf("%s: reaper done %v after the helper's end", mode, time.Since(start).Round(time.Millisecond))
			for _, pid := range pids {
				if !gone(pid, 0) {
					t.Errorf("pid %d of the helper's groups is still running after its reaper exited", pid)
					syscall.Kill(pid, syscall.SIGKILL)
					gone(pid, time.Second)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("temp dir %s after the reaper exited: %v", dir, err)
				os.RemoveAll(dir)
			}
		})
	}
}

// TestTempDir: 0700, the same dir on every call, removed by Close.
func TestTempDir(t *testing.T) {
	t.Parallel()
	g := NewGroup()
	dir, err := g.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := g.TempDir(); again != dir {
		t.Errorf("second TempDir = %s, want %s", again, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("TempDir %s: %v, %v; want a 0700 directory", dir, fi, err)
	}
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("k"), 0o600)
	if err := g.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := g.TempDir(); err == nil {
		t.Error("TempDir after Close: no error")
	}
	watch.mu.Lock()
	registered := watch.dirs[dir]
	watch.mu.Unlock()
	if registered {
		t.Error("removed dir still registered with the reaper")
	}
}

// TestReadRegistrations: the reaper's side of the pipe keeps what was
// registered and not withdrawn, and passes over lines it cannot use.
func TestReadRegistrations(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"+g 100", "+g 200", "-g 100", "+g 1", "+g -5", "+g x", "garbage", "+x 3",
		`+d "/tmp/meshbench-a"`, `+d "/tmp/meshbench-b"`, `-d "/tmp/meshbench-a"`,
		`+d "relative"`, `+d /tmp/unquoted`, `+d "/tmp/with\nnewline"`,
	}, "\n")
	groups, dirs := readRegistrations(strings.NewReader(in))
	if want := map[int]bool{200: true}; !reflect.DeepEqual(groups, want) {
		t.Errorf("groups = %v, want %v", groups, want)
	}
	if want := map[string]bool{"/tmp/meshbench-b": true, "/tmp/with\nnewline": true}; !reflect.DeepEqual(dirs, want) {
		t.Errorf("dirs = %v, want %v", dirs, want)
	}
}

// TestCleanUpSession: a group whose members are in another session is
// not this meshbench's (its id was reused) and is left alone.
func TestCleanUpSession(t *testing.T) {
	t.Parallel()
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	cleanUp(map[int]bool{other.Process.Pid: true}, nil, procRoot)
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("a group in another session was killed: %v", err)
	}
	mine := startT(t, sh(`sleep 60 & echo "orphan $!"; wait`))
	orphan := atoi(t, waitOutput(t, mine, "orphan "))
	cleanUp(map[int]bool{mine.Pid(): true}, nil, procRoot)
	<-mine.Done()
	if !gone(orphan, 10*time.Second) {
		t.Errorf("orphan %d of a group in this session survived cleanUp", orphan)
	}
}

// stopReaperHelper starts and stops a child, so that a reaper runs, then
// calls StopReaper and says whether the reaper still exists.
func stopReaperHelper() int {
	g := NewGroup()
	if _, err := g.Start(context.Background(), Spec{Name: "true", Path: "true"}); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	g.Close(time.Second)
	reaper := watch.pid
	StopReaper()
	if syscall.Kill(reaper, 0) == nil {
		fmt.Println("reaper alive")
	} else {
		fmt.Println("reaper gone")
	}
	return 0
}

// TestStopReaper: a process that stops its children and then StopReaper
// has no reaper left when StopReaper returns (meshbench calls it just
// before it exits, so that no process it started outlives it).
func TestStopReaper(t *testing.T) {
	t.Parallel()
	h := exec.Command(os.Args[0], "-test.run=^$")
	h.Env = append(os.Environ(), helperEnv+"=stop-reaper")
	out, err := h.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "reaper gone" {
		t.Errorf("helper: %v: %s", err, out)
	}
}
