package sidecar

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// One connection of the lean HTTP/2 client (h2client.go): the request's
// side (roundTrip, the response body) and the reader goroutine's.

// roundTrip sends req (and body) as a new stream and waits for the head of
// its response.
func (cc *h2ClientConn) roundTrip(req *http.Request, body []byte) (*http.Response, error) {
	host, path, err := requestTarget(req)
	if err != nil {
		return nil, err
	}
	st := &h2ClientStream{req: req, idem: idempotent(req.Method)}
	st.in.init()
	cc.wmu.Lock()
	if err := cc.open(st); err != nil {
		cc.wmu.Unlock()
		return nil, err
	}
	cc.encodeRequest(req, host, path, len(body))
	err = cc.writeBlock(st.id, body == nil)
	if err == nil && body != nil {
		err = cc.writeData(st.id, &st.sendWin, body, true, func() error { return cc.sendStopped(st) })
	}
	if err == nil {
		err = cc.flush()
	}
	broken := cc.werr != nil
	cc.wmu.Unlock()
	if broken {
		// The reader then fails every stream, this one included.
		cc.c.Close()
	}
	return cc.await(req.Context(), st)
}

// open gives st the next stream id and registers it. Caller holds wmu.
func (cc *h2ClientConn) open(st *h2ClientStream) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch {
	case cc.werr != nil || cc.gotGoAway || cc.closed.Load() || cc.nextID >= 1<<31:
		cc.closed.Store(true)
		return &h2Refused{errH2Closed}
	case uint32(len(cc.streams)) >= cc.peerMaxStreams:
		return errH2Busy
	}
	st.id = cc.nextID
	cc.nextID += 2
	st.sendWin = cc.peerInitWindow
	cc.streams[st.id] = st
	return nil
}

// requestTarget checks what the request's header block will carry and
// returns its :authority and :path.
func requestTarget(req *http.Request) (host, path string, err error) {
	host = req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return "", "", errors.New("http2: invalid Host " + strconv.Quote(host))
	}
	path = req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if req.URL.RawQuery != "" || req.URL.ForceQuery {
		path += "?" + req.URL.RawQuery
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "", "", errors.New("http2: invalid header name " + strconv.Quote(k))
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "", "", errors.New("http2: invalid value for header " + k)
			}
		}
	}
	return host, path, nil
}

// encodeRequest encodes the request's header block. Caller holds wmu.
func (cc *h2ClientConn) encodeRequest(req *http.Request, host, path string, bodyLen int) {
	cc.field(":method", req.Method)
	cc.field(":scheme", "https")
	cc.field(":authority", host)
	cc.field(":path", path)
	for k, vv := range req.Header {
		if h2ConnectionHeader(k) || k == "Content-Length" {
			continue
		}
		lk := lowerHeader(k)
		for _, v := range vv {
			cc.field(lk, v)
		}
	}
	if bodyLen > 0 {
		cc.field("content-length", strconv.Itoa(bodyLen))
	}
}

// await waits for the response head (or the stream's failure).
func (cc *h2ClientConn) await(ctx context.Context, st *h2ClientStream) (*http.Response, error) {
	for {
		cc.mu.Lock()
		resp, err := st.resp, st.in.err
		cc.mu.Unlock()
		if resp != nil {
			return resp, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-st.in.wake:
		case <-ctx.Done():
			cc.cancel(st, http2.ErrCodeCancel)
			cc.suspect()
			return nil, ctx.Err()
		}
	}
}

// sendStopped is why st may not send any more (nil: it may). Caller holds
// wmu.
func (cc *h2ClientConn) sendStopped(st *h2ClientStream) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return st.reset
}

// cancel ends st from this side: RST_STREAM if it is still open, and the
// credit for whatever it received unread goes back to the connection.
func (cc *h2ClientConn) cancel(st *h2ClientStream, code http2.ErrCode) {
	cc.mu.Lock()
	_, open := cc.streams[st.id]
	delete(cc.streams, st.id)
	if st.in.err == nil && !st.in.end {
		st.in.err = errStreamCanceled
	}
	if st.reset == nil {
		st.reset = errStreamCanceled
	}
	freed := st.in.drop()
	cc.mu.Unlock()
	if open {
		cc.control(func() error { return cc.fr.WriteRSTStream(st.id, code) })
	}
	cc.refund(0, 0, freed)
}

var errStreamCanceled = errors.New("http2: stream canceled")

// closeIfIdle closes the connection if no stream is open on it.
func (cc *h2ClientConn) closeIfIdle() {
	cc.mu.Lock()
	idle := len(cc.streams) == 0
	if idle {
		cc.closed.Store(true)
	}
	cc.mu.Unlock()
	if idle {
		cc.c.Close()
	}
}

// h2ClientBody is a response body, read from what the reader delivered.
type h2ClientBody struct {
	cc  *h2ClientConn
	st  *h2ClientStream
	ctx context.Context
}

func (b *h2ClientBody) Read(p []byte) (int, error) {
	n, err := b.st.in.read(&b.cc.h2Framing, &b.cc.mu, b.st.id, p, b.ctx)
	if err != nil && err == b.ctx.Err() {
		b.cc.suspect()
	}
	if err != nil && b.st.trailer != nil {
		// Read saw the stream's end under mu, after the reader stored
		// the trailers.
		b.st.resp.Trailer = b.st.trailer
		b.st.trailer = nil
	}
	return n, err
}

func (b *h2ClientBody) Close() error {
	b.cc.cancel(b.st, http2.ErrCodeCancel)
	return nil
}

// lowerHeader is the HTTP/2 (lower-case) form of a canonical header name;
// the common ones come from a table, without an allocation.
func lowerHeader(k string) string {
	if v, ok := lowerCommon[k]; ok {
		return v
	}
	return strings.ToLower(k)
}

var lowerCommon = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Date",
		"Etag", "Expires", "If-Modified-Since", "If-None-Match", "Last-Modified", "Location",
		"Origin", "Referer", "Server", "Set-Cookie", "User-Agent", "Vary", "X-Forwarded-For",
		"X-Request-Id", OrigProtoHeader, ProxyErrorHeader, RetryableHeader} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// h2ConnectionHeader reports whether k is a field HTTP/2 forbids
// (connection-specific, RFC 9113 8.2.2) or one the pseudo-headers carry.
func h2ConnectionHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Te", "Host":
		return true
	}
	return false
}
