package load

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop: one goroutine, one epoll set of its own holding a
// timerfd for the next send, an eventfd for cancellation and, while the
// loop wants to wake for responses, a nested epoll set of every connection.
// Per request it makes a handful of syscalls (write, recvmsg, epoll_wait,
// timerfd_settime) and wakes no other thread, which is what keeps its CPU
// cost low (see the package comment).
//
// The loop never blocks a thread in epoll_wait: its epoll fd is itself
// registered with Go's netpoller (an epoll set is pollable), and the loop
// parks like any goroutine waiting for a socket. A locked thread blocked in
// epoll_wait was tried: it keeps its P from the rest of the process until
// sysmon takes it back, which starves an in-process backend (TestPrecision
// p50 5.39–5.48 ms against 5.16 ms parked in the netpoller).

// slot is one connection of the pool, open or not.
type slot struct {
	idx        int
	t          int // index of its target
	fd         int // -1 while closed
	busy       bool
	connecting bool
	j          job
	sent       int64 // actual send time (ns since base)
	deadline   int64
	uses       int // responses read on this connection
	wpos       int // bytes of the request written so far
	retried    bool
	p          respParser
}

// fifo is a queue of requests waiting for a free connection.
type fifo struct {
	buf  []job
	head int
}

func (q *fifo) len() int   { return len(q.buf) - q.head }
func (q *fifo) peek() job  { return q.buf[q.head] }
func (q *fifo) push(j job) { q.buf = append(q.buf, j) }
func (q *fifo) pop() job {
	j := q.buf[q.head]
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.buf):
		n := copy(q.buf, q.buf[q.head:])
		q.buf, q.head = q.buf[:n], 0
	}
	return j
}

const (
	tagTimer = -1 // epoll data of the timerfd
	tagWake  = -2 // and of the eventfd
	tagSocks = -3 // and of the nested epoll set of the connections
)

// deferBound is how soon the next send must be for the loop to leave
// responses unread until it wakes for that send. Each response carries the
// kernel's receive timestamp (SO_TIMESTAMPNS), so reading it later does not
// change its measured time; what waiting costs is that its connection stays
// busy a little longer (at most this long), which a pool of connections
// absorbs. What it saves is a wake-up per response: at 2000 req/s, one of
// the two context switches per request.
const deferBound = 2 * time.Millisecond

type loop struct {
	e              *engine
	epfd, tfd, efd int
	// sockfd is an epoll set of the connections only, nested in epfd while
	// the loop wants to wake for responses (socksIn), out of it while it
	// leaves them for its next send (see deferBound).
	sockfd   int
	socksIn  bool
	oob      []byte // control data of recvmsg: the receive timestamp
	msg      unix.Msghdr
	iov      unix.Iovec
	kbase    int64 // CLOCK_MONOTONIC at e.base
	addrs    []unix.Sockaddr
	slots    []*slot
	free     [][]*slot // per target, used as a stack: hot connections first
	queue    []fifo    // per target
	inflight int
	rec      recorder
	buf      []byte
	events   []unix.EpollEvent

	// The schedule cursor: request k of sched, sent from phaseStart.
	sched      Schedule
	phaseStart int64
	k          int64
	measured   bool
	nextAt     int64
	scheduling bool
	rr         int // next target, round robin

	opened, closed, interrupted bool
	end                         int64 // where the measured window closed
	abortAt                     int64

	// The timerfd is armed for armed (ns since base, 0 when not armed); it
	// is set margin ahead of a send, and the loop spins the rest.
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

// marginQuantile is the share of wake-ups the margin should cover. Lower
// spins less and sends late more often; 0.75 keeps the median send within a
// few µs at an average spin of ~10 µs on the VM this was tuned on.
const marginQuantile = 0.75

func newLoop(e *engine) (*loop, error) {
	l := &loop{e: e, epfd: -1, tfd: -1, efd: -1, sockfd: -1, buf: make([]byte, 64<<10), oob: make([]byte, 128),
		events: make([]unix.EpollEvent, 128), margin: float64(60 * time.Microsecond)}
	for _, t := range e.targets {
		sa, err := resolve(t.addr)
		if err != nil {
			return nil, err
		}
		l.addrs = append(l.addrs, sa)
	}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(l.epfd, true); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	// os.NewFile sees a non-blocking fd and registers it with the netpoller.
	l.epf = os.NewFile(uintptr(l.epfd), "meshbench-load-epoll")
	if l.rc, err = l.epf.SyscallConn(); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	l.pollFn = func(fd uintptr) bool {
		l.polled, l.pollE = unix.EpollWait(int(fd), l.events, 0)
		return l.polled > 0 || (l.pollE != nil && !errors.Is(l.pollE, unix.EINTR))
	}
	if l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// Edge-triggered timer: re-arming resets it, so it never needs a read.
	if err := l.add(l.tfd, unix.EPOLLIN|unix.EPOLLET, tagTimer); err != nil {
		l.close()
		return nil, err
	}
	if err := l.add(l.efd, unix.EPOLLIN, tagWake); err != nil {
		l.close()
		return nil, err
	}
	if l.sockfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := l.add(l.sockfd, unix.EPOLLIN, tagSocks); err != nil {
		l.close()
		return nil, err
	}
	l.socksIn = true
	nt := len(e.targets)
	l.free = make([][]*slot, nt)
	l.queue = make([]fifo, nt)
	for i := 0; i < e.cfg.Connections; i++ {
		s := &slot{idx: i, t: i % nt, fd: -1}
		l.slots = append(l.slots, s)
	}
	for i := len(l.slots) - 1; i >= 0; i-- {
		s := l.slots[i]
		l.free[s.t] = append(l.free[s.t], s)
	}
	return l, nil
}

func resolve(addr string) (unix.Sockaddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", addr, err)
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, nil
}

func (l *loop) add(fd int, events uint32, tag int32) error {
	return addTo(l.epfd, fd, events, tag)
}

func addTo(epfd, fd int, events uint32, tag int32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: tag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// wake interrupts the loop's epoll_wait; safe from any goroutine.
func (l *loop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.efd, one[:])
}

func (l *loop) close() {
	for _, s := range l.slots {
		l.closeFd(s)
	}
	if l.epf != nil {
		l.epf.Close() // closes epfd
		l.epfd = -1
	}
	for _, fd := range []int{l.epfd, l.tfd, l.efd, l.sockfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.epfd, l.tfd, l.efd, l.sockfd = -1, -1, -1, -1
}

func (l *loop) now() int64 { return int64(time.Since(l.e.base)) }

// run is the loop itself; it returns when the window has closed and every
// request in flight has finished or timed out.
func (l *loop) run() *Result {
	e := l.e
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		l.kbase = ts.Nano() - l.now()
	}
	l.rec = newRecorder()
	if e.warm != nil {
		l.sched, l.phaseStart, l.measured = e.warm, int64(warmStart), false
	} else {
		l.sched, l.phaseStart, l.measured = e.sched, e.winStart, true
	}
	l.k = -1
	l.scheduling = true
	l.advance()

	for {
		now := l.now()
		if !l.interrupted && e.cancelled.Load() {
			l.cancel(now)
		}
		if !l.opened && now >= e.winStart && !l.interrupted {
			l.opened = true
			e.phase.Store(PhaseMeasure)
			if e.cfg.OnMeasure != nil {
				go e.cfg.OnMeasure(e.base.Add(time.Duration(e.winStart)))
			}
		}
		if !l.socksIn && l.scheduling && l.nextAt <= now {
			// About to send with responses left unread: read them first,
			// so their connections are free for it.
			l.harvest()
		}
		for l.scheduling && l.nextAt <= now {
			l.enqueue(job{intended: l.nextAt, measured: l.measured}, now)
			l.advance()
		}
		if !l.closed && !l.scheduling && now >= e.winEnd {
			l.closeWindow(now)
		}
		l.expire(now)
		l.pump(now)
		if l.closed && l.inflight == 0 {
			break
		}
		l.wait(now)
	}
	return e.result(&l.rec, l.end, l.interrupted)
}

// advance moves the schedule cursor to the next request, from the warm-up
// into the window, and stops scheduling after the window's last request.
func (l *loop) advance() {
	l.k++
	off, ok := l.sched.Offset(l.k)
	if !ok && !l.measured {
		l.sched, l.phaseStart, l.measured, l.k = l.e.sched, l.e.winStart, true, 0
		off, ok = l.sched.Offset(0)
	}
	if !ok {
		l.scheduling = false
		return
	}
	l.nextAt = l.phaseStart + int64(off)
}

// enqueue hands j to a free connection of the next target, or queues it.
func (l *loop) enqueue(j job, now int64) {
	t := l.rr
	l.rr = (l.rr + 1) % len(l.queue)
	if l.queue[t].len() == 0 && len(l.free[t]) > 0 {
		if j.measured {
			record(l.rec.dispatch, now-j.intended)
		}
		l.start(l.popFree(t), j, now)
		return
	}
	j.waited = true
	l.queue[t].push(j)
}

func (l *loop) popFree(t int) *slot {
	f := l.free[t]
	s := f[len(f)-1]
	l.free[t] = f[:len(f)-1]
	return s
}

// pump starts queued requests on connections that came free.
func (l *loop) pump(now int64) {
	for t := range l.queue {
		for l.queue[t].len() > 0 && len(l.free[t]) > 0 {
			l.start(l.popFree(t), l.queue[t].pop(), now)
		}
	}
}

func (l *loop) start(s *slot, j job, now int64) {
	e := l.e
	s.busy, s.j, s.sent = true, j, now
	s.deadline = j.intended + e.timeout
	if l.abortAt != 0 && l.abortAt < s.deadline {
		s.deadline = l.abortAt
	}
	s.wpos, s.retried = 0, false
	s.p.reset(e.targets[s.t].head)
	l.inflight++
	if !j.measured {
		e.sentWarm.Add(1)
	}
	l.send(s, now)
}

// send writes the request, dialling first if the slot has no connection.
func (l *loop) send(s *slot, now int64) {
	if s.fd < 0 {
		if err := l.dial(s); err != nil {
			l.finish(s, now, classConnect)
			return
		}
		if s.connecting {
			return // the request goes out when the connection is up
		}
	}
	l.write(s, now)
}

func (l *loop) dial(s *slot) error {
	sa := l.addrs[s.t]
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// Receive timestamps: a response's time is when its last bytes reached
	// the socket, not when the loop got round to reading them.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return err
	}
	if err := addTo(l.sockfd, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, int32(s.idx)); err != nil {
		unix.Close(fd)
		return err
	}
	s.fd, s.uses, s.connecting = fd, 0, err != nil
	return nil
}

func (l *loop) closeFd(s *slot) {
	if s.fd >= 0 {
		unix.Close(s.fd) // closing removes it from the epoll set
		s.fd = -1
	}
	s.connecting = false
}

func (l *loop) write(s *slot, now int64) {
	raw := l.e.targets[s.t].raw
	for s.wpos < len(raw) {
		n, err := unix.Write(s.fd, raw[s.wpos:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return // the rest goes when epoll says writable
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			l.ioFailed(s, now)
			return
		}
		s.wpos += n
	}
}

// onEvent handles readiness of one connection.
func (l *loop) onEvent(s *slot, ev uint32) {
	now := l.now()
	if s.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
			l.closeFd(s)
			if s.busy {
				l.finish(s, now, classConnect)
			}
			return
		}
		s.connecting = false
		if s.busy {
			l.write(s, now)
		}
	} else if s.busy && ev&unix.EPOLLOUT != 0 && s.wpos < len(l.e.targets[s.t].raw) {
		l.write(s, now)
	}
	if s.fd >= 0 && ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.read(s)
	}
}

// read drains the socket (the epoll set is edge-triggered) into the parser.
func (l *loop) read(s *slot) {
	for {
		n, oobn, err := l.recv(s.fd)
		if n > 0 {
			rx, ok := rxTimestamp(l.oob[:oobn])
			if !s.busy {
				l.closeFd(s) // bytes nobody asked for: the connection is unusable
				return
			}
			_, done, perr := s.p.feed(l.buf[:n])
			if perr != nil {
				l.closeFd(s)
				l.finish(s, l.now(), classOther)
				return
			}
			if done {
				l.complete(s, l.rxTime(s, rx, ok))
				return
			}
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// End of stream, or a reset.
		now := l.now()
		if !s.busy {
			l.closeFd(s) // the server closed an idle connection
			return
		}
		if err == nil && s.p.eof() {
			l.complete(s, now)
			return
		}
		l.ioFailed(s, now)
		return
	}
}

// ioFailed handles a connection that broke under a request. A keep-alive
// connection that the server closed while it sat idle fails before a single
// byte of response; then the request is sent once more on a new connection,
// as HTTP clients do. Anything else is an error of class other.
func (l *loop) ioFailed(s *slot, now int64) {
	l.closeFd(s)
	if !s.p.got && s.uses > 0 && !s.retried {
		s.retried = true
		s.wpos = 0
		s.p.reset(l.e.targets[s.t].head)
		l.send(s, now)
		return
	}
	l.finish(s, now, classOther)
}

func (l *loop) complete(s *slot, now int64) {
	s.uses++
	c := noError
	switch st := s.p.status; {
	case st >= 500:
		c = class5xx
	case st >= 400 || st < 200:
		c = classOther
	}
	if !s.p.keepAlive {
		l.closeFd(s)
	}
	l.finish(s, now, c)
}

// finish records a request that was sent and frees its connection.
func (l *loop) finish(s *slot, end int64, c class) {
	j := s.j
	s.busy = false
	l.inflight--
	l.free[s.t] = append(l.free[s.t], s)
	if !j.measured {
		return
	}
	e, r := l.e, &l.rec
	r.requests++
	r.sent++
	e.sentMeas.Add(1)
	lat := end - j.intended
	record(r.resp, lat)
	record(r.svc, end-s.sent)
	late := s.sent - j.intended
	record(r.late, late)
	if late > int64(e.cfg.LateThreshold) {
		r.lateCount++
		if j.waited {
			r.lateWait++
		} else {
			r.lateLoop++
		}
	}
	if c != noError {
		r.fail(c)
		e.errsMeas.Add(1)
	}
	e.timeline.record(j.intended, lat, c != noError)
}

// expire times out requests in flight past their deadline and requests
// that waited for a connection longer than their timeout.
func (l *loop) expire(now int64) {
	for _, s := range l.slots {
		if s.busy && now >= s.deadline {
			c := classTimeout
			if s.connecting {
				c = classConnect
			}
			l.closeFd(s)
			l.finish(s, now, c)
		}
	}
	for t := range l.queue {
		q := &l.queue[t]
		for q.len() > 0 && now >= q.peek().intended+l.e.timeout {
			j := q.pop()
			if !j.measured {
				continue
			}
			// Never sent: no service time, and lateness is unknown.
			r := &l.rec
			r.requests++
			l.e.sentMeas.Add(1)
			record(r.resp, now-j.intended)
			r.fail(classTimeout)
			l.e.errsMeas.Add(1)
			l.e.timeline.record(j.intended, now-j.intended, true)
		}
	}
}

// closeWindow ends the measured window: what still waits for a connection
// is Unsent, recorded with the time it has waited so far.
func (l *loop) closeWindow(now int64) {
	e := l.e
	l.closed = true
	l.scheduling = false
	l.end = max(min(now, e.winEnd), e.winStart)
	e.phase.Store(PhaseDrain)
	for _, s := range l.slots {
		if s.busy && s.j.measured {
			l.rec.pending++
		}
	}
	for t := range l.queue {
		q := &l.queue[t]
		for q.len() > 0 {
			j := q.pop()
			if !j.measured {
				continue
			}
			l.rec.unsent++
			record(l.rec.resp, now-j.intended)
			e.timeline.record(j.intended, now-j.intended, false)
		}
	}
}

// cancel stops sending at once and gives requests in flight a bounded time.
func (l *loop) cancel(now int64) {
	l.interrupted = true
	l.abortAt = now + int64(min(drainOnCancel, l.e.cfg.Timeout))
	for _, s := range l.slots {
		if s.busy && s.deadline > l.abortAt {
			s.deadline = l.abortAt
		}
	}
	if !l.closed {
		l.closeWindow(now)
	}
}

// wait blocks until the next thing to do: a send (woken a margin early,
// then spinning), a deadline, or a connection event, which it handles.
func (l *loop) wait(now int64) {
	e := l.e
	next, isSend := int64(math.MaxInt64), false
	if l.scheduling {
		next, isSend = l.nextAt, true
	}
	if !l.closed && !l.scheduling {
		next = min(next, e.winEnd)
	}
	if !l.opened && !l.interrupted && e.winStart < next {
		next, isSend = e.winStart, false
	}
	for _, s := range l.slots {
		if s.busy && s.deadline < next {
			next, isSend = s.deadline, false
		}
	}
	for t := range l.queue {
		if q := &l.queue[t]; q.len() > 0 {
			if d := q.peek().intended + e.timeout; d < next {
				next, isSend = d, false
			}
		}
	}
	// Leave responses unread while a send is due soon (see deferBound).
	if deferOK := isSend && next-now <= int64(deferBound); deferOK == l.socksIn {
		l.nestSocks(!deferOK)
	}
	target := next
	if isSend {
		target = next - int64(l.margin)
	}
	timeout := -1
	if target <= now {
		timeout = 0 // spin: poll without sleeping until the send is due
	} else if target != l.armed {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(l.kbase + target)}
		if err := unix.TimerfdSettime(l.tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
			timeout = 0 // cannot happen with a valid fd; poll rather than hang
		} else {
			l.armed = target
		}
	}
	var n int
	var err error
	if timeout == 0 {
		n, err = unix.EpollWait(l.epfd, l.events, timeout)
	} else {
		// Park until the epoll set has something (the timerfd counts).
		if rerr := l.rc.Read(l.pollFn); rerr != nil {
			err = rerr
		} else {
			n, err = l.polled, l.pollE
		}
	}
	if err != nil {
		return // EINTR: the runtime's preemption signal; just loop
	}
	fired, socks := false, false
	for i := 0; i < n; i++ {
		switch l.events[i].Pad {
		case tagTimer:
			fired = true
			l.armed = 0
		case tagWake:
			var b [8]byte
			_, _ = unix.Read(l.efd, b[:])
		case tagSocks:
			socks = true
		}
	}
	if socks {
		l.harvest()
	}
	if fired && isSend {
		l.observe(l.now() - target)
	}
}

// nestSocks puts the connections' epoll set into the one the loop waits
// on, so that a response wakes it, or takes it out.
func (l *loop) nestSocks(in bool) {
	op := unix.EPOLL_CTL_DEL
	if in {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.sockfd), Pad: tagSocks}
	if err := unix.EpollCtl(l.epfd, op, l.sockfd, &ev); err == nil {
		l.socksIn = in
	}
}

// harvest handles every pending connection event without waiting.
func (l *loop) harvest() {
	for {
		n, err := unix.EpollWait(l.sockfd, l.events, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		for i := 0; i < n; i++ {
			ev := l.events[i]
			if s := l.slots[ev.Pad]; s.fd == int(ev.Fd) {
				l.onEvent(s, ev.Events)
			}
		}
		if err != nil || n < len(l.events) {
			return
		}
	}
}

// recv is recvmsg into the loop's buffers. It is made here rather than
// with unix.Recvmsg, which allocates a message header on every call.
func (l *loop) recv(fd int) (n, oobn int, err error) {
	l.iov.Base = &l.buf[0]
	l.iov.SetLen(len(l.buf))
	l.msg.Iov = &l.iov
	l.msg.SetIovlen(1)
	l.msg.Control = &l.oob[0]
	l.msg.SetControllen(len(l.oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&l.msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(l.msg.Controllen), nil
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

// rxTime is when a response completed, in loop time: its receive
// timestamp moved from the wall clock to the monotonic one by an offset
// read now (both clocks are read together, so the offset is exact to well
// under a microsecond and any clock slewing since the bytes arrived is
// negligible), kept within [sent, now]; now when the kernel gave none.
func (l *loop) rxTime(s *slot, rx int64, ok bool) int64 {
	wall := time.Now()
	now := int64(wall.Sub(l.e.base))
	if !ok {
		return now
	}
	return min(max(rx-(wall.UnixNano()-now), s.sent), now)
}

// observe moves the margin toward the marginQuantile of observed wake-up
// lateness (a frugal streaming quantile: fixed steps, up with weight q,
// down with weight 1-q).
func (l *loop) observe(lat int64) {
	const step = 4 * float64(time.Microsecond)
	if float64(lat) > l.margin {
		l.margin += step * marginQuantile
	} else {
		l.margin -= step * (1 - marginQuantile)
	}
	l.margin = min(max(l.margin, float64(5*time.Microsecond)), float64(time.Millisecond))
}
