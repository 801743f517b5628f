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

type forkReq struct {
	cmd *exec.Cmd
	err chan error
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from linux/prctl.h.
const prSetChildSubreaper = 36

func forkOnLockedThread(cmd *exec.Cmd) error {
	fork.once.Do(func() {
		// As a subreaper, meshbench inherits the orphans of its children (an
		// nginx worker whose master was killed) instead of init. Stop can
		// then reap them and know they are gone, also in containers whose
		// init never reaps. Failing to become one only costs that.
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
		fork.reqs = make(chan forkReq)
		go forkLoop(fork.reqs)
	})
	r := forkReq{cmd: cmd, err: make(chan error, 1)}
	fork.reqs <- r
	return <-r.err
}

func forkLoop(reqs <-chan forkReq) {
	runtime.LockOSThread() // never unlocked: see fork
	for r := range reqs {
		r.err <- r.cmd.Start()
	}
}
