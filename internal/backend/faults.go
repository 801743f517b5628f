package backend

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Mode is how a replica treats its connections: Serving answers them, the
// other modes are the faults a scenario can inject.
type Mode int32

const (
	// Serving answers every request (with the configured delay and error
	// rate).
	Serving Mode = iota
	// Blackhole accepts connections and reads requests but never answers:
	// only the client's own timeout ends such a request. When the mode
	// ends, the requests it held are dropped (their connections closed),
	// as a client would long have given up on them.
	Blackhole
	// Reset closes every connection, open or new, with a TCP reset (RST,
	// from SO_LINGER 0) instead of answering.
	Reset
	// Killed stops listening and closes every connection: new connections
	// are refused. Leaving it listens again on the same port.
	Killed
)

func (m Mode) String() string {
	switch m {
	case Serving:
		return "serving"
	case Blackhole:
		return "blackhole"
	case Reset:
		return "reset"
	case Killed:
		return "killed"
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

// reviveFor bounds how long a revived replica waits for its old port: the
// kernel lets go of it at once, unless a client connection happened to take
// it as its local port meanwhile.
const reviveFor = 2 * time.Second

// ErrClosed is returned by SetMode after Close.
var ErrClosed = errors.New("backend: replica closed")

// Mode is the replica's current mode.
func (s *Server) Mode() Mode { return Mode(s.mode.Load()) }

// SetMode puts the replica into mode m from now on: see Mode for what each
// does to open and new connections. Leaving Killed listens again on the
// replica's address; it fails when that port cannot be had back within a
// couple of seconds.
func (s *Server) SetMode(m Mode) error {
	if m < Serving || m > Killed {
		return fmt.Errorf("backend: unknown mode %d", int32(m))
	}
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	prev := s.Mode()
	if prev == m {
		return nil
	}
	switch {
	case m == Killed:
		s.setMode(m)
		err := s.stop()
		s.release()
		return err
	case prev == Killed:
		ln, err := listenAgain(s.addr)
		if err != nil {
			return err
		}
		s.setMode(m)
		s.serve(ln)
	default:
		s.setMode(m)
	}
	if prev == Blackhole {
		s.release()
	}
	return nil
}

// setMode stores m and, for Reset, resets every open connection; for
// Blackhole it opens a new hold. It holds connMu, so that a connection
// accepted meanwhile is either reset here or by the listener.
func (s *Server) setMode(m Mode) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.mode.Store(int32(m))
	switch m {
	case Reset:
		for c := range s.conns {
			c.reset()
		}
	case Blackhole:
		if s.hold == nil {
			s.hold = make(chan struct{})
		}
	}
}

// release lets the requests a blackhole held go (they are dropped).
func (s *Server) release() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// listenAgain listens on addr, retrying while the port is taken.
func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(reviveFor)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("backend: listening again on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fault applies the current mode to a request before it is answered: a
// blackhole holds it until the mode ends or the client goes, a reset resets
// its connection. Either way it then aborts the request, so that no answer
// is written (http.ErrAbortHandler, which the server handles quietly).
func (s *Server) fault(r *http.Request) {
	switch s.Mode() {
	case Blackhole:
		s.connMu.Lock()
		hold := s.hold
		s.connMu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		panic(http.ErrAbortHandler)
	case Reset:
		if c, ok := r.Context().Value(connKey{}).(*conn); ok {
			c.reset()
		}
		panic(http.ErrAbortHandler)
	}
}

// connKey is the request-context key of the request's connection.
type connKey struct{}

// listener keeps track of the replica's connections and resets new ones
// while the replica is in Reset mode.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		l.s.connMu.Lock()
		if l.s.Mode() == Reset {
			l.s.connMu.Unlock()
			tc.SetLinger(0)
			tc.Close()
			continue
		}
		cn := &conn{TCPConn: tc, s: l.s}
		l.s.conns[cn] = struct{}{}
		l.s.connMu.Unlock()
		return cn, nil
	}
}

// conn is an accepted connection, forgotten by the replica when closed.
type conn struct {
	*net.TCPConn
	s *Server
}

func (c *conn) Close() error {
	c.s.connMu.Lock()
	delete(c.s.conns, c)
	c.s.connMu.Unlock()
	return c.TCPConn.Close()
}

// reset closes the connection with a TCP reset. The caller may hold connMu
// (Close takes it), so the bookkeeping is left to the server's own Close.
func (c *conn) reset() {
	c.TCPConn.SetLinger(0)
	c.TCPConn.Close()
}
