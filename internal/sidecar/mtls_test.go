package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startSidecar runs cfg on real sockets until the test ends.
func startSidecar(t testing.TB, cfg Config) Addrs {
	t.Helper()
	if cfg.Listen == "" || strings.HasSuffix(cfg.Listen, ":4140") || strings.HasSuffix(cfg.Listen, ":4143") {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Admin == "" {
		cfg.Admin = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, testLog{t}, func(a Addrs) error { got <- a; return nil }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("sidecar did not stop")
		}
	})
	select {
	case a := <-got:
		return a
	case err := <-done:
		t.Fatalf("sidecar: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar did not start")
	}
	return Addrs{}
}

// testLog passes server log lines to the test log (nothing if the test is over).
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	l.t.Logf("%s", strings.TrimSpace(string(b)))
	return len(b), nil
}

// protoBackend records the protocol and headers each request arrived with.
type protoBackend struct {
	mu     sync.Mutex
	protos []string
	orig   []string
}

func (b *protoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.protos = append(b.protos, r.Proto)
	b.orig = append(b.orig, r.Header.Get(OrigProtoHeader))
	b.mu.Unlock()
	io.WriteString(w, "hello from the app")
}

func scrape(t testing.TB, admin string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, err := ParseMetrics(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMeshHop: client → outbound sidecar → mutual TLS 1.3 over HTTP/2 →
// inbound sidecar → application. The application sees plain HTTP/1.1
// without the mesh's header; the inbound side saw HTTP/2 over TLS; the
// inbound port refuses a plain client, a TLS client without a certificate,
// one with a certificate from another CA, and TLS 1.2.
func TestMeshHop(t *testing.T) {
	dir := t.TempDir()
	outFiles, inFiles, err := WriteMesh(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{outFiles.Key, inFiles.Key} {
		if fi, err := os.Stat(k); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key %s: mode %v, %v", k, fi.Mode().Perm(), err)
		}
	}
	app := &protoBackend{}
	appSrv := httptest.NewServer(app)
	defer appSrv.Close()

	in := Default(Inbound)
	in.Upstreams = []string{appSrv.Listener.Addr().String()}
	in.TLS = inFiles
	inAddrs := startSidecar(t, in)

	out := Default(Outbound)
	out.Upstreams = []string{inAddrs.Listen}
	out.TLS = outFiles
	outAddrs := startSidecar(t, out)

	for range 5 {
		resp, err := http.Get("http://" + outAddrs.Listen + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello from the app" || resp.Proto != "HTTP/1.1" {
			t.Fatalf("through the mesh: %s %s %q", resp.Proto, resp.Status, body)
		}
	}
	app.mu.Lock()
	for i := range app.protos {
		if app.protos[i] != "HTTP/1.1" || app.orig[i] != "" {
			t.Errorf("the app got %s with l5d-orig-proto %q", app.protos[i], app.orig[i])
		}
	}
	app.mu.Unlock()
	m := scrape(t, inAddrs.Admin)
	if m["orig_proto_restored_total"] != 5 {
		t.Errorf("inbound restored %v requests, want 5", m["orig_proto_restored_total"])
	}
	inText := scrapeText(t, inAddrs.Admin)
	if !strings.Contains(inText, `request_total{proto="h2",tls="tls"} 5`) {
		t.Errorf("inbound did not see 5 HTTP/2-over-TLS requests:\n%s", inText)
	}

	// The handshake as the outbound sidecar makes it: TLS 1.3, h2.
	good, err := outFiles.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", inAddrs.Listen, good)
	if err != nil {
		t.Fatalf("mesh client refused: %v", err)
	}
	st := conn.ConnectionState()
	conn.Close()
	if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
		t.Errorf("hop is TLS %x, ALPN %q; want TLS 1.3 (304), h2", st.Version, st.NegotiatedProtocol)
	}
	if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].DNSNames[0] != IdentityName {
		t.Errorf("inbound identity: %v", st.PeerCertificates)
	}

	// A plain HTTP client.
	if resp, err := http.Get("http://" + inAddrs.Listen + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP client got %s", resp.Status)
		}
	}

	// A TLS client that trusts the mesh CA but brings no certificate, and
	// one with a certificate from another CA. TLS 1.3 reports a refused
	// client certificate after the handshake, on the first read.
	otherDir := t.TempDir()
	otherOut, _, err := WriteMesh(otherDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherOut.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	foreign.RootCAs = good.RootCAs // it trusts our inbound; we must not trust it
	noCert := good.Clone()
	noCert.Certificates = nil
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	for name, tc := range map[string]*tls.Config{"no certificate": noCert, "foreign CA": foreign, "TLS 1.2": tls12} {
		if err := h2Request(inAddrs.Listen, tc); err == nil {
			t.Errorf("%s: request accepted", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
	// And the control: the mesh's own client certificate gets through.
	if err := h2Request(inAddrs.Listen, good); err != nil {
		t.Errorf("mesh client: %v", err)
	}
}

func scrapeText(t testing.TB, admin string) string {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// h2Request sends one HTTP/2 request over TLS with tc and fails unless it
// gets a 200.
func h2Request(addr string, tc *tls.Config) error {
	tr := &http.Transport{TLSClientConfig: tc, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		return errors.New(resp.Proto + " " + resp.Status)
	}
	return nil
}

func TestWriteMeshFiles(t *testing.T) {
	dir := t.TempDir()
	out, in, err := WriteMesh(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out.CA != in.CA || filepath.Dir(out.Cert) != dir || out.Cert == in.Cert {
		t.Errorf("files: %+v %+v", out, in)
	}
	if _, err := in.ServerTLS(); err != nil {
		t.Error(err)
	}
	bad := in
	bad.CA = out.Cert + ".missing"
	if _, err := bad.ServerTLS(); err == nil {
		t.Error("missing CA file accepted")
	}
}
