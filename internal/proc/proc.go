// Package proc runs the child processes meshbench measures (proxies,
// sidecars) so that none of them can outlive it.
//
// Every child runs in its own process group, so that Stop reaches whatever
// the child forked too (nginx workers, a shell's commands); gets SIGKILL from
// the kernel when meshbench dies, even by SIGKILL (the parent-death signal);
// reads /dev/null; and writes into a bounded buffer instead of meshbench's
// own stdout, which carries the report.
//
// Children belong to a Group, one per run: the group lists the children it
// started and not yet stopped, and StopAll ends exactly those, so that two
// runs in one process (the CLI's parallel tests, a library user) never stop
// each other's proxies. The group also owns the run's private temp dir.
//
// What the parent-death signal cannot reach (a child's own children, such
// as nginx's workers) and the temp dir are left to a reaper process that
// outlives meshbench by design and ends them when meshbench dies, however
// it dies (reaper.go says how and why).
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Spec says what to start.
type Spec struct {
	// Name is how errors refer to the process, e.g. "haproxy".
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Dir is the working directory ("" means meshbench's own).
	Dir string
	// Env is added to meshbench's environment, as KEY=value.
	Env []string
}

// outputLimit bounds the captured output: enough for the lines that explain
// a failure, and flat however chatty a proxy is over a long run.
const outputLimit = 64 << 10

// outputDrain is how long the end of the output may trail the process's
// exit (a grandchild may still hold the pipe).
const outputDrain = 200 * time.Millisecond

// killWait bounds how long a process group may take to die after SIGKILL
// (a process in uninterruptible sleep cannot die before its I/O returns).
const killWait = 5 * time.Second

// Process is a started child. Its methods are safe for concurrent use.
type Process struct {
	name  string
	pid   int
	cmd   *exec.Cmd
	out   *ring
	group *Group

	done    chan struct{} // closed once the child exited and was reaped
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// start starts spec's program as described in the package comment; the
// caller (Group.Start) owns the result.
func start(spec Spec) (*Process, error) {
	name := spec.Name
	if name == "" {
		name = spec.Path
	}
	// One pipe for stdout and stderr, read by our own goroutine rather than
	// by os/exec's: then Wait returns when the child exits, not when the last
	// grandchild holding the pipe does.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	if len(spec.Env) > 0 {
		cmd.Env = append(os.Environ(), spec.Env...)
	}
	cmd.Stdout, cmd.Stderr = w, w // Stdin nil: os/exec opens /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := ensureReaper(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	err = forkOnLockedThread(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, spec.Path, err)
	}
	if err := watchGroup(cmd.Process.Pid, true); err != nil {
		// Without the reaper, the child's group could outlive meshbench.
		signalGroup(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		r.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, pid: cmd.Process.Pid, cmd: cmd, out: &ring{}, done: make(chan struct{})}
	drained := make(chan struct{})
	go func() {
		p.out.ReadFrom(r)
		r.Close()
		close(drained)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		select {
		case <-drained:
		case <-time.After(outputDrain):
		}
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Done is closed once the child has exited and was reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the child ended (e.g. "exit status 1"), once Done is closed;
// nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Output is the last 64 KiB the child wrote to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Stop ends the child's whole process group: SIGTERM, then SIGKILL to
// whatever is left after grace, then waits until the child and every other
// member of its group are gone. It returns an error only when something could
// not be ended; a child that ends on SIGTERM, or had already exited, is not
// an error. Stop may be called more than once and from several goroutines;
// later calls wait for the first and return its result.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		p.stopErr = p.stop(grace)
		if p.stopErr == nil {
			// Left registered otherwise: the reaper tries again at exit.
			watchGroup(p.pid, false)
		}
		p.group.remove(p)
	})
	return p.stopErr
}

func (p *Process) stop(grace time.Duration) error {
	// Members are listed before the leader can die: its children then move
	// to meshbench (a subreaper) and must be reaped by pid.
	members := groupPids(procRoot, p.pid)
	select {
	case <-p.done:
	default:
		signalGroup(p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Always, even after a clean exit: a member that ignored SIGTERM or
	// outlived its parent must not survive Stop. The group id cannot have
	// been reused while any member is left, and an empty group gives ESRCH.
	signalGroup(p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killWait):
		return fmt.Errorf("stop %s (pid %d): still running %s after SIGKILL", p.name, p.pid, killWait)
	}
	members = append(members, groupPids(procRoot, p.pid)...)
	if left := reapAll(members, p.pid, time.Now().Add(killWait)); len(left) > 0 {
		return fmt.Errorf("stop %s: processes %v of its group are still running", p.name, left)
	}
	return nil
}

func signalGroup(pgid int, sig syscall.Signal) {
	// ESRCH (nothing left) is the outcome Stop wants; EPERM cannot happen
	// for our own children.
	_ = syscall.Kill(-pgid, sig)
}

// reapAll waits until every pid in pids other than leader (which os/exec
// reaps) is gone, reaping those that became meshbench's children. It
// returns the pids still alive at the deadline.
func reapAll(pids []int, leader int, deadline time.Time) []int {
	var left []int
	seen := map[int]bool{leader: true}
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		for !reap(pid) {
			if time.Now().After(deadline) {
				left = append(left, pid)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sort.Ints(left)
	return left
}

// reap reports whether pid is gone, reaping it if it is a zombie child of
// meshbench. A zombie left to another parent counts as gone: it holds no
// memory, CPU or port, only its pid, until that parent reaps it.
func reap(pid int) bool {
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	switch {
	case got == pid:
		return true
	case err == nil: // our child, still running
		return false
	case errors.Is(err, syscall.ECHILD):
		st, ok := readState(procRoot, pid)
		return !ok || st == 'Z'
	}
	return false
}
