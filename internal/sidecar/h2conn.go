package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The framing both ends of the lean HTTP/2 mesh hop share (h2client.go is
// the outbound sidecar's client, h2lean.go the inbound sidecar's server).
// golang.org/x/net/http2's Transport and Server move every frame through
// goroutines of their own (a read loop, a serve loop, a writer) and hand
// each request and response between them and the request's goroutine; on
// a sidecar with one P each of those hand-offs is a wait in the run queue,
// and they are most of the mesh's tail (docs/sidecar-performance.md). Here
// one reader goroutine per connection parses frames with x/net's Framer
// and hpack, and the goroutine that owns a request writes its frames
// itself, under the connection's write lock, into one buffer that it
// flushes once: one TLS record per request or response in the usual case.

// Flow-control windows this side advertises. The stream window bounds what
// one stream may have buffered unread; the connection window what all of
// them may. Small responses never reach either: the stream's window is
// never refunded once it ended, and the connection's is refunded in batches.
const (
	h2StreamWindow = 256 << 10
	h2ConnWindow   = 4 << 20
	h2DefaultFrame = 16 << 10 // SETTINGS_MAX_FRAME_SIZE until the peer says otherwise
	h2InitWindow   = 65535    // the protocol's initial windows
)

// errH2Closed is the error of a stream whose connection ended.
var errH2Closed = errors.New("http2: connection closed")

// h2Framing is one HTTP/2 connection's framing, flow control and HPACK
// state. The reader goroutine alone reads; writers hold wmu.
type h2Framing struct {
	c  net.Conn
	fr *http2.Framer
	br *bufio.Reader
	bw *bufio.Writer

	wmu   sync.Mutex
	wcond sync.Cond // on wmu: a send window grew, or the connection failed
	henc  *hpack.Encoder
	hbuf  bytes.Buffer
	werr  error // the connection's end, for writers
	// Peer's flow control and settings, under wmu.
	sendWindow     int32
	peerInitWindow int32
	peerMaxFrame   uint32
	peerMaxStreams uint32

	// recvWindow is what the peer may still send on the connection;
	// consumed counts bytes read (or dropped) since the last connection
	// WINDOW_UPDATE.
	recvWindow atomic.Int64
	consumed   atomic.Int64
}

func (h *h2Framing) init(c net.Conn, maxHeaderList uint32) {
	h.c = c
	h.br = bufio.NewReaderSize(c, 16<<10)
	h.bw = bufio.NewWriterSize(c, 16<<10)
	h.fr = http2.NewFramer(h.bw, h.br)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = maxHeaderList
	h.fr.SetReuseFrames()
	h.fr.SetMaxReadFrameSize(h2DefaultFrame) // this side advertises no larger frames
	h.henc = hpack.NewEncoder(&h.hbuf)
	h.wcond.L = &h.wmu
	h.sendWindow, h.peerInitWindow, h.peerMaxFrame = h2InitWindow, h2InitWindow, h2DefaultFrame
	h.peerMaxStreams = 100 // until the peer's SETTINGS arrive (RFC 9113 recommends at least 100)
	h.recvWindow.Store(h2ConnWindow)
}

// writeSettings writes this side's SETTINGS and opens the connection
// window to h2ConnWindow. Caller holds wmu.
func (h *h2Framing) writeSettings(s ...http2.Setting) {
	h.fr.WriteSettings(s...)
	h.fr.WriteWindowUpdate(0, h2ConnWindow-h2InitWindow)
}

// field adds one header field to the block being encoded. Caller holds wmu.
func (h *h2Framing) field(name, value string) {
	h.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// writeBlock writes the encoded block as HEADERS and as many CONTINUATION
// frames as the peer's frame size needs. Caller holds wmu.
func (h *h2Framing) writeBlock(id uint32, endStream bool) error {
	block := h.hbuf.Bytes()
	defer h.hbuf.Reset()
	n := min(len(block), int(h.peerMaxFrame))
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:n],
		EndStream: endStream, EndHeaders: n == len(block)})
	for block = block[n:]; err == nil && len(block) > 0; block = block[n:] {
		n = min(len(block), int(h.peerMaxFrame))
		err = h.fr.WriteContinuation(id, n == len(block), block[:n])
	}
	return h.fail(err)
}

// writeData writes data on stream id within the connection's and the
// stream's send windows (win, under wmu), flushing and waiting for the
// peer's WINDOW_UPDATE when they are exhausted; stopped says the stream
// may no longer send. Caller holds wmu (released while waiting).
func (h *h2Framing) writeData(id uint32, win *int32, data []byte, end bool, stopped func() error) error {
	for {
		if h.werr != nil {
			return h.werr
		}
		if err := stopped(); err != nil {
			return err
		}
		if len(data) == 0 {
			if end {
				return h.fail(h.fr.WriteData(id, true, nil))
			}
			return nil
		}
		n := min(len(data), int(h.peerMaxFrame), int(h.sendWindow), int(*win))
		if n <= 0 {
			if err := h.flush(); err != nil {
				return err
			}
			h.wcond.Wait()
			continue
		}
		h.sendWindow -= int32(n)
		*win -= int32(n)
		if err := h.fr.WriteData(id, end && n == len(data), data[:n]); err != nil {
			return h.fail(err)
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// flush sends what the frames written so far hold. Caller holds wmu.
func (h *h2Framing) flush() error {
	if h.werr != nil {
		return h.werr
	}
	return h.fail(h.bw.Flush())
}

// fail records a write error as the connection's end. Caller holds wmu.
func (h *h2Framing) fail(err error) error {
	if err != nil && h.werr == nil {
		h.werr = err
		h.wcond.Broadcast()
	}
	if h.werr != nil {
		return h.werr
	}
	return nil
}

// closeWrites ends the connection for writers. Caller must not hold wmu.
func (h *h2Framing) closeWrites(err error) {
	h.wmu.Lock()
	h.fail(err)
	h.wcond.Broadcast()
	h.wmu.Unlock()
}

// control writes one frame from the reader goroutine and flushes it.
func (h *h2Framing) control(write func() error) {
	h.wmu.Lock()
	if h.werr == nil && h.fail(write()) == nil {
		h.flush()
	}
	h.wmu.Unlock()
}

// goAway writes GOAWAY and flushes it.
func (h *h2Framing) goAway(last uint32, code http2.ErrCode) {
	h.control(func() error { return h.fr.WriteGoAway(last, code, nil) })
}

// applySettings takes the peer's SETTINGS, adjusts open streams' send
// windows through adjust (called under wmu) and acknowledges them.
func (h *h2Framing) applySettings(f *http2.SettingsFrame, adjust func(delta int32)) error {
	if f.IsAck() {
		return nil
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			adjust(int32(s.Val) - h.peerInitWindow)
			h.peerInitWindow = int32(s.Val)
		case http2.SettingMaxFrameSize:
			h.peerMaxFrame = s.Val
		case http2.SettingHeaderTableSize:
			h.henc.SetMaxDynamicTableSize(min(s.Val, 4096))
		case http2.SettingMaxConcurrentStreams:
			h.peerMaxStreams = s.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.wcond.Broadcast()
	if h.fail(h.fr.WriteSettingsAck()) == nil {
		h.flush()
	}
	return nil
}

// windowUpdate applies the peer's WINDOW_UPDATE; win finds a stream's send
// window (nil: a stream that is gone), called under wmu.
func (h *h2Framing) windowUpdate(f *http2.WindowUpdateFrame, win func(id uint32) *int32) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	w := &h.sendWindow
	if f.StreamID != 0 {
		if w = win(f.StreamID); w == nil {
			return nil
		}
	}
	if int64(*w)+int64(f.Increment) > 1<<31-1 {
		if f.StreamID == 0 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	*w += int32(f.Increment)
	h.wcond.Broadcast()
	return nil
}

// ping answers the peer's PING.
func (h *h2Framing) ping(f *http2.PingFrame) {
	if !f.IsAck() {
		h.control(func() error { return h.fr.WritePing(true, f.Data) })
	}
}

// frameBuffered reports whether a whole frame is already in the read
// buffer, so that reading it will not block.
func (h *h2Framing) frameBuffered() bool {
	n := h.br.Buffered()
	if n < 9 {
		return false
	}
	b, _ := h.br.Peek(9)
	return n >= 9+(int(b[0])<<16|int(b[1])<<8|int(b[2]))
}

// recvData takes a DATA frame's length off the connection's receive window.
func (h *h2Framing) recvData(f *http2.DataFrame) error {
	if h.recvWindow.Add(-int64(f.Length)) < 0 {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	return nil
}

// refund gives back flow-control credit: stream bytes on stream id (0:
// none) and conn bytes on the connection, the latter batched until a
// quarter of the window is due.
func (h *h2Framing) refund(id uint32, stream, conn int) {
	connDue := int64(0)
	if conn > 0 && h.consumed.Add(int64(conn)) >= h2ConnWindow/4 {
		connDue = h.consumed.Swap(0)
	}
	if stream <= 0 && connDue <= 0 {
		return
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if h.werr != nil {
		return
	}
	if connDue > 0 {
		h.recvWindow.Add(connDue)
		h.fr.WriteWindowUpdate(0, uint32(connDue))
	}
	if stream > 0 {
		h.fr.WriteWindowUpdate(id, uint32(stream))
	}
	h.flush()
}

// h2Inbox is what one stream received and its consumer has not read yet,
// under the connection's stream lock.
type h2Inbox struct {
	buf    *[]byte // from bufPool, backing data until drop
	data   []byte
	off    int
	end    bool  // END_STREAM arrived
	err    error // the stream failed
	window int   // what the peer may still send on the stream
	unread int   // consumed since the last stream WINDOW_UPDATE
	wake   chan struct{}
}

func (in *h2Inbox) init() {
	in.window = h2StreamWindow
	in.wake = make(chan struct{}, 1)
}

// signal wakes the consumer, if it waits.
func (in *h2Inbox) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// put stores a DATA frame's payload (called by the reader under mu) and
// returns the frame's padding, which counts against the windows but is
// consumed at once.
func (in *h2Inbox) put(f *http2.DataFrame) (int, error) {
	if int(f.Length) > in.window {
		return 0, http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	pad := int(f.Length) - len(f.Data())
	in.window -= int(f.Length)
	in.unread += pad
	if in.buf == nil && len(f.Data()) > 0 {
		in.buf = bufPool.Get().(*[]byte)
		in.data = (*in.buf)[:0]
	}
	in.data = append(in.data, f.Data()...)
	return pad, nil
}

// read copies received bytes into p, waiting for them (or for ctx to
// end) under mu, and refunds the flow-control credit they free.
func (in *h2Inbox) read(h *h2Framing, mu *sync.Mutex, id uint32, p []byte, ctx context.Context) (int, error) {
	mu.Lock()
	for in.off == len(in.data) && !in.end && in.err == nil {
		mu.Unlock()
		select {
		case <-in.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		mu.Lock()
	}
	if in.off == len(in.data) {
		err := in.err
		mu.Unlock()
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	n := copy(p, in.data[in.off:])
	in.off += n
	if in.off == len(in.data) {
		in.data, in.off = in.data[:0], 0
	}
	in.unread += n
	stream := 0
	if !in.end && in.unread >= h2StreamWindow/4 {
		stream, in.unread = in.unread, 0
		in.window += stream
	}
	mu.Unlock()
	h.refund(id, stream, n)
	return n, nil
}

// drop discards what is buffered (the consumer is done or gone), returns
// the buffer to its pool and says how many unread bytes that frees on the
// connection. Caller holds mu.
func (in *h2Inbox) drop() int {
	n := len(in.data) - in.off
	in.data, in.off = nil, 0
	if in.buf != nil {
		bufPool.Put(in.buf)
		in.buf = nil
	}
	return n
}
