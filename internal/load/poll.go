package load

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller is how the loop waits: one epoll set of its own holding a timerfd
// for the next send or deadline, an eventfd that other goroutines write to
// wake it, and, while the loop wants to wake for responses, a nested epoll
// set of every connection.
//
// The loop never blocks a thread in epoll_wait: the epoll fd is itself
// registered with Go's netpoller (an epoll set is pollable), and the loop
// parks like any goroutine waiting for a socket. A thread blocked in
// epoll_wait would keep its P from the rest of the process until sysmon
// takes it back, which starves an in-process backend on a small host.
type poller struct {
	epfd, tfd, efd int
	// sockfd is an epoll set of the connections only, nested in epfd while
	// socksIn (see deferBound).
	sockfd  int
	socksIn bool
	events  []unix.EpollEvent
	// kbase is CLOCK_MONOTONIC at engine.base, for absolute timerfd times.
	kbase int64
	// armed is when the timerfd is set to fire (ns since base, 0 when not
	// armed); margin is how far ahead of a send it is set, the rest being
	// spun (see observe).
	armed  int64
	margin float64

	// epfd wrapped for Go's netpoller, and the poll function handed to it
	// (kept here so that waiting allocates nothing).
	epf    *os.File
	rc     syscall.RawConn
	pollFn func(fd uintptr) bool
	polled int
	pollE  error
}

// Tags in the epoll data of epfd's members; connections carry their slot
// index, which is never negative.
const (
	tagTimer = -1
	tagWake  = -2
	tagSocks = -3
)

// deferBound is how soon the next send must be for the loop to leave
// responses unread until it wakes for that send. Each response carries the
// kernel's receive timestamp (SO_TIMESTAMPNS), so reading it later does not
// change its measured time; what waiting costs is that its connection stays
// busy a little longer (at most this long), which a pool of connections
// absorbs. What it saves is a wake-up per response: at 2000 req/s, one of
// the two context switches per request.
const deferBound = 2 * time.Millisecond

// marginQuantile is the share of wake-ups the margin should cover. Lower
// spins less and sends late more often; 0.75 keeps the median send within a
// few µs at an average spin of ~10 µs on a 2-vCPU VM.
const marginQuantile = 0.75

// events returned by one wait: whether the timer fired and whether
// connections have something to handle.
type wakeup struct{ fired, socks bool }

func newPoller() (*poller, error) {
	p := &poller{epfd: -1, tfd: -1, efd: -1, sockfd: -1,
		events: make([]unix.EpollEvent, 128), margin: float64(60 * time.Microsecond)}
	if err := p.open(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *poller) open() error {
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(p.epfd, true); err != nil {
		return fmt.Errorf("epoll fd: %w", err)
	}
	// os.NewFile sees a non-blocking fd and registers it with the netpoller.
	p.epf = os.NewFile(uintptr(p.epfd), "meshbench-load-epoll")
	if p.rc, err = p.epf.SyscallConn(); err != nil {
		return fmt.Errorf("epoll fd: %w", err)
	}
	p.pollFn = func(fd uintptr) bool {
		p.polled, p.pollE = unix.EpollWait(int(fd), p.events, 0)
		return p.polled > 0 || (p.pollE != nil && !errors.Is(p.pollE, unix.EINTR))
	}
	if p.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return fmt.Errorf("timerfd_create: %w", err)
	}
	if p.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	// Edge-triggered timer: re-arming resets it, so it never needs a read.
	if err := addTo(p.epfd, p.tfd, unix.EPOLLIN|unix.EPOLLET, tagTimer); err != nil {
		return err
	}
	if err := addTo(p.epfd, p.efd, unix.EPOLLIN, tagWake); err != nil {
		return err
	}
	if p.sockfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := addTo(p.epfd, p.sockfd, unix.EPOLLIN, tagSocks); err != nil {
		return err
	}
	p.socksIn = true
	return nil
}

// setBase ties the timerfd's clock to the engine's: base is ns since
// engine.base at the moment of the call.
func (p *poller) setBase(now int64) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		p.kbase = ts.Nano() - now
	}
}

func addTo(epfd, fd int, events uint32, tag int32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: tag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// addSock adds a connection's fd, tagged with its slot index.
func (p *poller) addSock(fd, idx int) error {
	return addTo(p.sockfd, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, int32(idx))
}

// wake interrupts the loop's wait; safe from any goroutine.
func (p *poller) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.efd, one[:])
}

func (p *poller) close() {
	if p.epf != nil {
		p.epf.Close() // closes epfd
		p.epfd = -1
	}
	for _, fd := range []int{p.epfd, p.tfd, p.efd, p.sockfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	p.epfd, p.tfd, p.efd, p.sockfd = -1, -1, -1, -1
}

// nestSocks puts the connections' epoll set into the one the loop waits
// on, so that a response wakes it, or takes it out.
func (p *poller) nestSocks(in bool) {
	if in == p.socksIn {
		return
	}
	op := unix.EPOLL_CTL_DEL
	if in {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.sockfd), Pad: tagSocks}
	if err := unix.EpollCtl(p.epfd, op, p.sockfd, &ev); err == nil {
		p.socksIn = in
	}
}

// waitUntil returns when the epoll set has something or at target (ns since
// base); with target at or before now it only polls. It reports whether
// the timer fired and whether connections are ready.
func (p *poller) waitUntil(target, now int64) wakeup {
	spin := target <= now
	if !spin && target != p.armed {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(p.kbase + target)}
		if err := unix.TimerfdSettime(p.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
			spin = true // cannot happen with a valid fd; poll rather than hang
		} else {
			p.armed = target
		}
	}
	var n int
	var err error
	if spin {
		n, err = unix.EpollWait(p.epfd, p.events, 0)
	} else if err = p.rc.Read(p.pollFn); err == nil {
		// Parked until the epoll set had something (the timerfd counts).
		n, err = p.polled, p.pollE
	}
	var w wakeup
	if err != nil {
		return w // EINTR: the runtime's preemption signal; the loop goes round
	}
	for i := 0; i < n; i++ {
		switch p.events[i].Pad {
		case tagTimer:
			w.fired = true
			p.armed = 0
		case tagWake:
			var b [8]byte
			_, _ = unix.Read(p.efd, b[:])
		case tagSocks:
			w.socks = true
		}
	}
	return w
}

// observe moves the margin toward the marginQuantile of observed wake-up
// lateness (a frugal streaming quantile: fixed steps, up with weight q,
// down with weight 1-q).
func (p *poller) observe(lat int64) {
	const step = 4 * float64(time.Microsecond)
	if float64(lat) > p.margin {
		p.margin += step * marginQuantile
	} else {
		p.margin -= step * (1 - marginQuantile)
	}
	p.margin = min(max(p.margin, float64(5*time.Microsecond)), float64(time.Millisecond))
}
