package load

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// One connection's life on the loop: dial without blocking, write the
// prebuilt request, read the response into its parser as epoll reports
// bytes, and record the outcome.

// resolve looks addr up once, for every connection of the run.
func resolve(addr string) (unix.Sockaddr, *net.TCPAddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("target %s: %w", addr, err)
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, a, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, a, nil
}

// send writes the request, dialling first if the slot has no connection.
func (l *loop) send(s *slot, now int64) {
	if s.fd < 0 && l.e.targets[s.t].tls != nil {
		if !s.connecting {
			l.dialTLS(s) // the request goes out when the handshake is done
		}
		return
	}
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
	sa := l.pool.addrs[s.t]
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) // see receiver
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return err
	}
	if err := l.poll.addSock(fd, s.idx); err != nil {
		unix.Close(fd)
		return err
	}
	s.fd, s.uses, s.connecting = fd, 0, err != nil
	return nil
}

func (l *loop) closeConn(s *slot) {
	if l.e.targets[s.t].tls != nil {
		l.closeTLS(s)
		s.connecting = false
		return
	}
	if s.fd >= 0 {
		unix.Close(s.fd) // closing removes it from the epoll set
		s.fd = -1
	}
	s.connecting = false
}

func (l *loop) write(s *slot, now int64) {
	if s.tc != nil {
		l.writeTLS(s, now)
		return
	}
	raw := l.e.targets[s.t].raw
	for s.wpos < len(raw) {
		n, err := rawWrite(s.fd, raw[s.wpos:])
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
	if s.tc != nil {
		if s.busy && ev&unix.EPOLLOUT != 0 && len(s.sock.pending) > 0 {
			l.flushTLS(s, now)
		}
		if s.fd >= 0 && ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.readTLS(s)
		}
		return
	}
	if s.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
			l.closeConn(s)
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

// consume feeds bytes just read from s into its parser, received at rx
// (the kernel's timestamp when stamped). It reports whether the caller's
// read loop is over: a response completed, or the connection was closed.
func (l *loop) consume(s *slot, b []byte, rx int64, stamped bool) bool {
	if !s.busy {
		l.closeConn(s) // bytes nobody asked for: the connection is unusable
		return true
	}
	_, done, perr := s.p.feed(b)
	if perr != nil {
		l.closeConn(s)
		l.finish(s, l.now(), classOther)
		return true
	}
	if done {
		l.complete(s, rxTime(l.e.base, s.sent, rx, stamped))
	}
	return done
}

// read drains the socket (the epoll set is edge-triggered) into the parser.
func (l *loop) read(s *slot) {
	for {
		n, rx, stamped, err := l.rx.recv(s.fd)
		if n > 0 {
			if l.consume(s, l.rx.buf[:n], rx, stamped) {
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
		l.ended(s, err == nil)
		return
	}
}

// ended handles the end of a connection's byte stream: a clean end (eof)
// or a reset.
func (l *loop) ended(s *slot, eof bool) {
	now := l.now()
	if !s.busy {
		l.closeConn(s) // the server closed an idle connection
		return
	}
	if eof && s.p.eof() {
		l.complete(s, now)
		return
	}
	l.ioFailed(s, now)
}

// ioFailed handles a connection that broke under a request. A keep-alive
// connection that the server closed while it sat idle fails before a single
// byte of response; then the request is sent once more on a new connection,
// as HTTP clients do. Anything else is an error of class other.
func (l *loop) ioFailed(s *slot, now int64) {
	l.closeConn(s)
	if !s.p.got && s.uses > 0 && !s.retried {
		s.retried = true
		s.wpos = 0
		s.p.reset(l.e.targets[s.t].head)
		l.send(s, now)
		return
	}
	l.finish(s, now, classOther)
}

// complete records a response that arrived whole at end.
func (l *loop) complete(s *slot, end int64) {
	s.uses++
	c := noError
	switch st := s.p.status; {
	case st >= 500:
		c = class5xx
	case st >= 400 || st < 200:
		c = classOther
	}
	if !s.p.keepAlive {
		l.closeConn(s)
	}
	l.finish(s, end, c)
}
