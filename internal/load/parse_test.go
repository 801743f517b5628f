package load

import (
	"strings"
	"testing"
)

func TestParser(t *testing.T) {
	tests := []struct {
		name      string
		resp      string
		head      bool
		status    int
		keepAlive bool
		eof       bool // complete only at the end of the connection
		err       bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, true, false, false},
		{"zero length", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, true, false, false},
		{"close", "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", false, 503, false, false, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, false, false, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", false, 200, true, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n", false, 200, true, false, false},
		{"continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, 201, true, false, false},
		{"head ignores length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 200, true, false, false},
		{"to eof", "HTTP/1.1 200 OK\r\n\r\nbody until close", false, 200, false, true, false},
		{"bare LF", "HTTP/1.1 404 Not Found\nContent-Length: 0\n\n", false, 404, true, false, false},
		{"garbage", "SSH-2.0-OpenSSH_9.2\r\n", false, 0, false, false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, 0, false, false, true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 0, false, false, true},
	}
	for _, tc := range tests {
		// Every split point: responses arrive in arbitrary pieces.
		for cut := 0; cut <= len(tc.resp); cut++ {
			var p respParser
			p.reset(tc.head)
			done, err := false, error(nil)
			for _, piece := range []string{tc.resp[:cut], tc.resp[cut:]} {
				if done || err != nil {
					break
				}
				var used int
				used, done, err = p.feed([]byte(piece))
				if err == nil && !done && used != len(piece) {
					t.Fatalf("%s cut %d: used %d of %d bytes without finishing", tc.name, cut, used, len(piece))
				}
			}
			if tc.err {
				if err == nil {
					t.Errorf("%s cut %d: no error", tc.name, cut)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s cut %d: %v", tc.name, cut, err)
			}
			if tc.eof {
				if done {
					t.Fatalf("%s cut %d: done before the end of the connection", tc.name, cut)
				}
				done = p.eof()
			}
			if !done || p.status != tc.status || p.keepAlive != tc.keepAlive {
				t.Fatalf("%s cut %d: done %v status %d keepAlive %v", tc.name, cut, done, p.status, p.keepAlive)
			}
		}
	}
}

func TestParserRejectsHugeLine(t *testing.T) {
	var p respParser
	p.reset(false)
	_, _, err := p.feed([]byte("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxLine+1)))
	if err == nil {
		t.Fatal("a header line longer than maxLine was accepted")
	}
}

func TestTargetRequestBytes(t *testing.T) {
	tg, err := newTarget("http://127.0.0.1:8080/api/", Request{
		Method: "POST", Path: "/echo?x=1", Body: []byte("hi"),
		Header: map[string][]string{"x-b": {"2"}, "X-A": {"1"}},
	}, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /api/echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\nX-B: 2\r\nUser-Agent: meshbench\r\nContent-Length: 2\r\n\r\nhi"
	if string(tg.raw) != want || tg.addr != "127.0.0.1:8080" {
		t.Errorf("request bytes:\n%q\nwant\n%q (addr %s)", tg.raw, want, tg.addr)
	}
	tg, err = newTarget("http://localhost", Request{}, &Config{})
	if err != nil || tg.addr != "localhost:80" || !strings.HasPrefix(string(tg.raw), "GET / HTTP/1.1\r\nHost: localhost\r\n") {
		t.Errorf("default port and path: %v %q %q", err, tg.addr, tg.raw)
	}
	tg, err = newTarget("https://example.test", Request{}, &Config{InsecureSkipVerify: true})
	if err != nil || tg.addr != "example.test:443" || tg.tls == nil || tg.tls.ServerName != "example.test" || !tg.tls.InsecureSkipVerify {
		t.Errorf("https: %v %q %+v", err, tg.addr, tg.tls)
	}
}
