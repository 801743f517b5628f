package sidecar

import (
	"net/http"
	"strconv"
	"strings"
)

// h2ResponseWriter is the lean HTTP/2 server's ResponseWriter. It holds the
// body back (up to h2HoldBack) until the proxy is done, so that a small
// response leaves as HEADERS (with its Content-Length) and one DATA frame
// with END_STREAM, written by the request's goroutine and flushed once. A
// larger or flushed body goes out as it is written, within the client's
// flow-control windows; trailers (keys under http.TrailerPrefix) end it.
type h2ResponseWriter struct {
	st        *h2ServerStream
	req       *http.Request
	header    http.Header
	status    int
	noBody    bool // HEAD, 204, 304
	committed bool // HEADERS are written
	ended     bool // END_STREAM is written
	pending   []byte
	buf       *[]byte // from bufPool, backing pending until release
	err       error
}

// h2HoldBack is how much body the writer keeps back to send whole.
const h2HoldBack = 16 << 10

func (w *h2ResponseWriter) reset(st *h2ServerStream, req *http.Request) {
	*w = h2ResponseWriter{st: st, req: req, header: http.Header{}}
}

func (w *h2ResponseWriter) Header() http.Header { return w.header }

func (w *h2ResponseWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return // the proxy sends no informational responses
	}
	w.status = code
	w.noBody = noBody(w.req.Method, code)
}

func (w *h2ResponseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if !w.committed && len(w.pending)+len(p) <= h2HoldBack {
		if w.buf == nil {
			w.buf = bufPool.Get().(*[]byte)
			w.pending = (*w.buf)[:0]
		}
		w.pending = append(w.pending, p...)
		return len(p), nil
	}
	if err := w.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends the head and what is written so far.
func (w *h2ResponseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.send(nil, false)
}

// finish ends the response once the proxy returned.
func (w *h2ResponseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.ended {
		w.send(nil, true)
	}
}

// send writes the head if it is not written yet, the held-back body, p,
// and with end the trailers and END_STREAM, then flushes: all under the
// connection's write lock, as one batch.
func (w *h2ResponseWriter) send(p []byte, end bool) error {
	if w.err != nil {
		return w.err
	}
	st := w.st
	sc := st.sc
	trailers := end && w.hasTrailers()
	stopped := func() error { return st.stopped() }
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if err := stopped(); err != nil {
		w.err = err
		return err
	}
	bodyLen := len(w.pending) + len(p)
	endHere := end && !trailers // END_STREAM goes on this batch's last HEADERS or DATA
	ended := false
	var err error
	if !w.committed {
		w.committed = true
		w.encodeHead(endHere, bodyLen)
		ended = endHere && (bodyLen == 0 || w.noBody)
		err = sc.writeBlock(st.id, ended)
	}
	if err == nil && len(w.pending) > 0 {
		last := endHere && len(p) == 0
		err = sc.writeData(st.id, &st.sendWin, w.pending, last, stopped)
		ended = ended || last
		w.pending = w.pending[:0]
	}
	if err == nil && !ended && (len(p) > 0 || endHere) {
		err = sc.writeData(st.id, &st.sendWin, p, endHere, stopped)
	}
	if err == nil && trailers {
		w.encodeTrailers()
		err = sc.writeBlock(st.id, true)
	}
	if err == nil {
		err = sc.flush()
	}
	w.ended = end
	w.err = err
	return err
}

// release returns the held-back body's buffer once the response is done.
func (w *h2ResponseWriter) release() {
	if w.buf != nil {
		bufPool.Put(w.buf)
		w.buf, w.pending = nil, nil
	}
}

// stopped is why the stream may send no more (nil: it may). Called under
// wmu.
func (st *h2ServerStream) stopped() error {
	st.sc.mu.Lock()
	defer st.sc.mu.Unlock()
	return st.reset
}

// encodeHead encodes the response's header block. A response complete
// before its head was sent gets its exact Content-Length. Caller holds wmu.
func (w *h2ResponseWriter) encodeHead(complete bool, bodyLen int) {
	sc := w.st.sc
	status := "200"
	if w.status != http.StatusOK {
		status = strconv.Itoa(w.status)
	}
	sc.field(":status", status)
	h := w.header
	for k, vv := range h {
		if h2ConnectionHeader(k) || k == "Trailer" || strings.HasPrefix(k, http.TrailerPrefix) ||
			complete && k == "Content-Length" {
			continue
		}
		lk := lowerHeader(k)
		for _, v := range vv {
			sc.field(lk, v)
		}
	}
	if complete {
		switch {
		case !w.noBody:
			sc.field("content-length", strconv.Itoa(bodyLen))
		case h["Content-Length"] != nil:
			sc.field("content-length", h["Content-Length"][0])
		}
	}
	if _, ok := h["Date"]; !ok {
		sc.field("date", httpDate())
	}
}

func (w *h2ResponseWriter) hasTrailers() bool {
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) && len(k) > len(http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// encodeTrailers encodes the trailer block. Caller holds wmu.
func (w *h2ResponseWriter) encodeTrailers() {
	for k, vv := range w.header {
		if !strings.HasPrefix(k, http.TrailerPrefix) || len(k) == len(http.TrailerPrefix) {
			continue
		}
		lk := lowerHeader(http.CanonicalHeaderKey(k[len(http.TrailerPrefix):]))
		for _, v := range vv {
			w.st.sc.field(lk, v)
		}
	}
}
