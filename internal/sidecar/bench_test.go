package sidecar

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// cannedRT answers every attempt with the same response object; the
// benchmark is single-goroutine, so rewinding it between requests is safe.
// It keeps the transport's own allocations out of the proxy's count.
type cannedRT struct {
	resp *http.Response
	body *rewind
}

type rewind struct {
	b   []byte
	off int
}

func (r *rewind) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}
func (r *rewind) Close() error { return nil }

func (c *cannedRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.body.off = 0
	return c.resp, nil
}

// nullWriter is a ResponseWriter that keeps nothing.
type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nullWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP is the proxy's own request path (balancer, accrual,
// budget, timeouts, header handling, body copy) without sockets: its
// allocs/op are what the sidecar adds to net/http's.
func BenchmarkServeHTTP(b *testing.B) {
	cfg := Default(Outbound)
	cfg.Upstreams = []string{"a:80", "b:80", "c:80"}
	body := &rewind{b: []byte(strings.Repeat("x", 1024))}
	rt := &cannedRT{body: body, resp: &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 1024, Body: body,
		Header: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {"1024"}},
	}}
	base := time.Now()
	p := newProxy(cfg, deps{
		now: func() int64 { return int64(time.Since(base)) }, intn: rand.IntN, float: rand.Float64, rt: rt,
	})
	r := httptest.NewRequest("GET", "/", nil)
	w := &nullWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		p.ServeHTTP(w, r)
	}
}

// BenchmarkHop: one request at a time over keep-alive connections, 1 KiB
// responses, through nothing (direct), one sidecar, and the two-sidecar
// mTLS mesh. The difference in ns/op is what a hop adds to a request on
// an idle host; allocs/op here count the client and the backend too.
func BenchmarkHop(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	}))
	defer app.Close()
	appAddr := app.Listener.Addr().String()

	out := Default(Outbound)
	out.Upstreams = []string{appAddr}
	one := startSidecar(b, out)

	outFiles, inFiles, err := WriteMesh(b.TempDir(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	in := Default(Inbound)
	in.Upstreams, in.TLS = []string{appAddr}, inFiles
	inAddrs := startSidecar(b, in)
	mout := Default(Outbound)
	mout.Upstreams, mout.TLS = []string{inAddrs.Listen}, outFiles
	mesh := startSidecar(b, mout)

	for _, c := range []struct{ name, addr string }{
		{"direct", appAddr}, {"linkerd", one.Listen}, {"linkerd-mtls", mesh.Listen},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			url := "http://" + c.addr + "/"
			b.ReportAllocs()
			for b.Loop() {
				resp, err := cl.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
