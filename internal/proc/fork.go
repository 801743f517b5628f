package proc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Linux sends a child its parent-death signal when the thread that forked
// it exits, not when the process does. Go ends OS threads when a goroutine
// exits while locked to one, so a child forked from an arbitrary goroutine
// could be SIGKILLed in the middle of a run. Every fork therefore happens on
// one goroutine that locks its thread and never returns: that thread lives
// exactly as long as meshbench.
//
// This thread and the subreaper flag below are the two pieces of state
// shared by every Group, and must be: both are properties of the meshbench
// process (what the kernel watches for the parent-death signal, and where
// orphans go), not of a run. Neither lets one run touch another's children.
var fork struct {
	once sync.Once
	reqs chan forkReq
}

// forkReq is one thing to do on the fork thread: start cmd, or call fn.
type forkReq struct {
	cmd *exec.Cmd
	fn  func() error
	err chan error
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from linux/prctl.h.
const prSetChildSubreaper = 36

func forkOnLockedThread(cmd *exec.Cmd) error {
	return onForkThread(forkReq{cmd: cmd, err: make(chan error, 1)})
}

// OnForkThread calls fn on the thread every child is forked from, and
// returns its error. Children inherit that thread's state, such as its CPU
// affinity (see package placement), so fn may set what they should start
// with; it must not unlock or exit the thread.
func OnForkThread(fn func() error) error {
	return onForkThread(forkReq{fn: fn, err: make(chan error, 1)})
}

func onForkThread(r forkReq) error {
	fork.once.Do(func() {
		// As a subreaper, meshbench inherits the orphans of its children (an
		// nginx worker whose master was killed) instead of init. Stop can
		// then reap them and know they are gone, also in containers whose
		// init never reaps. Failing to become one only costs that.
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
		fork.reqs = make(chan forkReq)
		go forkLoop(fork.reqs)
	})
	fork.reqs <- r
	return <-r.err
}

func forkLoop(reqs <-chan forkReq) {
	runtime.LockOSThread() // never unlocked: see fork
	for r := range reqs {
		if r.fn != nil {
			r.err <- r.fn()
			continue
		}
		r.err <- r.cmd.Start()
	}
}
