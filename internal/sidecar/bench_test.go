package sidecar

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
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
// budget, timeouts, header handling, body copy) without sockets, for each
// role a sidecar plays: its allocs/op are what the sidecar adds to
// net/http's. "outbound-mesh" also tags the request for the HTTP/2 hop,
// "inbound" takes the tag off again.
func BenchmarkServeHTTP(b *testing.B) {
	for _, c := range []struct {
		name string
		mod  func(*Config)
		hdr  http.Header
	}{
		{"outbound", nil, nil},
		{"outbound-mesh", func(c *Config) { c.TLS = TLSFiles{Cert: "c", Key: "k", CA: "ca"} }, nil},
		{"inbound", func(c *Config) { *c = Default(Inbound); c.Upstreams = []string{"app:80"} },
			http.Header{OrigProtoHeader: {"HTTP/1.1"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := Default(Outbound)
			cfg.Upstreams = []string{"a:80", "b:80", "c:80"}
			if c.mod != nil {
				c.mod(&cfg)
			}
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
				clear(r.Header)
				for k, v := range c.hdr {
					r.Header[k] = v
				}
				p.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkHop: requests over keep-alive connections, 1 KiB responses,
// through nothing (direct), one sidecar, and the two-sidecar mTLS mesh,
// all in this process on real loopback sockets. "serial" sends one request
// at a time, so the difference in ns/op is what a hop adds to a request on
// an idle host; "parallel" keeps 8 in flight, which is where the mesh hop's
// HTTP/2 connection carries several streams at once. allocs/op count the
// client and the application too; cpu-us/op is the whole process's CPU
// time (user and system) per request, everything included.
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
		url := "http://" + c.addr + "/"
		get := func(b *testing.B, cl *http.Client) {
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
		b.Run(c.name+"/serial", func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				get(b, cl)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-us/op")
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, cl)
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// cpuTime is the process's CPU time so far, user and system, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUpstreamClient: one request without a body and its 1 KiB
// response over a keep-alive loopback connection, through net/http's
// Transport and through the lean client that carries such requests
// (h1client.go). cpu-us/op is the whole process, the test server included.
func BenchmarkUpstreamClient(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	}))
	defer app.Close()
	cfg := Default(Outbound)
	cfg.Upstreams = []string{app.Listener.Addr().String()}
	rt, err := newTransport(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h1 := rt.(*h1Transport)
	defer h1.CloseIdleConnections()
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"net-http", h1.fallback}, {"lean", h1}} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", app.URL+"/", nil)
			buf := make([]byte, 16<<10)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				resp, err := c.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
			b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// BenchmarkServer: one request and its 1 KiB answer over a keep-alive
// loopback connection, served by net/http's server and by the lean path
// (h1server.go), both in front of the same proxy with a canned upstream.
// The client is a raw connection, so that ns/op, allocs/op and cpu-us/op
// (the whole process) are mostly the server's and the proxy's.
func BenchmarkServer(b *testing.B) {
	for _, lean := range []bool{false, true} {
		name := "net-http"
		if lean {
			name = "lean"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Default(Outbound)
			cfg.Upstreams = []string{"a:80"}
			body := &rewind{b: []byte(strings.Repeat("x", 1024))}
			rt := &cannedRT{body: body, resp: &http.Response{
				StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 1024, Body: body,
				Header: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {"1024"}},
			}}
			base := time.Now()
			p := newProxy(cfg, deps{now: func() int64 { return int64(time.Since(base)) }, intn: rand.IntN, float: rand.Float64, rt: rt})
			srv, err := p.server(cfg, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if lean {
				s := newH1Server(p, srv, ln)
				go s.Serve()
				defer s.Shutdown(context.Background())
			} else {
				go srv.Serve(ln)
				defer srv.Close()
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			buf := make([]byte, 2048)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(resp.Body, buf[:1024]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}
