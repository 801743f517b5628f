package load

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is how the loop waits: one epoll set of its own holding an eventfd
// that other goroutines write to wake it, a timerfd (used only where the
// kernel lacks epoll_pwait2), and, while the loop wants to wake for
// responses, a nested epoll set of every connection.
//
// The loop's goroutine blocks its thread in epoll_pwait2 with the time to
// the next thing to do as its timeout, the thread's timer slack cut to 1 ns
// so that the kernel does not round the timeout up (see cutSlack). A
// wake-up is then one switch into the thread that sends. The call is raw:
// the runtime is not told of it and the loop keeps its P (see addProcs for
// how the rest of the process keeps one). Through Go's netpoller, or with
// a system call the runtime knows of, every wake-up costs more switches
// than that: the netpoller readies the goroutine on whichever thread
// polled and wakes a spinning thread to look for more work, and a thread
// in a known system call keeps sysmon waking every 20 µs to take its P. At
// 2000 req/s those were two thirds of the loop's context switches.
type poller struct {
	epfd, tfd, efd int
	// sockfd is an epoll set of the connections only, nested in epfd while
	// socksIn (see deferBound).
	sockfd  int
	socksIn bool
	events  []unix.EpollEvent
	// pwait2: the kernel has epoll_pwait2 (Linux 5.11); without it the
	// loop sets the timerfd and blocks in epoll_wait.
	pwait2 bool
	// slackTid is the thread whose timer slack was cut (see cutSlack).
	slackTid int
	// kbase is CLOCK_MONOTONIC at engine.base, for absolute timerfd times.
	kbase int64
	// armed is when the timerfd is set to fire (ns since base, 0 when not
	// armed); margin is how far ahead of a send the loop wakes, the rest
	// being spun (see observe).
	armed  int64
	margin float64
	// floor is the floorQuantile of wake-up lateness: the part of the
	// margin that a wake-up nearly always takes and that is therefore
	// rarely spun (see loop.wait).
	floor float64
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

// floorQuantile is the share of wake-ups that floor is at least as late as.
const floorQuantile = 0.25

// events returned by one wait: whether the timer fired and whether
// connections have something to handle.
type wakeup struct{ fired, socks bool }

func newPoller() (*poller, error) {
	p := &poller{epfd: -1, tfd: -1, efd: -1, sockfd: -1,
		events: make([]unix.EpollEvent, 128), margin: float64(60 * time.Microsecond),
		floor: float64(20 * time.Microsecond)}
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
	var zero unix.Timespec
	_, err = p.epollPwait2(&zero)
	p.pwait2 = !errors.Is(err, unix.ENOSYS)
	return nil
}

// cutSlack sets the timer slack of the thread the loop runs on to 1 ns, so
// that the kernel does not delay epoll_pwait2's timeout by the default
// 50 µs. Slack is a thread's own; the loop's goroutine is not locked to a
// thread (a locked goroutine that the runtime preempts costs a hand-off of
// its P and two futex wake-ups to get back), so the thread is checked on
// every wait, which costs a gettid.
func (p *poller) cutSlack() {
	if tid := unix.Gettid(); tid != p.slackTid {
		if unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) == nil {
			p.slackTid = tid
		}
	}
}

// epollPwait2 waits at most timeout for epfd's events, raw (see poller).
func (p *poller) epollPwait2(timeout *unix.Timespec) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)),
		uintptr(unsafe.Pointer(timeout)), 0, 0)
	return int(n), errnoErr(e)
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
	var n int
	var err error
	switch {
	case target <= now:
		n, err = rawEpollPoll(p.epfd, p.events)
	case p.pwait2:
		p.cutSlack()
		ts := unix.NsecToTimespec(target - now)
		n, err = p.epollPwait2(&ts)
	default:
		n, err = p.waitTimerfd(target)
	}
	var w wakeup
	if err != nil {
		return w // EINTR: a signal (the runtime's preemption); the loop goes round
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
	// epoll_pwait2 reports no event for its timeout: a return with nothing
	// else to do is the timer.
	if p.pwait2 && n == 0 && target > now {
		w.fired = true
	}
	return w
}

// waitTimerfd arms the timerfd for target and blocks until the epoll set
// has something; for kernels without epoll_pwait2.
func (p *poller) waitTimerfd(target int64) (int, error) {
	if target != p.armed {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(p.kbase + target)}
		if err := unix.TimerfdSettime(p.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
			return unix.EpollWait(p.epfd, p.events, 0) // cannot happen with a valid fd; poll rather than hang
		}
		p.armed = target
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), ^uintptr(0), 0, 0)
	return int(n), errnoErr(e)
}

// observe moves the margin toward the marginQuantile of observed wake-up
// lateness, and the floor toward the floorQuantile (frugal streaming
// quantiles: fixed steps, up with weight q, down with weight 1-q).
func (p *poller) observe(lat int64) {
	p.margin = frugal(p.margin, float64(lat), marginQuantile)
	p.floor = frugal(p.floor, float64(lat), floorQuantile)
}

func frugal(est, v, q float64) float64 {
	const step = 4 * float64(time.Microsecond)
	if v > est {
		est += step * q
	} else {
		est -= step * (1 - q)
	}
	return min(max(est, float64(5*time.Microsecond)), float64(time.Millisecond))
}
