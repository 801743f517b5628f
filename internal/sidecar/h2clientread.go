package sidecar

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The lean HTTP/2 client's reader goroutine: one per connection. It parses
// every frame, stores what each stream received, and wakes the streams it
// touched only once no whole frame is left in its read buffer, so that a
// response whose HEADERS and DATA arrived together is handed over once.

func (cc *h2ClientConn) readLoop(idlePing time.Duration) {
	done := make(chan struct{})
	go cc.watchIdle(idlePing, done)
	cc.die(cc.readFrames())
	close(done)
}

// h2IdlePing is how long a connection may go without a frame from its
// peer before it is checked with a PING (x/net's SendPingTimeout as the
// sidecar configured its Transport): a peer that died without closing is
// then found before a request waits on it.
const h2IdlePing = 10 * time.Second

// watchIdle makes the connection suspect (see suspect) each time idle
// passes without a frame read, until done is closed.
func (cc *h2ClientConn) watchIdle(idle time.Duration, done <-chan struct{}) {
	t := time.NewTicker(idle)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if n := cc.framesRead.Load(); n != last {
			last = n
		} else {
			cc.suspect()
		}
	}
}

func (cc *h2ClientConn) readFrames() error {
	for {
		if !cc.frameBuffered() {
			cc.wakeDirty()
		}
		f, err := cc.fr.ReadFrame()
		if err == nil {
			cc.framesRead.Add(1)
			err = cc.handle(f)
		}
		if err == nil {
			if cc.drained() {
				return errH2Closed
			}
			continue
		}
		var se http2.StreamError
		if errors.As(err, &se) {
			cc.resetStream(se.StreamID, se.Code, se)
			continue
		}
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			cc.goAway(0, http2.ErrCode(ce))
		}
		return err
	}
}

func (cc *h2ClientConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return cc.onHeaders(f)
	case *http2.DataFrame:
		return cc.onData(f)
	case *http2.RSTStreamFrame:
		cc.onReset(f)
	case *http2.SettingsFrame:
		return cc.applySettings(f, cc.adjustWindows)
	case *http2.PingFrame:
		if f.IsAck() && f.Data == h2PingData {
			cc.pingAcked.Store(true)
		}
		cc.ping(f)
	case *http2.WindowUpdateFrame:
		return cc.windowUpdate(f, cc.sendWindowOf)
	case *http2.GoAwayFrame:
		cc.onGoAway(f)
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // push is disabled
	}
	return nil
}

func (cc *h2ClientConn) wakeDirty() {
	for i, st := range cc.dirty {
		st.in.signal()
		cc.dirty[i] = nil
	}
	cc.dirty = cc.dirty[:0]
}

// drained reports whether the peer said GOAWAY and every stream is done.
func (cc *h2ClientConn) drained() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.gotGoAway && len(cc.streams) == 0
}

// stream finds an open stream; a HEADERS or DATA frame on a stream this
// side never opened is a connection error.
func (cc *h2ClientConn) stream(id uint32) (*h2ClientStream, error) {
	st := cc.streams[id]
	if st == nil && (id >= cc.nextID || id%2 == 0) {
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return st, nil
}

func (cc *h2ClientConn) onHeaders(f *http2.MetaHeadersFrame) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	st, err := cc.stream(f.StreamID)
	if st == nil || err != nil {
		return err // nil: a stream this side reset
	}
	if f.Truncated {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errHeadTooLarge}
	}
	if st.resp != nil {
		// Trailers: they end the stream.
		if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		if !st.bodyLengthOK(true) {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errRespLength}
		}
		st.trailer = fieldsHeader(f.RegularFields())
		cc.endStream(st)
		return nil
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if len(status) != 3 || err != nil || code < 100 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errors.New("bad :status")}
	}
	if code < 200 {
		if st.informed++; f.StreamEnded() || st.informed > max1xx {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	}
	resp := &http.Response{Status: statusLine(code), StatusCode: code, Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: fieldsHeader(f.RegularFields()), ContentLength: -1, Request: st.req}
	if cl, ok := resp.Header["Content-Length"]; ok {
		if n, err := parseContentLength(cl); err == nil {
			resp.ContentLength = n
		}
	}
	if f.StreamEnded() {
		resp.Body, resp.ContentLength = http.NoBody, 0
		cc.endStream(st)
	} else {
		st.body = h2ClientBody{cc: cc, st: st, ctx: st.req.Context()}
		resp.Body = &st.body
	}
	st.resp = resp
	cc.dirty = append(cc.dirty, st)
	return nil
}

// endStream marks st complete from the peer's side; this side sent all it
// had before it waited, so the stream is closed. Caller holds mu.
func (cc *h2ClientConn) endStream(st *h2ClientStream) {
	st.in.end = true
	delete(cc.streams, st.id)
	cc.dirty = append(cc.dirty, st)
}

// fieldsHeader makes an http.Header of decoded fields, all values in one
// allocation.
func fieldsHeader(fields []hpack.HeaderField) http.Header {
	h := make(http.Header, len(fields))
	vals := make([]string, len(fields))
	for i, f := range fields {
		k := http.CanonicalHeaderKey(f.Name)
		if vv, ok := h[k]; ok {
			h[k] = append(vv, f.Value)
			continue
		}
		vals[i] = f.Value
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

func (cc *h2ClientConn) onData(f *http2.DataFrame) error {
	if err := cc.recvData(f); err != nil {
		return err
	}
	cc.mu.Lock()
	st, err := cc.stream(f.StreamID)
	if st == nil || err != nil {
		cc.mu.Unlock()
		cc.refund(0, 0, int(f.Length))
		return err
	}
	if st.resp == nil {
		cc.mu.Unlock()
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errors.New("DATA before HEADERS")}
	}
	pad, err := st.in.put(f)
	if err == nil {
		st.got += int64(len(f.Data()))
		if !st.bodyLengthOK(f.StreamEnded()) {
			// The bytes are in the stream's inbox: the reset frees them.
			cc.mu.Unlock()
			cc.refund(0, 0, pad)
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errRespLength}
		}
		if f.StreamEnded() {
			cc.endStream(st)
		} else if len(f.Data()) > 0 {
			cc.dirty = append(cc.dirty, st)
		}
	}
	cc.mu.Unlock()
	if err != nil {
		cc.refund(0, 0, int(f.Length))
		return err
	}
	cc.refund(0, 0, pad)
	return nil
}

// resetStream ends a stream this side found broken: RST_STREAM with code,
// and err for whoever reads it.
func (cc *h2ClientConn) resetStream(id uint32, code http2.ErrCode, err error) {
	cc.mu.Lock()
	freed := 0
	if st := cc.streams[id]; st != nil {
		delete(cc.streams, id)
		st.in.err, st.reset = err, err
		freed = st.in.drop()
		cc.dirty = append(cc.dirty, st)
	}
	cc.mu.Unlock()
	cc.control(func() error { return cc.fr.WriteRSTStream(id, code) })
	cc.refund(0, 0, freed)
}

// onReset ends a stream the peer reset. REFUSED_STREAM means it was not
// processed, so the request may go again.
func (cc *h2ClientConn) onReset(f *http2.RSTStreamFrame) {
	var err error = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode}
	if f.ErrCode == http2.ErrCodeRefusedStream {
		err = &h2Refused{err}
	}
	cc.mu.Lock()
	freed := 0
	if st := cc.streams[f.StreamID]; st != nil {
		delete(cc.streams, f.StreamID)
		st.in.err, st.reset = err, err
		freed = st.in.drop()
		cc.dirty = append(cc.dirty, st)
	}
	cc.mu.Unlock()
	cc.wakeWriters()
	cc.refund(0, 0, freed)
}

// wakeWriters lets writers waiting for a window see a stream's end.
func (cc *h2ClientConn) wakeWriters() {
	cc.wmu.Lock()
	cc.wcond.Broadcast()
	cc.wmu.Unlock()
}

// adjustWindows moves every open stream's send window by delta (a new
// SETTINGS_INITIAL_WINDOW_SIZE). Called under wmu.
func (cc *h2ClientConn) adjustWindows(delta int32) {
	cc.mu.Lock()
	for _, st := range cc.streams {
		st.sendWin += delta
	}
	cc.mu.Unlock()
}

// sendWindowOf is stream id's send window, nil if it is gone. Called under
// wmu.
func (cc *h2ClientConn) sendWindowOf(id uint32) *int32 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if st := cc.streams[id]; st != nil {
		return &st.sendWin
	}
	return nil
}

// onGoAway stops new streams on the connection and fails those the peer
// will not process; the others finish.
func (cc *h2ClientConn) onGoAway(f *http2.GoAwayFrame) {
	cc.closed.Store(true)
	cc.mu.Lock()
	cc.gotGoAway = true
	for id, st := range cc.streams {
		if id > f.LastStreamID {
			delete(cc.streams, id)
			err := &h2Refused{fmt.Errorf("http2: peer sent GOAWAY (%v)", f.ErrCode)}
			st.in.err, st.reset = err, err
			cc.dirty = append(cc.dirty, st)
		}
	}
	cc.mu.Unlock()
	cc.wakeWriters()
}

// die ends the connection: every stream still open fails with err (one
// that had no answer yet and is idempotent may be sent again).
func (cc *h2ClientConn) die(err error) {
	cc.closed.Store(true)
	cc.closeWrites(errH2Closed)
	cc.c.Close()
	cc.mu.Lock()
	cc.dead = err
	for id, st := range cc.streams {
		delete(cc.streams, id)
		var e error = fmt.Errorf("http2: connection to the mesh peer lost: %w", err)
		if st.resp == nil && st.idem {
			e = &h2Refused{e}
		}
		st.in.err, st.reset = e, e
		cc.dirty = append(cc.dirty, st)
	}
	cc.mu.Unlock()
	cc.wakeDirty()
}

// errRespLength: a response body whose DATA frames add up to more than its
// content-length, or end short of it, is malformed (RFC 9113, 8.1.1).
var errRespLength = errors.New("response body length differs from its content-length")

// bodyLengthOK reports whether the body received so far agrees with the
// response's content-length, ended is whether the stream ends here. A
// response to HEAD, and a 204 or 304, carries no body whatever its
// content-length says.
func (st *h2ClientStream) bodyLengthOK(ended bool) bool {
	cl := st.resp.ContentLength
	if cl < 0 || noBody(st.req.Method, st.resp.StatusCode) {
		return true
	}
	return st.got <= cl && (!ended || st.got == cl)
}
