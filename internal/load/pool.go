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
// free list and queue, and its share of the connections allowed. A slot is
// made only when a request finds no free one, so the pool holds as many
// slots as requests were ever outstanding at once, not as many as allowed.
type pool struct {
	addrs     []unix.Sockaddr // per target
	dialAddrs []string        // the same, for net.Dial (https targets)
	slots     []*slot         // every slot made so far; a slot's idx is its place here
	free      [][]*slot       // per target, used as a stack: hot connections first
	queue     []fifo          // per target
	made      []int           // per target: slots made
	limit     []int           // per target: slots allowed
	inflight  int             // busy slots
	queued    int             // requests in all queues
	rr        int             // next target
}

// newPool splits connections evenly over the targets (the first ones get
// one more when it does not divide).
func newPool(addrs []unix.Sockaddr, connections int) pool {
	nt := len(addrs)
	p := pool{addrs: addrs, free: make([][]*slot, nt), queue: make([]fifo, nt),
		made: make([]int, nt), limit: make([]int, nt)}
	for t := range p.limit {
		p.limit[t] = connections / nt
		if t < connections%nt {
			p.limit[t]++
		}
	}
	return p
}

// take returns a free slot of target t, making one if t is below its
// share, or nil.
func (p *pool) take(t int) *slot {
	if f := p.free[t]; len(f) > 0 {
		s := f[len(f)-1]
		p.free[t] = f[:len(f)-1]
		return s
	}
	if p.made[t] == p.limit[t] {
		return nil
	}
	p.made[t]++
	s := &slot{idx: len(p.slots), t: t, fd: -1}
	p.slots = append(p.slots, s)
	return s
}

func (p *pool) push(t int, j job) {
	p.queue[t].push(j)
	p.queued++
}

func (p *pool) pop(t int) job {
	p.queued--
	return p.queue[t].pop()
}

// next picks the target of the next request.
func (p *pool) next() int {
	t := p.rr
	p.rr = (p.rr + 1) % len(p.queue)
	return t
}

// enqueue hands j to a free connection of the next target, or queues it.
func (l *loop) enqueue(j job, now int64) {
	j.stalled = j.intended < l.wokeLateAt
	t := l.pool.next()
	if l.pool.queue[t].len() == 0 {
		if s := l.pool.take(t); s != nil {
			if j.measured {
				record(l.rec.dispatch, now-j.intended)
			}
			l.start(s, j, now)
			return
		}
	}
	j.waited = true
	l.pool.push(t, j)
}

// pump starts queued requests on connections that came free.
func (l *loop) pump(now int64) {
	p := &l.pool
	for t := range p.queue {
		for p.queue[t].len() > 0 {
			s := p.take(t)
			if s == nil {
				break
			}
			l.start(s, p.pop(t), now)
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
			if j.stalled {
				r.lateStalled++
			}
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
			switch {
			case s.deadline < s.j.intended+l.e.timeout:
				c = classUnfinished // cut short by a cancel's drain
			case s.connecting:
				c = classConnect
			}
			l.closeConn(s)
			l.finish(s, now, c)
		}
	}
	for t := range l.pool.queue {
		q := &l.pool.queue[t]
		for q.len() > 0 && now >= q.peek().intended+l.e.timeout {
			j := l.pool.pop(t)
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
