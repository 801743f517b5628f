package load

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tlsServer is an https server on 127.0.0.1 answering every request with
// body; it counts the connections it accepted.
func tlsServer(t testing.TB, body []byte, setup func(*http.Server)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			http.Error(w, "want HTTP/1.1 over TLS", http.StatusBadRequest)
			return
		}
		w.Write(body)
	}))
	srv.EnableHTTP2 = true                           // offered; the engine must still get HTTP/1.1
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if setup != nil {
		setup(srv.Config)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func certPool(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// TestTLS measures an https server: with its certificate trusted, and with
// verification skipped, every request succeeds over a few kept-alive
// connections, and responses of many TLS records are read whole.
func TestTLS(t *testing.T) {
	body := []byte(strings.Repeat("x", 100<<10)) // about seven TLS records
	srv, conns := tlsServer(t, body, nil)
	rate := 400.0
	if raceEnabled {
		rate = 100 // decrypting under the race detector is slow
	}
	for name, cfg := range map[string]Config{
		"trusted":  {RootCAs: certPool(srv)},
		"insecure": {InsecureSkipVerify: true},
	} {
		t.Run(name, func(t *testing.T) {
			conns.Store(0)
			cfg.Targets = []string{srv.URL}
			cfg.Rate = Rate{RPS: rate}
			cfg.Warmup, cfg.Duration = 200*time.Millisecond, time.Second
			cfg.Connections = 8
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d requests, errors %v, p50 %s, %d connections", res.Requests, res.ErrorsByClass,
				time.Duration(res.Response.ValueAtQuantile(50)), conns.Load())
			if res.Errors != 0 || res.Requests != int64(rate) || res.Unsent != 0 {
				t.Errorf("requests %d (want %g), errors %d %v, unsent %d", res.Requests, rate, res.Errors, res.ErrorsByClass, res.Unsent)
			}
			if n := conns.Load(); n < 1 || n > 8 {
				t.Errorf("%d connections, want at most the 8 allowed (kept alive)", n)
			}
		})
	}
}

// TestTLSUntrusted: a certificate nobody vouches for fails the handshake,
// which counts as a connect error.
func TestTLSUntrusted(t *testing.T) {
	srv, _ := tlsServer(t, []byte("ok"), nil)
	res, err := Run(context.Background(), Config{
		Targets: []string{srv.URL}, Rate: Rate{RPS: 50}, Duration: 200 * time.Millisecond,
		RootCAs: x509.NewCertPool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.ErrorsByClass[ClassConnect] != 10 {
		t.Errorf("requests %d, errors %v; want 10 connect errors", res.Requests, res.ErrorsByClass)
	}
}

// TestTLSServerCloses: a server that closes connections after each
// response, or once they sit idle, makes the engine reconnect, without
// errors.
func TestTLSServerCloses(t *testing.T) {
	for _, c := range []struct {
		name  string
		set   func(*http.Server)
		conns int64 // at least
	}{
		{"no keep-alive", func(s *http.Server) { s.SetKeepAlivesEnabled(false) }, 25},
		// How many idle closes land between requests depends on the host's
		// timers; a busy host still makes several.
		{"idle timeout", func(s *http.Server) { s.IdleTimeout = 5 * time.Millisecond }, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, conns := tlsServer(t, []byte("ok"), c.set)
			// 50/s: 20 ms between requests, four times the idle timeout.
			res, err := Run(context.Background(), Config{
				Targets: []string{srv.URL}, Rate: Rate{RPS: 50}, Duration: 500 * time.Millisecond,
				RootCAs: certPool(srv),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Requests != 25 || conns.Load() < c.conns {
				t.Errorf("requests %d errors %v over %d connections; want 25, none, at least %d connections",
					res.Requests, res.ErrorsByClass, conns.Load(), c.conns)
			}
		})
	}
}

// trustStoreEnv names the URL the child of TestTLSTrustStore measures.
const trustStoreEnv = "MESHBENCH_LOAD_TEST_TLS_URL"

// TestTLSTrustStore: with no RootCAs the engine trusts the host's store,
// and on Linux a certificate named by SSL_CERT_FILE is in it. The store is
// read once per process, so a child test process gets the variable.
func TestTLSTrustStore(t *testing.T) {
	if u := os.Getenv(trustStoreEnv); u != "" {
		trustStoreChild(t, u)
		return
	}
	srv, _ := tlsServer(t, []byte("ok"), nil)
	pemFile := filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(pemFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		certFile string
		wantOK   bool
	}{{pemFile, true}, {os.DevNull, false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTLSTrustStore$", "-test.v")
		cmd.Env = append(os.Environ(), trustStoreEnv+"="+srv.URL, "SSL_CERT_FILE="+c.certFile, "SSL_CERT_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.wantOK {
			t.Errorf("SSL_CERT_FILE=%s: child %v, want success %v:\n%s", c.certFile, err, c.wantOK, out)
		}
	}
}

func trustStoreChild(t *testing.T, url string) {
	res, err := Run(context.Background(), Config{
		Targets: []string{url}, Rate: Rate{RPS: 100}, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests != 30 {
		t.Fatalf("requests %d, errors %v; want 30 and none", res.Requests, res.ErrorsByClass)
	}
}
