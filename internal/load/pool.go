package load

import (
	"crypto/tls"

	"golang.org/x/sys/unix"
)

// slot is one connection of the pool, open or not, and the request it
// carries.
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

	// https targets only (tls.go): the connection, and while it is being
	// dialled, how to abandon that; gen tells a handshake that finishes
	// after its request gave up on it from the current one.
	tc         *tls.Conn
	sock       *tlsSock
	cancelDial func()
	gen        int
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

// pool holds the connections of every target and the requests waiting for
// one. Requests go round robin over the targets; each target has its own
// free list and queue.
type pool struct {
	addrs     []unix.Sockaddr // per target
	dialAddrs []string        // the same, for net.Dial (https targets)
	slots     []*slot
	free      [][]*slot // per target, used as a stack: hot connections first
	queue     []fifo    // per target
	inflight  int       // busy slots
	rr        int       // next target
}

func newPool(addrs []unix.Sockaddr, connections int) pool {
	nt := len(addrs)
	p := pool{addrs: addrs, free: make([][]*slot, nt), queue: make([]fifo, nt)}
	for i := 0; i < connections; i++ {
		p.slots = append(p.slots, &slot{idx: i, t: i % nt, fd: -1})
	}
	for i := len(p.slots) - 1; i >= 0; i-- {
		s := p.slots[i]
		p.free[s.t] = append(p.free[s.t], s)
	}
	return p
}

// next picks the target of the next request.
func (p *pool) next() int {
	t := p.rr
	p.rr = (p.rr + 1) % len(p.queue)
	return t
}

func (p *pool) popFree(t int) *slot {
	f := p.free[t]
	s := f[len(f)-1]
	p.free[t] = f[:len(f)-1]
	return s
}

// enqueue hands j to a free connection of the next target, or queues it.
func (l *loop) enqueue(j job, now int64) {
	t := l.pool.next()
	if l.pool.queue[t].len() == 0 && len(l.pool.free[t]) > 0 {
		if j.measured {
			record(l.rec.dispatch, now-j.intended)
		}
		l.start(l.pool.popFree(t), j, now)
		return
	}
	j.waited = true
	l.pool.queue[t].push(j)
}

// pump starts queued requests on connections that came free.
func (l *loop) pump(now int64) {
	p := &l.pool
	for t := range p.queue {
		for p.queue[t].len() > 0 && len(p.free[t]) > 0 {
			l.start(p.popFree(t), p.queue[t].pop(), now)
		}
	}
}

func (l *loop) start(s *slot, j job, now int64) {
	e := l.e
	s.busy, s.j, s.sent = true, j, now
	s.deadline = j.intended + e.timeout
	if l.win.abortAt != 0 && l.win.abortAt < s.deadline {
		s.deadline = l.win.abortAt
	}
	s.wpos, s.retried = 0, false
	s.p.reset(e.targets[s.t].head)
	l.pool.inflight++
	if !j.measured {
		e.sentWarm.Add(1)
	}
	l.send(s, now)
}

// finish records a request that was sent and frees its connection.
func (l *loop) finish(s *slot, end int64, c class) {
	j := s.j
	s.busy = false
	l.pool.inflight--
	l.pool.free[s.t] = append(l.pool.free[s.t], s)
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
	for _, s := range l.pool.slots {
		if s.busy && now >= s.deadline {
			c := classTimeout
			if s.connecting {
				c = classConnect
			}
			l.closeConn(s)
			l.finish(s, now, c)
		}
	}
	for t := range l.pool.queue {
		q := &l.pool.queue[t]
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

// nextDeadline is the earliest deadline of a request in flight or waiting
// for a connection, or limit if none is earlier.
func (l *loop) nextDeadline(limit int64) int64 {
	next := limit
	for _, s := range l.pool.slots {
		if s.busy && s.deadline < next {
			next = s.deadline
		}
	}
	for t := range l.pool.queue {
		if q := &l.pool.queue[t]; q.len() > 0 {
			next = min(next, q.peek().intended+l.e.timeout)
		}
	}
	return next
}
