package sidecar

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// The inbound side of the mesh hop (docs/sidecar-performance.md has the
// measurements behind it). Go's HTTP/2 server writes each response
// as two flushes, one after the HEADERS frame and one after the DATA frame,
// and makes every flush in a new goroutine (writeFrameAsync). Under TLS that
// costs, per response: two TLS records and two write syscalls, two TCP
// segments that wake the outbound sidecar's reader twice, and, for each of
// the two goroutines, a stack grown and copied twice over, because
// tls.Conn.Write calls Handshake and the handshake function's frame is
// larger than a new goroutine's stack. Written straight to TLS at 1000
// requests/s through the two-hop mesh, those writes take a third of an
// inbound sidecar's CPU and the stack growth another 12%
// (BenchmarkMeshConnWrite measures the difference).
//
// meshConn avoids that below the server: its Write only copies into a
// buffer, on whatever goroutine calls it, and one long-lived goroutine
// writes what has accumulated through TLS. With one P, the goroutines the
// server hands a response through all run before that writer, so the
// HEADERS and DATA frames of a response, and often of several, leave as one
// TLS record in one syscall. The server is golang.org/x/net/http2's, the
// same code as net/http's bundled one, because only it accepts a
// connection that is not a *tls.Conn.

// meshWriteBuffer is how much a meshConn holds unwritten before Write
// waits for the writer: a few responses' worth, so that a slow peer pushes
// back on the server instead of growing the buffer.
const meshWriteBuffer = 64 << 10

// meshCloseFlush bounds how long Close waits for buffered frames (a GOAWAY
// above all) to be written to a peer that may have stopped reading.
const meshCloseFlush = time.Second

// meshConn is a TLS connection whose writes are gathered and made by one
// goroutine. Reads, deadlines and the TLS state are the connection's own.
type meshConn struct {
	*tls.Conn

	mu      sync.Mutex
	room    sync.Cond // signalled when the writer took the pending bytes
	pending []byte
	err     error // the first write error; every later Write returns it
	closing bool

	wake chan struct{} // capacity 1: there is something to write
	done chan struct{} // closed when the writer has stopped
}

func newMeshConn(c *tls.Conn) *meshConn {
	m := &meshConn{Conn: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.room.L = &m.mu
	go m.writeLoop()
	return m
}

func (m *meshConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	for m.err == nil && !m.closing && len(m.pending) >= meshWriteBuffer {
		m.room.Wait()
	}
	switch {
	case m.err != nil:
		err := m.err
		m.mu.Unlock()
		return 0, err
	case m.closing:
		m.mu.Unlock()
		return 0, net.ErrClosed
	}
	m.pending = append(m.pending, p...)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// writeLoop writes whatever is pending, one TLS write per turn, until the
// connection closes (having written what was left) or a write fails.
func (m *meshConn) writeLoop() {
	defer close(m.done)
	var buf []byte
	for {
		m.mu.Lock()
		if len(m.pending) == 0 {
			closing := m.closing
			m.mu.Unlock()
			if closing {
				return
			}
			<-m.wake
			continue
		}
		buf, m.pending = m.pending, buf[:0]
		m.room.Broadcast()
		m.mu.Unlock()

		_, err := m.Conn.Write(buf)
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.pending = nil
			m.room.Broadcast()
			m.mu.Unlock()
			return
		}
	}
}

// Close writes what is pending (for at most meshCloseFlush), then closes
// the TLS connection.
func (m *meshConn) Close() error {
	m.mu.Lock()
	m.closing = true
	m.room.Broadcast()
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(meshCloseFlush)
	select {
	case <-m.done:
	case <-t.C:
	}
	t.Stop()
	return m.Conn.Close()
}

// serveMeshH2 makes srv serve HTTP/2 over TLS on meshConns. Graceful
// shutdown and the idle timeout are wired as http2.ConfigureServer wires
// them; only the connection handed to the HTTP/2 server differs.
func serveMeshH2XNet(srv *http.Server) error {
	h2 := &http2.Server{}
	nextProtos := srv.TLSConfig.NextProtos
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return err
	}
	// ConfigureServer offers http/1.1 too; the mesh hop is HTTP/2 only.
	srv.TLSConfig.NextProtos = nextProtos
	delete(srv.TLSNextProto, "unencrypted_http2")
	srv.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http passes its per-connection context down this way
		// (what ConfigureServer's own handler does too).
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		mc := newMeshConn(c)
		//lint:ignore SA1019 ServeConn is the one entry that takes a connection other than *tls.Conn.
		h2.ServeConn(mc, &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
		mc.Close()
	}
	return nil
}
