package load

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop: one goroutine that walks the schedule, sends each request
// on a free connection of the pool (or queues it), reads the responses and
// records them. Per request it makes a handful of syscalls (write, recvmsg,
// and per wake-up epoll_pwait2 and an epoll_wait of the connections) and
// wakes no other thread, which is what keeps its CPU cost low (see the
// package comment). Its parts, each in its own file: poller (poll.go)
// waits, pool (pool.go) holds connections and queued requests, conn.go
// drives one connection, receiver (rx.go) reads with kernel timestamps,
// recorder (record.go) keeps the measurements, loops.go splits a rate
// over several loops.
type loop struct {
	e *engine
	// part of parts: this loop's share of the schedules (see loops.go).
	part, parts int
	warm, sched Schedule
	poll        *poller
	rx          receiver
	pool        pool
	cur         cursor
	win         windowState
	rec         recorder
	// dials brings back the handshakes of https connections (tls.go).
	dials   handoff
	dialBuf []dialed
	// waiting is the queue length last published to Progress.
	waiting int64
	// wokeLateAt is when the last timer wake-up that came more than the
	// late threshold after its send was due returned: requests due before
	// it were held back by the host not running the loop, not by its work.
	wokeLateAt int64
}

// cursor walks the schedules: the warm-up's, then the window's. Request k
// of sched is due at phaseStart + its offset.
type cursor struct {
	sched      Schedule
	phaseStart int64
	k          int64
	measured   bool
	nextAt     int64 // when request k is due, ns since base
	gap        int64 // nextAt minus when the previous request was due
	scheduling bool  // false once the window's last request was due
}

// windowState is where the loop stands against the measured window.
type windowState struct {
	opened, closed, interrupted bool
	end                         int64 // where the window closed, ns since base
	abortAt                     int64 // after a cancel, the bound on every deadline
}

// newLoop makes loop part of parts, with its share of the schedules and
// the connections.
func newLoop(e *engine, part, parts int) (*loop, error) {
	var addrs []unix.Sockaddr
	var dialAddrs []string
	for _, t := range e.targets {
		sa, a, err := resolve(t.addr)
		if err != nil {
			return nil, err
		}
		addrs, dialAddrs = append(addrs, sa), append(dialAddrs, a.String())
	}
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := &loop{e: e, part: part, parts: parts,
		warm: share(e.warm, part, parts), sched: share(e.sched, part, parts),
		poll: p, rx: newReceiver(), pool: newPool(addrs, connShare(e.cfg.Connections, part, parts))}
	l.pool.dialAddrs = dialAddrs
	return l, nil
}

// wake interrupts the loop's wait; safe from any goroutine.
func (l *loop) wake() { l.poll.wake() }

func (l *loop) close() {
	for _, s := range l.pool.slots {
		l.closeConn(s)
	}
	l.dials.close()
	l.poll.close()
}

func (l *loop) now() int64 { return int64(time.Since(l.e.base)) }

// run is the loop itself; it returns when the window has closed and every
// request of it has its outcome, in l.rec.
func (l *loop) run() {
	e := l.e
	l.poll.setBase(l.now())
	l.rec = newRecorder()
	if l.warm != nil {
		l.cur = cursor{sched: l.warm, phaseStart: int64(warmStart)}
	} else {
		l.cur = cursor{sched: l.sched, phaseStart: e.winStart, measured: true}
	}
	l.cur.k, l.cur.scheduling = -1, true
	l.advance()
	for {
		now := l.now()
		l.step(now)
		if l.win.closed && l.pool.inflight == 0 && l.pool.queued == 0 {
			break
		}
		l.wait(now)
	}
}

// step does everything due at now: opening and closing the window, the
// sends due, timeouts, and starting queued requests on free connections.
func (l *loop) step(now int64) {
	e := l.e
	if !l.win.interrupted && e.cancelled.Load() {
		l.cancel(now)
	}
	l.takeDials(now)
	if !l.win.opened && now >= e.winStart && !l.win.interrupted {
		l.win.opened = true
		e.phase.Store(PhaseMeasure)
		if e.cfg.OnMeasure != nil && l.part == 0 {
			go e.cfg.OnMeasure(e.base.Add(time.Duration(e.winStart)))
		}
	}
	if !l.poll.socksIn && l.cur.scheduling && l.cur.nextAt <= now {
		// About to send with responses left unread: read them first,
		// so their connections are free for it.
		l.harvest()
	}
	for l.cur.scheduling && l.cur.nextAt <= now {
		l.enqueue(job{intended: l.cur.nextAt, measured: l.cur.measured}, now)
		l.advance()
	}
	if !l.win.closed && !l.cur.scheduling && now >= e.winEnd {
		l.closeWindow(now)
	}
	l.expire(now)
	l.pump(now)
	if q := int64(l.pool.queued); q != l.waiting {
		e.waiting.Add(q - l.waiting)
		l.waiting = q
	}
}

// advance moves the schedule cursor to the next request, from the warm-up
// into the window, and stops scheduling after the window's last request.
func (l *loop) advance() {
	c := &l.cur
	c.k++
	off, ok := c.sched.Offset(c.k)
	if !ok && !c.measured {
		c.sched, c.phaseStart, c.measured, c.k = l.sched, l.e.winStart, true, 0
		off, ok = c.sched.Offset(0)
	}
	if !ok {
		c.scheduling = false
		return
	}
	at := c.phaseStart + int64(off)
	c.gap, c.nextAt = at-c.nextAt, at
}

// closeWindow ends the measured window. Requests of the window in flight
// or waiting for a connection are pending: the loop goes on until each has
// its outcome, a response or its timeout.
func (l *loop) closeWindow(now int64) {
	e := l.e
	l.win.closed = true
	l.cur.scheduling = false
	l.win.end = max(min(now, e.winEnd), e.winStart)
	e.phase.Store(PhaseDrain)
	for _, s := range l.pool.slots {
		if s.busy && s.j.measured {
			l.rec.pending++
		}
	}
	for t := range l.pool.queue {
		q := &l.pool.queue[t]
		for i := q.head; i < len(q.buf); i++ {
			if q.buf[i].measured {
				l.rec.pending++
			}
		}
	}
}

// cancel stops sending at once: requests waiting for a connection are
// given up, Unsent, and requests in flight get a bounded time to finish.
func (l *loop) cancel(now int64) {
	e := l.e
	l.win.interrupted = true
	l.win.abortAt = now + int64(min(drainOnCancel, e.cfg.Timeout))
	for _, s := range l.pool.slots {
		if s.busy && s.deadline > l.win.abortAt {
			s.deadline = l.win.abortAt
		}
	}
	if !l.win.closed {
		l.closeWindow(now)
	}
	for t := range l.pool.queue {
		for l.pool.queue[t].len() > 0 {
			j := l.pool.pop(t)
			if !j.measured {
				continue
			}
			l.rec.requests++
			l.rec.unsent++
			l.rec.fail(classUnfinished)
			e.sentMeas.Add(1)
			e.errsMeas.Add(1)
			record(l.rec.resp, now-j.intended)
			e.timeline.record(j.intended, now-j.intended, true)
		}
	}
}

// nextWake is the next time the loop has something to do, and whether
// that is a send (which it wakes a margin early for, then spins).
func (l *loop) nextWake() (next int64, isSend bool) {
	e := l.e
	next = math.MaxInt64
	if l.cur.scheduling {
		next, isSend = l.cur.nextAt, true
	}
	if !l.win.closed && !l.cur.scheduling {
		next = min(next, e.winEnd)
	}
	if !l.win.opened && !l.win.interrupted && e.winStart < next {
		next, isSend = e.winStart, false
	}
	if d := l.nextDeadline(next); d < next {
		next, isSend = d, false
	}
	return next, isSend
}

// spinShare bounds the time the loop spins before a send to about this
// share of the gap between sends, so that spinning costs about 1% of a core
// whatever the rate. The loop wakes a margin ahead of a send that covers
// most wake-ups (see poller.observe) and spins what the wake-up did not
// take. Most wake-ups take at least the poller's floor, so the margin is
// bounded by the floor plus this share of the gap: 50 µs more at 200 req/s,
// which covers a quiet host, and 5 µs more at 2000 req/s. A send whose
// wake-up took longer than its margin leaves late by the difference, tens
// of µs on a VM, which its response time includes. Against nginx at 2000
// req/s on a 2-vCPU VM the median send left within 4 µs of its time.
const spinShare = 0.01

// wait blocks until the next thing to do, handling connection events that
// arrive meanwhile.
func (l *loop) wait(now int64) {
	next, isSend := l.nextWake()
	// Leave responses unread while a send is due soon (see deferBound).
	l.poll.nestSocks(!(isSend && next-now <= int64(deferBound)))
	target := next
	if isSend {
		margin := int64(min(l.poll.margin, l.poll.floor+spinShare*float64(l.cur.gap)))
		target = next - margin
		if target <= now {
			// Within the margin: spin on the clock alone, no syscall, until
			// the send is due. Responses wait: their receive timestamps keep
			// their times.
			for now < next {
				now = l.now()
			}
			return
		}
	}
	w := l.poll.waitUntil(target, now)
	if target > now {
		l.rec.wakeups++
	}
	if w.socks {
		l.harvest()
	}
	if w.fired && isSend {
		woke := l.now()
		l.poll.observe(woke - target)
		if l.win.opened && !l.win.closed {
			l.rec.timedWakeups++
			if woke-next > int64(l.e.cfg.LateThreshold) {
				l.rec.wokeLate++
				l.wokeLateAt = woke
			}
		}
	}
}

// harvest handles every pending connection event without waiting.
func (l *loop) harvest() {
	events := l.poll.events
	for {
		n, err := rawEpollPoll(l.poll.sockfd, events)
		if err == unix.EINTR {
			continue
		}
		for i := 0; i < n; i++ {
			ev := events[i]
			if s := l.pool.slots[ev.Pad]; s.fd == int(ev.Fd) {
				l.onEvent(s, ev.Events)
			}
		}
		if err != nil || n < len(events) {
			return
		}
	}
}
