package sidecar

import (
	"bufio"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Writer is the lean path's ResponseWriter. Like net/http's, it holds a
// small body back until the handler is done, so that an answer the
// handler wrote whole gets a Content-Length; a larger or flushed one of
// unknown length is chunked (or, to an HTTP/1.0 client, ends with the
// connection).
type h1Writer struct {
	bw      *bufio.Writer
	header  http.Header
	req     *http.Request
	status  int
	noBody  bool // HEAD, 204, 304
	closing bool // Connection: close is sent and the connection ends
	// committed: the head is written; chunked or remaining frame the body.
	committed bool
	chunked   bool
	remaining int64 // body bytes still due, -1 unknown
	pending   []byte
	err       error
}

func (w *h1Writer) reset(req *http.Request, closing bool) {
	clear(w.header)
	*w = h1Writer{bw: w.bw, header: w.header, req: req, pending: w.pending[:0], remaining: -1,
		closing: closing || req.Close}
}

func (w *h1Writer) Header() http.Header { return w.header }

func (w *h1Writer) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return // the proxy sends no informational responses
	}
	w.status = code
	w.noBody = noBody(w.req.Method, code)
	if cl, ok := w.header["Content-Length"]; ok {
		if n, err := parseContentLength(cl); err == nil {
			w.remaining = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
}

func parseContentLength(v []string) (int64, error) {
	if len(v) != 1 {
		return 0, errors.New("content-length: not one value")
	}
	var n int64
	for _, c := range []byte(v[0]) {
		if c < '0' || c > '9' || n > 1<<50 {
			return 0, errors.New("content-length: not a length")
		}
		n = n*10 + int64(c-'0')
	}
	if len(v[0]) == 0 {
		return 0, errors.New("content-length: empty")
	}
	return n, nil
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		return len(p), nil
	}
	if !w.committed {
		if w.remaining < 0 && len(w.pending)+len(p) <= holdBack {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit()
	}
	return w.writeBody(p)
}

func (w *h1Writer) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty chunk would end a chunked body
	}
	switch {
	case w.chunked:
		var size [18]byte
		w.bw.Write(append(strconv.AppendInt(size[:0], int64(len(p)), 16), '\r', '\n'))
		w.bw.Write(p)
		_, w.err = w.bw.WriteString("\r\n")
	case w.remaining >= 0:
		if int64(len(p)) > w.remaining {
			return 0, http.ErrContentLength
		}
		w.remaining -= int64(len(p))
		_, w.err = w.bw.Write(p)
	default:
		_, w.err = w.bw.Write(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// Flush sends what is written so far; a body of unknown length is chunked
// from here on.
func (w *h1Writer) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit()
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}

// commit writes the status line and headers, choosing the body's framing,
// then the body held back so far.
func (w *h1Writer) commit() {
	w.committed = true
	h := w.header
	if !w.noBody && w.remaining < 0 {
		if w.req.ProtoAtLeast(1, 1) {
			w.chunked = true
		} else {
			w.closing = true
		}
	}
	if v, ok := h["Connection"]; ok && len(v) > 0 && httpguts.HeaderValuesContainsToken(v, "close") {
		w.closing = true
	}
	delete(h, "Connection")
	bw := w.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(statusLine(w.status))
	bw.WriteString("\r\n")
	for k, vv := range h {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if _, ok := h["Date"]; !ok {
		writeField(bw, "Date", httpDate())
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closing:
		bw.WriteString("Connection: close\r\n")
	case !w.req.ProtoAtLeast(1, 1):
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

// finish completes the response after the handler returned and reports
// whether the connection can carry another request.
func (w *h1Writer) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if !w.noBody && w.remaining < 0 {
			w.header["Content-Length"] = []string{strconv.Itoa(len(w.pending))}
			w.remaining = int64(len(w.pending))
		}
		w.commit()
	}
	if w.chunked {
		w.bw.WriteString("0\r\n")
		for k, vv := range w.header {
			if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
				for _, v := range vv {
					writeField(w.bw, k[len(http.TrailerPrefix):], v)
				}
			}
		}
		w.bw.WriteString("\r\n")
	}
	if err := w.bw.Flush(); err != nil || w.err != nil {
		return false
	}
	return !w.closing && (w.noBody || w.chunked || w.remaining == 0)
}

// writeField writes one header line; line breaks in the value become
// spaces, as net/http writes them.
func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// holdBack is how much body of unknown length the writer keeps back to
// send with a Content-Length (net/http's server keeps 2 KiB).
const holdBack = 2 << 10

// statusLine is "CODE Reason" for a status.
func statusLine(code int) string {
	if code == http.StatusOK {
		return "200 OK"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// dateCache is the Date header value of the current second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec int64
	s   string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &cachedDate{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}
