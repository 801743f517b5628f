package proc

import (
	"io"
	"sync"
)

// ring keeps the last outputLimit bytes written to it.
type ring struct {
	mu  sync.Mutex
	buf []byte
}

func (r *ring) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, b...)
	// Trim only once twice the limit is held, so that a chatty child costs
	// one copy per outputLimit bytes rather than one per write.
	if len(r.buf) > 2*outputLimit {
		r.buf = append(r.buf[:0], r.buf[len(r.buf)-outputLimit:]...)
	}
	return len(b), nil
}

// ReadFrom copies src into the ring until EOF or a read error (the pipe
// closed).
func (r *ring) ReadFrom(src io.Reader) (int64, error) {
	var n int64
	b := make([]byte, 4096)
	for {
		k, err := src.Read(b)
		if k > 0 {
			r.Write(b[:k])
			n += int64(k)
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
}

func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buf
	if len(b) > outputLimit {
		b = b[len(b)-outputLimit:]
	}
	return string(b)
}
