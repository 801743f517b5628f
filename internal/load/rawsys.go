package load

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's system calls on its hot path are made raw, without telling
// the runtime: none of them blocks (the sockets are non-blocking, the
// epoll timeouts 0, and the one wait that blocks is raw for its own reason,
// see poller). A system call the runtime knows of lets sysmon take the P
// of a thread that stays in it past a tick, and on a host where the write
// to a loopback socket runs the receiver's side and wakes it, the thread
// sometimes does: sysmon then keeps waking every 20 µs (a tenth of the
// loop's CPU at 2000 req/s went to its sleeps and wake-ups).

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawWrite is write(2) on a non-blocking fd; b must not be empty.
func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollPoll returns epfd's ready events without waiting.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), errnoErr(e)
}
