package sidecar

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// badPeer is a client connection to the lean server that writes whatever a
// test case wants.
type badPeer struct {
	c   *tls.Conn
	fr  *http2.Framer
	buf bytes.Buffer
	enc *hpack.Encoder
}

// block encodes name, value pairs with the connection's encoder.
func (p *badPeer) block(fields ...string) []byte {
	p.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(p.buf.Bytes())
}

func (p *badPeer) headers(id uint32, end bool, fields ...string) {
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.block(fields...), EndHeaders: true, EndStream: end})
}

func reqFields(method, path string, more ...string) []string {
	return append([]string{":method", method, ":scheme", "https", ":authority", "mesh", ":path", path}, more...)
}

// h2Want is what the server must answer a case with.
type h2Want struct {
	goAway   http2.ErrCode // a GOAWAY with this code, if rst == 0 and status == 0
	rst      uint32        // else RST_STREAM on this stream with code
	code     http2.ErrCode
	status   string // else a response with this :status (or GOAWAY, if orGoAway)
	orGoAway bool
	anyEnd   bool // else only that the connection ends, however
}

func goAwayWith(c http2.ErrCode) h2Want         { return h2Want{goAway: c} }
func rstWith(id uint32, c http2.ErrCode) h2Want { return h2Want{rst: id, code: c} }

// check reads the server's frames until the h2Want shows (nil) or the
// connection ends without it.
func (o h2Want) check(fr *http2.Framer) error {
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if o.anyEnd {
				return nil
			}
			return errors.New("connection ended first: " + err.Error())
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if o.anyEnd || o.orGoAway || o.rst == 0 && o.status == "" && f.ErrCode == o.goAway {
				return nil
			}
			return errors.New("GOAWAY " + f.ErrCode.String())
		case *http2.RSTStreamFrame:
			if o.rst == f.StreamID && o.code == f.ErrCode {
				return nil
			}
			if !o.anyEnd {
				return errors.New("RST_STREAM " + f.ErrCode.String())
			}
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); o.status != "" && s == o.status {
				return nil
			}
		}
	}
}

// TestH2ServerMalformedFrames: frames a broken or hostile client might send
// get the stream or connection error RFC 9113 names, never a panic or a
// hang, and the server goes on serving other connections.
func TestH2ServerMalformedFrames(t *testing.T) {
	// Requests for /hold wait, their bodies unread, until they are
	// canceled: the only way a client can overrun a stream's window.
	li := startLeanInbound(t, newTestApp(), func(_ *http.Server, p *Proxy) {
		rt := p.rt
		p.rt = rtFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/hold" {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			return rt.RoundTrip(r)
		})
	})
	big := strings.Repeat("b", 100<<10)
	cases := []struct {
		name    string
		preface string // instead of the client preface and SETTINGS
		send    func(p *badPeer)
		want    h2Want
	}{
		{"bad preface", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", nil, h2Want{anyEnd: true}},
		{"first frame not SETTINGS", http2.ClientPreface, func(p *badPeer) { p.fr.WritePing(false, [8]byte{}) }, goAwayWith(http2.ErrCodeProtocol)},
		{"DATA on stream 0", "", func(p *badPeer) { p.fr.WriteRawFrame(http2.FrameData, 0, 0, []byte("x")) }, goAwayWith(http2.ErrCodeProtocol)},
		{"HEADERS on an even stream", "", func(p *badPeer) { p.headers(2, true, reqFields("GET", "/")...) }, goAwayWith(http2.ErrCodeProtocol)},
		{"no :path", "", func(p *badPeer) { p.headers(1, true, ":method", "GET", ":scheme", "https") }, rstWith(1, http2.ErrCodeProtocol)},
		{"CONNECT", "", func(p *badPeer) { p.headers(1, true, ":method", "CONNECT", ":authority", "x:1") }, rstWith(1, http2.ErrCodeProtocol)},
		{"path not absolute", "", func(p *badPeer) { p.headers(1, true, reqFields("GET", "nope")...) }, rstWith(1, http2.ErrCodeProtocol)},
		{"uppercase field name", "", func(p *badPeer) { p.headers(1, true, reqFields("GET", "/", "X-Up", "1")...) }, rstWith(1, http2.ErrCodeProtocol)},
		{"pseudo-header after a field", "", func(p *badPeer) { p.headers(1, true, "x-a", "1", ":method", "GET", ":path", "/", ":scheme", "https") }, rstWith(1, http2.ErrCodeProtocol)},
		{"undecodable HPACK", "", func(p *badPeer) {
			p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true})
		}, goAwayWith(http2.ErrCodeCompression)},
		{"WINDOW_UPDATE of 0", "", func(p *badPeer) { p.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0}) }, goAwayWith(http2.ErrCodeProtocol)},
		{"connection window overflow", "", func(p *badPeer) { p.fr.WriteWindowUpdate(0, 1<<31-1) }, goAwayWith(http2.ErrCodeFlowControl)},
		{"stream window overflow", "", func(p *badPeer) {
			p.headers(1, false, reqFields("POST", "/echo")...)
			p.fr.WriteWindowUpdate(1, 1<<31-1)
		}, rstWith(1, http2.ErrCodeFlowControl)},
		{"DATA beyond the stream window", "", func(p *badPeer) {
			p.headers(1, false, reqFields("POST", "/hold")...)
			chunk := make([]byte, 16384)
			for range h2StreamWindow/len(chunk) + 1 {
				p.fr.WriteData(1, false, chunk)
			}
		}, rstWith(1, http2.ErrCodeFlowControl)},
		{"body longer than Content-Length", "", func(p *badPeer) {
			p.headers(1, false, reqFields("POST", "/echo", "content-length", "5")...)
			p.fr.WriteData(1, true, []byte("0123456789"))
		}, rstWith(1, http2.ErrCodeProtocol)},
		{"body shorter than Content-Length", "", func(p *badPeer) {
			p.headers(1, false, reqFields("POST", "/echo", "content-length", "10")...)
			p.fr.WriteData(1, true, []byte("01234"))
		}, rstWith(1, http2.ErrCodeProtocol)},
		{"DATA after END_STREAM", "", func(p *badPeer) {
			p.headers(1, false, reqFields("POST", "/echo", "content-length", "1")...)
			p.fr.WriteData(1, true, []byte("0"))
			p.fr.WriteData(1, true, []byte("1"))
		}, rstWith(1, http2.ErrCodeStreamClosed)},
		{"DATA on an idle stream", "", func(p *badPeer) { p.fr.WriteData(7, true, []byte("x")) }, goAwayWith(http2.ErrCodeProtocol)},
		{"stream ids going down", "", func(p *badPeer) {
			p.headers(5, true, reqFields("GET", "/")...)
			p.headers(3, true, reqFields("GET", "/")...)
		}, goAwayWith(http2.ErrCodeStreamClosed)},
		{"frame over the maximum size", "", func(p *badPeer) { p.fr.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 20000)) }, goAwayWith(http2.ErrCodeFrameSize)},
		{"CONTINUATION without HEADERS", "", func(p *badPeer) {
			p.fr.WriteRawFrame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 1, p.block(reqFields("GET", "/")...))
		}, goAwayWith(http2.ErrCodeProtocol)},
		{"DATA between HEADERS and CONTINUATION", "", func(p *badPeer) {
			p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(reqFields("GET", "/")...)})
			p.fr.WriteData(1, true, []byte("x"))
		}, goAwayWith(http2.ErrCodeProtocol)},
		{"PUSH_PROMISE from the client", "", func(p *badPeer) {
			p.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: p.block(reqFields("GET", "/")...), EndHeaders: true})
		}, goAwayWith(http2.ErrCodeProtocol)},
		{"SETTINGS window over 2^31-1", "", func(p *badPeer) {
			p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, goAwayWith(http2.ErrCodeFlowControl)},
		{"SETTINGS ENABLE_PUSH 2", "", func(p *badPeer) { p.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }, goAwayWith(http2.ErrCodeProtocol)},
		{"SETTINGS of a bad length", "", func(p *badPeer) { p.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{0, 1, 0, 0, 0}) }, goAwayWith(http2.ErrCodeFrameSize)},
		{"PING of a bad length", "", func(p *badPeer) { p.fr.WriteRawFrame(http2.FramePing, 0, 0, []byte{1, 2, 3, 4}) }, goAwayWith(http2.ErrCodeFrameSize)},
		{"header block over the limit", "", func(p *badPeer) {
			b := p.block(reqFields("GET", "/", "x-big", big)...)
			p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:16384], EndStream: true})
			for b = b[16384:]; len(b) > 0; {
				k := min(len(b), 16384)
				p.fr.WriteContinuation(1, k == len(b), b[:k])
				b = b[k:]
			}
		}, h2Want{status: "431", orGoAway: true}},
	}
	for seed := range 4 {
		r := rand.New(rand.NewPCG(uint64(seed), 12))
		junk := make([]byte, 64+r.IntN(512))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		cases = append(cases, struct {
			name    string
			preface string
			send    func(p *badPeer)
			want    h2Want
		}{"random bytes " + string(rune('a'+seed)), "", func(p *badPeer) {
			p.c.Write(junk)
			p.c.CloseWrite()
		}, h2Want{anyEnd: true}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, err := tls.Dial("tcp", li.addr, li.certs.client)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			tc.SetDeadline(time.Now().Add(20 * time.Second)) // only against a hang
			p := &badPeer{c: tc, fr: http2.NewFramer(tc, tc)}
			p.fr.AllowIllegalWrites = true
			p.enc = hpack.NewEncoder(&p.buf)
			if c.preface != "" {
				io.WriteString(tc, c.preface)
			} else {
				io.WriteString(tc, http2.ClientPreface)
				p.fr.WriteSettings()
			}
			if c.send != nil {
				c.send(p)
			}
			if err := c.want.check(http2.NewFramer(io.Discard, tc)); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			if err := h2Request(li.addr, li.certs.client); err != nil {
				t.Errorf("after %s the server does not serve: %v", c.name, err)
			}
		})
	}
}
