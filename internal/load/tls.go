package load

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// https targets: crypto/tls, driven by the loop itself.
//
// Why this design: a TLS connection carries the same one-request-at-a-time
// HTTP/1.1 exchange as a plain one, so it stays on the loop with the same
// schedule, queue, timeouts and recorder, and costs no goroutine hand-off
// per request. Only the handshake leaves the loop: crypto/tls cannot resume
// a handshake that stopped because the socket had nothing to read, so each
// new connection is dialled and handshaken in a goroutine of its own
// (blocking on Go's netpoller, like any client), while the request that
// needs it keeps waiting on the loop, its deadline running. The finished
// connection is handed back to the loop, which from then on does the
// socket I/O under the tls.Conn itself (tlsSock): raw non-blocking writes
// and recvmsg with receive timestamps, exactly as for http://. Reading
// with nothing on the socket returns a temporary net.Error, which
// crypto/tls passes up without breaking the connection and resumes from
// on the next Read.
//
// Time spent in the handshake counts like the time to connect over plain
// TCP: it is in the response and service time of the request that waited
// for it.

// tlsSock is the net.Conn under a tls.Conn. During the handshake it is the
// TCP connection; once the loop owns it, reads and writes go straight to
// the descriptor without blocking.
type tlsSock struct {
	net.Conn     // the TCP connection: handshake I/O, Close
	fd       int // its descriptor
	rx       *receiver
	owned    bool   // the loop does the I/O
	pending  []byte // encrypted bytes the socket could not take yet
	// lastRx is the receive timestamp of the latest read that returned
	// bytes (CLOCK_REALTIME, ns); stamped says whether it had one.
	lastRx  int64
	stamped bool
}

// errWouldBlock tells crypto/tls that the socket has nothing to read for
// now; being temporary, it does not break the connection.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "load: socket would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

func (c *tlsSock) Read(b []byte) (int, error) {
	if !c.owned {
		return c.Conn.Read(b)
	}
	for {
		n, rx, ok, err := c.rx.recvInto(c.fd, b)
		switch {
		case n > 0:
			c.lastRx, c.stamped = rx, ok
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errWouldBlock
		case err == nil:
			return 0, io.EOF
		default:
			return 0, err
		}
	}
}

// Write takes all of b: what the socket cannot take now waits in pending
// until flush.
func (c *tlsSock) Write(b []byte) (int, error) {
	if !c.owned {
		return c.Conn.Write(b)
	}
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b...)
		return len(b), nil
	}
	rest, err := writeSome(c.fd, b)
	if err != nil {
		return 0, err
	}
	c.pending = append(c.pending, rest...)
	return len(b), nil
}

// flush writes what Write left pending.
func (c *tlsSock) flush() error {
	rest, err := writeSome(c.fd, c.pending)
	if err != nil {
		return err
	}
	c.pending = append(c.pending[:0], rest...)
	return nil
}

// writeSome writes b until the socket would block and returns what is left.
func writeSome(fd int, b []byte) ([]byte, error) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EAGAIN:
			return b, nil
		case err == unix.EINTR:
			continue
		case err != nil:
			return b, err
		}
		b = b[n:]
	}
	return b, nil
}

// dialed is a handshake's outcome, handed from its goroutine to the loop.
type dialed struct {
	idx, gen int
	tc       *tls.Conn
	sock     *tlsSock
	err      error
}

// handoff carries finished handshakes to the loop.
type handoff struct {
	ready  atomic.Bool // done is not empty: lets the loop skip the lock
	mu     sync.Mutex
	done   []dialed
	closed bool
	wg     sync.WaitGroup
}

// post hands d to the loop, or reports false once the loop has closed.
func (h *handoff) post(d dialed) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.done = append(h.done, d)
	h.ready.Store(true)
	return true
}

// take returns the handshakes finished so far, reusing buf.
func (h *handoff) take(buf []dialed) []dialed {
	if !h.ready.Load() {
		return buf[:0]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready.Store(false)
	buf = append(buf[:0], h.done...)
	clear(h.done)
	h.done = h.done[:0]
	return buf
}

// close stops the handoff, waits for every handshake goroutine (the loop has
// cancelled them) and closes connections nobody took.
func (h *handoff) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
	for _, d := range h.take(nil) {
		if d.sock != nil {
			d.sock.Close()
		}
	}
}

// dialTLS starts a connection and its handshake for s in a goroutine; the
// loop learns the outcome through l.dials.
func (l *loop) dialTLS(s *slot) {
	t := l.e.targets[s.t]
	ctx, cancel := context.WithCancel(context.Background())
	s.gen++
	s.cancelDial, s.connecting, s.uses = cancel, true, 0
	d := dialed{idx: s.idx, gen: s.gen}
	addr, rx := l.pool.dialAddrs[s.t], &l.rx
	l.dials.wg.Add(1)
	go func() {
		defer l.dials.wg.Done()
		d.tc, d.sock, d.err = handshake(ctx, addr, t.tls, rx)
		if !l.dials.post(d) && d.sock != nil {
			d.sock.Close()
		}
		l.wake()
	}()
}

// handshake dials addr and runs the TLS handshake over it.
func handshake(ctx context.Context, addr string, cfg *tls.Config, rx *receiver) (*tls.Conn, *tlsSock, error) {
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) // see receiver
		})
	}}
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	sock := &tlsSock{Conn: nc, rx: rx}
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { sock.fd = int(fd) })
	}
	tc := tls.Client(sock, cfg)
	if err == nil {
		err = tc.HandshakeContext(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return tc, sock, nil
}

// takeDials puts finished handshakes to use: the connection joins the
// loop's epoll set and the waiting request goes out on it.
func (l *loop) takeDials(now int64) {
	l.dialBuf = l.dials.take(l.dialBuf)
	for _, d := range l.dialBuf {
		s := l.pool.slots[d.idx]
		if !s.connecting || s.gen != d.gen {
			if d.sock != nil {
				d.sock.Close() // the request gave up on it
			}
			continue
		}
		s.connecting, s.cancelDial = false, nil
		if d.err == nil {
			d.err = l.poll.addSock(d.sock.fd, s.idx)
			if d.err != nil {
				d.sock.Close()
			}
		}
		if d.err != nil {
			l.finish(s, now, classConnect)
			continue
		}
		d.sock.owned = true
		s.tc, s.sock, s.fd = d.tc, d.sock, d.sock.fd
		l.write(s, now)
	}
}

// writeTLS hands the request to crypto/tls; what the socket cannot take
// yet goes out on EPOLLOUT (flushTLS).
func (l *loop) writeTLS(s *slot, now int64) {
	raw := l.e.targets[s.t].raw
	if _, err := s.tc.Write(raw); err != nil {
		l.ioFailed(s, now)
		return
	}
	s.wpos = len(raw)
}

func (l *loop) flushTLS(s *slot, now int64) {
	if err := s.sock.flush(); err != nil {
		l.ioFailed(s, now)
	}
}

// readTLS is read for a TLS connection: it decrypts until the socket would
// block, feeding the parser.
func (l *loop) readTLS(s *slot) {
	for {
		n, err := s.tc.Read(l.rx.buf)
		if n > 0 {
			if l.consume(s, l.rx.buf[:n], s.sock.lastRx, s.sock.stamped) {
				return
			}
			continue
		}
		if errors.Is(err, errWouldBlock) {
			return
		}
		l.ended(s, err == io.EOF)
		return
	}
}

// closeTLS closes s's TLS connection, or abandons its handshake.
func (l *loop) closeTLS(s *slot) {
	if s.cancelDial != nil {
		s.cancelDial()
		s.cancelDial = nil
		s.gen++
	}
	if s.sock != nil {
		s.sock.Close() // no close_notify: the server learns from the FIN
	}
	s.tc, s.sock, s.fd = nil, nil, -1
}
