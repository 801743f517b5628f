package sidecar

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// tlsPair is a TLS connection over loopback, server side wrapped in a
// meshConn, with the mesh's own certificates.
func tlsPair(t testing.TB) (*meshConn, *tls.Conn) {
	t.Helper()
	outFiles, inFiles, err := WriteMesh(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stc, err := inFiles.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ctc, err := outFiles.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		sc := tls.Server(c, stc)
		if sc.Handshake() != nil {
			sc.Close()
			sc = nil
		}
		accepted <- sc
	}()
	cc, err := tls.Dial("tcp", ln.Addr().String(), ctc)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("server handshake failed")
	}
	m := newMeshConn(sc)
	t.Cleanup(func() { m.Close(); cc.Close() })
	return m, cc
}

// TestMeshConnDelivers: bytes written through a meshConn arrive whole and
// in order, and Close writes what is still buffered before it closes.
func TestMeshConnDelivers(t *testing.T) {
	m, cc := tlsPair(t)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(cc)
		got <- b
	}()
	for i := range 300 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i*37%5000)
		want.Write(p)
		if n, err := m.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Errorf("received %d bytes, want %d, or not in order", len(b), want.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer did not see the connection close")
	}
	if _, err := m.Write([]byte("late")); err == nil {
		t.Error("write after Close accepted")
	}
}

// TestMeshConnBackpressure: a peer that reads nothing makes Write wait once
// meshWriteBuffer is pending, rather than let the buffer grow; a failed
// underlying write is returned to the writers.
func TestMeshConnBackpressure(t *testing.T) {
	m, _ := tlsPair(t)
	// The deadline only ends the test: once the socket buffers are full,
	// the writer's TLS write fails at it, and that error must reach Write.
	m.SetWriteDeadline(time.Now().Add(2 * time.Second))
	chunk := make([]byte, 16<<10)
	maxPending := 0
	var err error
	for written := 0; written < 256<<20 && err == nil; written += len(chunk) {
		_, err = m.Write(chunk)
		m.mu.Lock()
		maxPending = max(maxPending, len(m.pending))
		m.mu.Unlock()
	}
	if err == nil {
		t.Fatal("256 MB written to a peer that reads nothing")
	}
	if maxPending > meshWriteBuffer+len(chunk) {
		t.Errorf("%d bytes pending at most, want at most %d", maxPending, meshWriteBuffer+len(chunk))
	}
	t.Logf("stopped by %v with at most %d bytes pending", err, maxPending)
}
