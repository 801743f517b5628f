package load

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestRxTimestamp(t *testing.T) {
	ts := unix.NsecToTimespec(1_763_900_000_123_456_789)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))
	stamp := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, raw)
	other := cmsg(unix.SOL_IP, unix.IP_TTL, []byte{64, 0, 0, 0})
	for name, c := range map[string]struct {
		oob  []byte
		want int64
		ok   bool
	}{
		"alone":         {stamp, ts.Nano(), true},
		"after another": {append(append([]byte{}, other...), stamp...), ts.Nano(), true},
		"none":          {other, 0, false},
		"empty":         {nil, 0, false},
		"truncated":     {stamp[:unix.CmsgLen(0)+4], 0, false},
	} {
		got, ok := rxTimestamp(c.oob)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %d %v, want %d %v", name, got, ok, c.want, c.ok)
		}
	}
}
