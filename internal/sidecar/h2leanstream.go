package sidecar

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"golang.org/x/net/http2"
)

// The lean HTTP/2 server's streams (h2lean.go): what the reader does with
// a request's frames, and the goroutine that serves each request.

func (sc *h2ServerConn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st := sc.streams[id]; st != nil {
		return sc.onTrailers(st, f)
	}
	if id <= sc.maxID {
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	sc.maxID = id
	switch {
	case sc.goingAway:
		return nil // above the GOAWAY's last stream: the client sends it again elsewhere
	case len(sc.streams) >= h2MaxStreams:
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	st := &h2ServerStream{sc: sc, id: id, declared: -1}
	st.in.init()
	// Only this goroutine (the reader) changes peerInitWindow.
	st.sendWin = sc.peerInitWindow
	st.ctx, st.cancel = context.WithCancel(sc.ctx)
	req, err := sc.newRequest(f, st)
	if err != nil {
		st.cancel()
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: err}
	}
	if f.StreamEnded() {
		st.in.end = true
	}
	sc.streams[id] = st
	sc.idle.Stop()
	sc.wg.Add(1)
	go st.run(req, f.Truncated)
	return nil
}

// onTrailers takes the HEADERS that end a request body. Caller holds mu.
func (sc *h2ServerConn) onTrailers(st *h2ServerStream, f *http2.MetaHeadersFrame) error {
	if st.in.end || !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
	}
	if st.declared >= 0 && st.received != st.declared {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errBodyLength}
	}
	st.trailer = fieldsHeader(f.RegularFields())
	st.in.end = true
	st.in.signal()
	return nil
}

var errBodyLength = errors.New("http2: request body length differs from its Content-Length")

// newRequest makes the http.Request a HEADERS frame opens.
func (sc *h2ServerConn) newRequest(f *http2.MetaHeadersFrame, st *h2ServerStream) (*http.Request, error) {
	method, path := f.PseudoValue("method"), f.PseudoValue("path")
	if method == "" || path == "" || f.PseudoValue("scheme") == "" || method == http.MethodConnect ||
		f.PseudoValue("protocol") != "" {
		return nil, errors.New("http2: missing or unsupported pseudo-header")
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	h := fieldsHeader(f.RegularFields())
	if c := h["Cookie"]; len(c) > 1 {
		// RFC 9113 8.2.3: split cookies are joined for HTTP/1.1.
		h["Cookie"] = []string{strings.Join(c, "; ")}
	}
	req := &http.Request{Method: method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2, Header: h,
		Host: f.PseudoValue("authority"), RequestURI: path, RemoteAddr: sc.remote, TLS: sc.tls}
	if req.Host == "" {
		req.Host = h.Get("Host")
	}
	if f.StreamEnded() {
		req.Body = http.NoBody
	} else {
		req.ContentLength = -1
		if cl, ok := h["Content-Length"]; ok {
			n, err := parseContentLength(cl)
			if err != nil {
				return nil, err
			}
			req.ContentLength, st.declared = n, n
		}
		req.Body = &h2RequestBody{st: st}
		if decl := h["Trailer"]; len(decl) > 0 {
			req.Trailer = http.Header{}
			for _, v := range decl {
				for _, k := range strings.Split(v, ",") {
					if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
						req.Trailer[k] = nil
					}
				}
			}
		}
	}
	return req.WithContext(st.ctx), nil
}

func (sc *h2ServerConn) onData(f *http2.DataFrame) error {
	if err := sc.recvData(f); err != nil {
		return err
	}
	sc.mu.Lock()
	st := sc.streams[f.StreamID]
	var err error
	switch {
	case st == nil && f.StreamID > sc.maxID:
		err = http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	case st == nil || st.in.end || st.in.err != nil:
		err = http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeStreamClosed}
	}
	free := int(f.Length) // what nobody will read
	if err == nil {
		var pad int
		if pad, err = st.in.put(f); err == nil {
			free = pad
			st.received += int64(len(f.Data()))
			if st.declared >= 0 && (st.received > st.declared || f.StreamEnded() && st.received != st.declared) {
				// resetStream drops what was stored.
				err = http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errBodyLength}
			}
			st.in.end = f.StreamEnded()
			st.in.signal()
		}
	}
	sc.mu.Unlock()
	sc.refund(0, 0, free)
	return err
}

// resetStream ends a stream this side found broken: RST_STREAM with code;
// its request sees err, and its response can no longer be sent.
func (sc *h2ServerConn) resetStream(id uint32, code http2.ErrCode, err error) {
	sc.mu.Lock()
	freed := sc.endStreamLocked(id, err)
	sc.mu.Unlock()
	sc.control(func() error { return sc.fr.WriteRSTStream(id, code) })
	sc.refund(0, 0, freed)
}

// onReset ends a stream the client reset: the request is canceled.
func (sc *h2ServerConn) onReset(f *http2.RSTStreamFrame) {
	sc.mu.Lock()
	freed := sc.endStreamLocked(f.StreamID, http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode})
	sc.mu.Unlock()
	sc.wmu.Lock()
	sc.wcond.Broadcast()
	sc.wmu.Unlock()
	sc.refund(0, 0, freed)
}

// endStreamLocked fails stream id's reading and writing and cancels its
// request; the request's goroutine removes it. Caller holds mu.
func (sc *h2ServerConn) endStreamLocked(id uint32, err error) int {
	st := sc.streams[id]
	if st == nil {
		return 0
	}
	if st.reset == nil {
		st.reset = err
	}
	if st.in.err == nil {
		st.in.err = err
	}
	st.in.signal()
	st.cancel()
	return st.in.drop()
}

// adjustWindows moves every open stream's send window by delta. Called
// under wmu.
func (sc *h2ServerConn) adjustWindows(delta int32) {
	sc.mu.Lock()
	for _, st := range sc.streams {
		st.sendWin += delta
	}
	sc.mu.Unlock()
}

// sendWindowOf is stream id's send window, nil if it is gone. Called under
// wmu.
func (sc *h2ServerConn) sendWindowOf(id uint32) *int32 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st := sc.streams[id]; st != nil {
		return &st.sendWin
	}
	return nil
}

// run serves one request with the proxy and finishes its response; a
// header block over the limit gets 431 without reaching the proxy.
func (st *h2ServerStream) run(req *http.Request, tooLarge bool) {
	sc := st.sc
	w := &st.w
	w.reset(st, req)
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				sc.s.srv.ErrorLog.Printf("http2: panic serving %v: %v\n%s", req.RemoteAddr, v, debug.Stack())
			}
			sc.resetStream(st.id, http2.ErrCodeInternal, errStreamCanceled)
		}
		st.close()
		w.release()
		sc.wg.Done()
	}()
	if tooLarge {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		w.Write([]byte("request header fields too large\n"))
	} else {
		sc.s.p.ServeHTTP(w, req)
	}
	w.finish()
}

// close removes the stream once its response is done. A request body the
// client is still sending is cut short with RST_STREAM(NO_ERROR), as RFC
// 9113 (8.1) asks; a connection going away closes with its last stream.
func (st *h2ServerStream) close() {
	sc := st.sc
	sc.mu.Lock()
	delete(sc.streams, st.id)
	open := !st.in.end && st.in.err == nil && !sc.dead
	st.in.err = errStreamCanceled
	freed := st.in.drop()
	last := len(sc.streams) == 0
	closing := last && sc.goingAway && !sc.dead
	if last && !sc.goingAway && !sc.dead {
		sc.idle.Reset(idleOr(sc.s.srv.IdleTimeout))
	}
	sc.mu.Unlock()
	st.cancel()
	if open {
		sc.control(func() error { return sc.fr.WriteRSTStream(st.id, http2.ErrCodeNo) })
	}
	sc.refund(0, 0, freed)
	if closing {
		sc.closeGracefully()
	}
}

// h2RequestBody is a request body, read from what the reader received.
type h2RequestBody struct{ st *h2ServerStream }

func (b *h2RequestBody) Read(p []byte) (int, error) {
	st := b.st
	n, err := st.in.read(&st.sc.h2Framing, &st.sc.mu, st.id, p, st.ctx)
	if err != nil && st.trailer != nil {
		if req := st.w.req; req != nil && req.Trailer != nil {
			for k, v := range st.trailer {
				req.Trailer[k] = v
			}
		}
		st.trailer = nil
	}
	return n, err
}

func (b *h2RequestBody) Close() error { return nil }
