package load

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiver reads responses with their kernel receive timestamps
// (SO_TIMESTAMPNS): a response's time is when its last bytes reached the
// socket, not when the loop got round to reading them, so the loop's own
// wake-up delay is not measured.
type receiver struct {
	buf []byte // response bytes; parsed, never kept
	oob []byte // control data of recvmsg: the receive timestamp
	msg unix.Msghdr
	iov unix.Iovec
}

func newReceiver() receiver {
	return receiver{buf: make([]byte, 64<<10), oob: make([]byte, 128)}
}

// recv is recvmsg into the receiver's buffers; rx is the receive timestamp
// (CLOCK_REALTIME, ns) and ok whether the kernel gave one. It is made here
// rather than with unix.Recvmsg, which allocates a message header on every
// call.
func (r *receiver) recv(fd int) (n int, rx int64, ok bool, err error) {
	return r.recvInto(fd, r.buf)
}

// recvInto is recv into b.
func (r *receiver) recvInto(fd int, b []byte) (n int, rx int64, ok bool, err error) {
	if len(b) == 0 {
		return 0, 0, false, nil
	}
	r.iov.Base = &b[0]
	r.iov.SetLen(len(b))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = &r.oob[0]
	r.msg.SetControllen(len(r.oob))
	n0, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), 0)
	if e != 0 {
		return 0, 0, false, e
	}
	n = int(n0)
	if n > 0 {
		rx, ok = rxTimestamp(r.oob[:r.msg.Controllen])
	}
	return n, rx, ok, nil
}

// rxTimestamp finds the receive timestamp (CLOCK_REALTIME, ns) in the
// control data recvmsg returned.
func rxTimestamp(oob []byte) (int64, bool) {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && n >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			return (*unix.Timespec)(unsafe.Pointer(&oob[hdr])).Nano(), true
		}
		oob = oob[min(unix.CmsgSpace(n-hdr), len(oob)):]
	}
	return 0, false
}

// rxTime is when a response completed, in engine time (ns since base): its
// receive timestamp moved from the wall clock to the monotonic one by an
// offset read now (both clocks are read together, so the offset is exact to
// well under a microsecond and any clock slewing since the bytes arrived is
// negligible), kept within [sent, now]; now when the kernel gave none.
func rxTime(base time.Time, sent, rx int64, ok bool) int64 {
	wall := time.Now()
	now := int64(wall.Sub(base))
	if !ok {
		return now
	}
	return min(max(rx-(wall.UnixNano()-now), sent), now)
}
