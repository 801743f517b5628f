package sidecar

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Local overload. A sidecar that takes every connection and every request
// it is offered grows without bound under a flood and, worse, turns its own
// overload into upstream failures: requests queue behind each other until
// they time out, dials fail for want of file descriptors, and failure
// accrual ejects replicas that are perfectly healthy. So the sidecar sheds
// load itself, early and cheaply, with a 503 that names the limit, and it
// never counts a shed request, or an attempt that failed for a local
// reason, against an endpoint.

// Why the sidecar shed a request or a connection: the index into
// metrics.shed and the label of load_shed_total.
const (
	shedConnections = iota // MaxConnections client connections were open
	shedPending            // MaxPending requests were in the proxy
	shedLocal              // the host refused a resource (file descriptors, ports, memory)
	numShedReasons
)

var shedReasons = [numShedReasons]string{"max_connections", "max_pending", "local_resources"}

const (
	errConnLimit = "connection limit reached"
	errPending   = "too many requests in flight in the sidecar"
	errLocal     = "the sidecar is out of local resources"
)

// shedResponse is written raw to a connection over the limit: it never
// reaches net/http, so refusing it costs no server goroutine, buffers or
// handler.
var shedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	ProxyErrorHeader + ": " + errConnLimit + "\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: " + strconv.Itoa(len(errConnLimit)+1) + "\r\n" +
	"Connection: close\r\n\r\n" +
	errConnLimit + "\n")

// maxShedders bounds the goroutines answering refused connections. With
// all of them busy, Accept waits for one: that is the backpressure. The
// kernel's listen backlog holds the connections not yet accepted, and the
// sidecar takes them only as fast as it can answer them, rather than
// closing them unanswered or growing a goroutine per connection.
const maxShedders = 128

// shedTimeout bounds how long a refused connection is read from and
// answered.
const shedTimeout = time.Second

// limitListener hands connections to the server while fewer than max are
// open (the server's ConnState keeps that count, synchronously with
// Accept), and refuses the others itself.
type limitListener struct {
	net.Listener
	p   *Proxy
	max int64
	// tls: the connections speak TLS, so a plain-text 503 would be noise;
	// a refused one is closed.
	tls      bool
	shedders chan struct{}
}

func newLimitListener(ln net.Listener, p *Proxy, max int, tls bool) *limitListener {
	return &limitListener{Listener: ln, p: p, max: int64(max), tls: tls, shedders: make(chan struct{}, maxShedders)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.p.m.open.Load() < l.max {
			return newFastConn(c), nil
		}
		l.p.m.shed[shedConnections].Add(1)
		if l.tls {
			c.Close()
			continue
		}
		l.shedders <- struct{}{}
		go func() {
			shedConn(c)
			<-l.shedders
		}()
	}
}

// shedConn answers a refused connection with shedResponse. It reads the
// request head first: closing a socket with unread bytes makes the kernel
// reset the connection, and a reset can destroy the 503 before the client
// reads it. A head that announces no body is all the client sends before
// it reads the answer, so the connection is closed at once; after any
// other, what follows is drained until the client closes or time is up.
func shedConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(shedTimeout))
	var buf [1024]byte
	n, end := 0, -1
	for n < len(buf) && end < 0 {
		k, err := c.Read(buf[n:])
		n += k
		end = bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if err != nil {
			break
		}
	}
	if _, err := c.Write(shedResponse); err != nil {
		return
	}
	if end >= 0 && end+4 == n && !announcesBody(buf[:end]) {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// announcesBody reports whether a request head has a Content-Length or
// Transfer-Encoding line (or may have: any mention counts).
func announcesBody(head []byte) bool {
	h := bytes.ToLower(head)
	return bytes.Contains(h, []byte("content-length")) || bytes.Contains(h, []byte("transfer-encoding"))
}

// isLocalErr reports whether an attempt failed because this host ran out
// of something, not because the upstream did anything: no endpoint would
// have fared better, so none is blamed.
func isLocalErr(err error) bool {
	return err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.EADDRNOTAVAIL))
}

// closeAfter makes the server close the client connection after this
// response. It wraps the ResponseWriter of a request whose framing RFC 9112
// (6.1) says not to trust: one with both Content-Length and
// Transfer-Encoding must be answered and the connection closed, since the
// two may frame it differently for another hop. net/http removes
// Content-Length from a chunked request before the handler sees it, so the
// sidecar cannot tell the two cases apart and closes after every chunked
// HTTP/1 request; those are rare from an application (a client that knows
// its body's length sends Content-Length), and the cost is one reconnect.
// The proxy always calls WriteHeader before it writes a body.
type closeAfter struct{ http.ResponseWriter }

var connClose = []string{"close"}

func (w closeAfter) WriteHeader(code int) {
	w.ResponseWriter.Header()["Connection"] = connClose
	w.ResponseWriter.WriteHeader(code)
}

func (w closeAfter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w closeAfter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
