package proc

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The parent-death signal reaches only meshbench's own children: an nginx
// worker, child of the nginx master, would outlive a meshbench killed with
// SIGKILL (or quitting at once on a second Ctrl-C) and keep listening. So
// meshbench starts, before its first child, a reaper: meshbench itself, run
// again with reaperEnv set, holding the read end of a pipe. meshbench writes
// into the pipe each process group it starts and each run's temp dir, and
// again when it has ended or removed them. When meshbench exits, however it
// exits, the kernel closes the pipe; the reaper then SIGKILLs every group
// still listed, waits until their members are gone, removes the dirs still
// listed and exits.
//
// Other ways were weighed: a cgroup per run, killed whole through
// cgroup.kill, needs a delegated, writable cgroup v2 tree (containers and
// non-root users often lack one) and someone alive to write cgroup.kill
// after meshbench's SIGKILL, so it would need this process anyway; running
// nginx without a master process changes what is measured and leaves exec
// proxies uncovered; a PID namespace per proxy needs privileges or user
// namespaces and makes each proxy an init that ignores SIGTERM. The reaper
// needs nothing but fork and a pipe.
//
// Limits: a process that leaves its process group (setsid, daemonizing) is
// not followed; and a group is registered just after its leader was forked,
// so a meshbench killed in between leaves that leader to its parent-death
// signal alone.

// reaperEnv, set to "1" in the environment, makes the process a reaper.
const reaperEnv = "MESHBENCH_REAPER"

// reaperFD is the descriptor of the pipe's read end in the reaper.
const reaperFD = 3

// The reaper takes over in an init function rather than in a command of
// meshbench's CLI: every binary that can start children through this
// package (meshbench, and the test binaries of every package that starts
// proxies) can then be its own reaper without wiring, and a binary that
// forgot the wiring cannot, when re-run as a reaper, run its tests again.
func init() {
	if os.Getenv(reaperEnv) == "1" {
		os.Exit(reaperMain(os.NewFile(reaperFD, "reaper pipe")))
	}
}

// reaperMain reads the pipe until meshbench exits, then ends and removes
// what is still listed.
func reaperMain(pipe *os.File) int {
	// Ctrl-C goes to the terminal's foreground process group and an
	// impatient `kill` may name meshbench's: the reaper ends when meshbench
	// does, not on their signals.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if pipe == nil {
		return 2
	}
	groups, dirs := readRegistrations(pipe)
	cleanUp(groups, dirs, procRoot)
	return 0
}

// readRegistrations reads "+g PGID", "-g PGID", "+d PATH" and "-d PATH"
// lines (PATH quoted as by strconv.Quote) until EOF, and returns the groups
// and dirs registered and not withdrawn.
func readRegistrations(r io.Reader) (groups map[int]bool, dirs map[string]bool) {
	groups, dirs = map[int]bool{}, map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		op, arg, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(op) != 2 {
			continue
		}
		add := op[0] == '+'
		switch op[1] {
		case 'g':
			if pg, err := strconv.Atoi(arg); err == nil && pg > 1 {
				setOrDelete(groups, pg, add)
			}
		case 'd':
			if p, err := strconv.Unquote(arg); err == nil && filepath.IsAbs(p) {
				setOrDelete(dirs, filepath.Clean(p), add)
			}
		}
	}
	return groups, dirs
}

func setOrDelete[K comparable](m map[K]bool, k K, add bool) {
	if add {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// cleanUp SIGKILLs each group that still has members in the reaper's own
// session, waits (up to killWait) until they are gone, then removes dirs.
// The session check keeps a group id that was freed and taken by an
// unrelated process group from being killed: meshbench's children never
// leave its session, another program's processes seldom share it.
func cleanUp(groups map[int]bool, dirs map[string]bool, root string) {
	self, err := readStat(root, os.Getpid())
	deadline := time.Now().Add(killWait)
	for pg := range groups {
		members := sessionMembers(root, pg, self.session)
		if err != nil || len(members) == 0 {
			continue
		}
		signalGroup(pg, syscall.SIGKILL)
		// Not the members' parent, the reaper cannot reap them; a zombie
		// holds no port or memory, so it counts as gone.
		for _, pid := range members {
			for time.Now().Before(deadline) {
				if st, ok := readState(root, pid); !ok || st == 'Z' {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	for d := range dirs {
		os.RemoveAll(d)
	}
}

// sessionMembers lists the processes of group pgid that are in session sid.
func sessionMembers(root string, pgid, sid int) []int {
	var out []int
	for _, pid := range groupPids(root, pgid) {
		if st, err := readStat(root, pid); err == nil && st.session == sid {
			out = append(out, pid)
		}
	}
	return out
}

// watch is meshbench's side of the reaper: the pipe, and every registration
// still in force, so that a reaper that died (someone killed it) can be
// replaced and told everything again.
var watch = struct {
	mu   sync.Mutex
	pipe *os.File // nil until started, and after a write failed
	pid  int      // the reaper's, for tests
	// exited is closed when the reaper started with pipe has exited.
	exited chan struct{}
	groups map[int]bool
	dirs   map[string]bool
}{groups: map[int]bool{}, dirs: map[string]bool{}}

// watchGroup registers pgid with the reaper (add) or withdraws it.
func watchGroup(pgid int, add bool) error {
	return register("g", strconv.Itoa(pgid), add, func() { setOrDelete(watch.groups, pgid, add) })
}

// watchDir registers dir with the reaper (add) or withdraws it.
func watchDir(dir string, add bool) error {
	return register("d", strconv.Quote(dir), add, func() { setOrDelete(watch.dirs, dir, add) })
}

func register(kind, arg string, add bool, record func()) error {
	watch.mu.Lock()
	defer watch.mu.Unlock()
	record()
	op := "-"
	if add {
		op = "+"
	}
	line := op + kind + " " + arg + "\n"
	if watch.pipe != nil {
		if _, err := io.WriteString(watch.pipe, line); err == nil {
			return nil
		}
		watch.pipe.Close()
		watch.pipe = nil
	}
	if !add {
		return nil // a new reaper is told only what is still registered
	}
	return startReaper()
}

// startReaper starts a reaper and tells it every registration. watch.mu
// is held.
func startReaper() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the reaper: %w", err)
	}
	defer r.Close()
	cmd := &exec.Cmd{
		// /proc/self/exe is this very binary, even if its file was
		// replaced or deleted since it started.
		Path:       "/proc/self/exe",
		Args:       []string{"meshbench-reaper"},
		Env:        append(os.Environ(), reaperEnv+"=1"),
		Dir:        "/",
		ExtraFiles: []*os.File{r}, // becomes reaperFD
		// Its own process group, so that a signal to meshbench's group
		// does not reach it; no parent-death signal, since it must
		// outlive meshbench.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the reaper: %w", err)
	}
	exited := make(chan struct{})
	go func() { // reaps it should it die before meshbench, or when StopReaper waits
		cmd.Wait()
		close(exited)
	}()
	watch.pid, watch.exited = cmd.Process.Pid, exited
	var b strings.Builder
	for pg := range watch.groups {
		fmt.Fprintf(&b, "+g %d\n", pg)
	}
	for d := range watch.dirs {
		fmt.Fprintf(&b, "+d %s\n", strconv.Quote(d))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		w.Close()
		return fmt.Errorf("starting the reaper: %w", err)
	}
	watch.pipe = w
	return nil
}

// reaperExitWait bounds how long StopReaper waits for the reaper.
const reaperExitWait = 3 * time.Second

// StopReaper is for a process that is about to exit in order: it closes
// the reaper's pipe, as the exit would, and waits (at most reaperExitWait)
// until the reaper has ended what is still listed and exited, so that not
// even the reaper outlives the process. A child started afterwards starts
// a new reaper.
func StopReaper() {
	watch.mu.Lock()
	pipe, exited := watch.pipe, watch.exited
	watch.pipe, watch.exited = nil, nil
	watch.mu.Unlock()
	if pipe != nil {
		pipe.Close()
	}
	if exited == nil {
		return
	}
	select {
	case <-exited:
	case <-time.After(reaperExitWait):
	}
}

// ensureReaper starts the reaper if it is not running, so that it exists
// before the first child is forked.
func ensureReaper() error {
	watch.mu.Lock()
	defer watch.mu.Unlock()
	if watch.pipe != nil {
		return nil
	}
	return startReaper()
}

// makeTempDir makes a new 0700 directory under the system's temp dir,
// registering it with the reaper before it exists, so that no moment
// leaves it unregistered.
func makeTempDir() (string, error) {
	for range 10 {
		var b [8]byte
		rand.Read(b[:])
		dir := filepath.Join(os.TempDir(), "meshbench-"+hex.EncodeToString(b[:]))
		if err := watchDir(dir, true); err != nil {
			return "", err
		}
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return dir, nil
		}
		watchDir(dir, false)
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("run temp dir: %w", err)
		}
	}
	return "", errors.New("run temp dir: no free name after 10 tries")
}
