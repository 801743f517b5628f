package sidecar

import (
	"context"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// Why this file exists: on the small VMs meshbench measures, a write to a
// loopback socket runs the peer's whole TCP receive path inside the
// syscall and takes tens of microseconds. The Go scheduler treats a
// syscall that long as blocking: sysmon takes the P away and wakes another
// thread to run it, and the first thread parks when the syscall returns.
// That is two thread switches per slow syscall, and in a VM (with a
// paravirtualised scheduler above all) a thread switch costs far more than
// the syscall. Profiles of the sidecar at 1000 requests/s showed more time
// in switching threads than in proxying.
//
// A socket the poller owns never blocks in read or write: it returns
// EAGAIN and the goroutine waits in the netpoller. So those two syscalls
// are issued raw (syscall.RawSyscall, which does not tell the scheduler)
// through the connection's syscall.RawConn, which keeps the netpoller's
// waiting and the deadlines net/http relies on.

// fastConn is a TCP connection whose reads and writes bypass the scheduler's
// syscall bookkeeping. Like any net.Conn it allows one reader and one
// writer at a time: the per-call state lives in the struct so that the
// callbacks, made once per connection, allocate nothing per call.
type fastConn struct {
	*net.TCPConn
	rc syscall.RawConn

	rbuf    []byte
	rn      int
	rerr    error
	readFn  func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
}

func newFastConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	f := &fastConn{TCPConn: tc, rc: rc}
	f.readFn = f.doRead
	f.writeFn = f.doWrite
	return f
}

func (f *fastConn) doRead(fd uintptr) bool {
	var n uintptr
	var errno syscall.Errno
	for {
		n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(f.rbuf))), uintptr(len(f.rbuf)))
		if errno != syscall.EINTR {
			break
		}
	}
	switch {
	case errno == syscall.EAGAIN:
		return false // wait in the netpoller
	case errno != 0:
		f.rn, f.rerr = 0, errno
	case n == 0:
		f.rn, f.rerr = 0, io.EOF
	default:
		f.rn, f.rerr = int(n), nil
	}
	return true
}

func (f *fastConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.rbuf = p
	err := f.rc.Read(f.readFn)
	f.rbuf = nil
	if err != nil {
		// A deadline or a closed connection, from the poller.
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: err}
	}
	if f.rerr != nil && f.rerr != io.EOF {
		return f.rn, &net.OpError{Op: "read", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: f.rerr}
	}
	return f.rn, f.rerr
}

func (f *fastConn) doWrite(fd uintptr) bool {
	for f.wn < len(f.wbuf) {
		rest := f.wbuf[f.wn:]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch errno {
		case 0:
			f.wn += int(n)
		case syscall.EAGAIN:
			return false // the socket buffer is full: wait until it drains
		case syscall.EINTR:
		default:
			f.werr = errno
			return true
		}
	}
	return true
}

func (f *fastConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.wbuf, f.wn, f.werr = p, 0, nil
	err := f.rc.Write(f.writeFn)
	n := f.wn
	f.wbuf = nil
	if err == nil {
		err = f.werr
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: err}
	}
	return n, nil
}

// fastDial dials with d and wraps the connection.
func fastDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newFastConn(c), nil
	}
}
