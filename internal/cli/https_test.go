package cli

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

// TestRunHTTPSTarget measures an https endpoint with a self-signed
// certificate: trusted through SSL_CERT_FILE it measures with no errors;
// untrusted it is refused before any load, unless --insecure says so.
func TestRunHTTPSTarget(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--target", srv.URL + "/", "--rate", "200", "--duration", "1s", "--warmup", "200ms", "--no-host-stats"}

	// The system trust store is read once per process: the trusted case
	// runs in a process of its own, with SSL_CERT_FILE set.
	out := t.TempDir()
	cmd := exec.Command(testBinary(t), append(args, "--out", out)...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+certFile)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("trusted https target: %v\n%s", err, b)
	}
	f := onlyResult(t, out)
	for _, p := range f.Paths {
		if p.Errors != 0 || p.Requests < 190 {
			t.Errorf("%s: %d requests, %d errors %v", p.Name, p.Requests, p.Errors, p.ErrorsByClass)
		}
	}

	_, stderr, code := runCLI(t, context.Background(), append(args, "--out", t.TempDir())...)
	if code != 2 || !strings.Contains(stderr, "certificate") {
		t.Errorf("untrusted: exit %d, %q; want exit 2 naming the certificate", code, stderr)
	}
	insecureOut := t.TempDir()
	_, stderr, code = runCLI(t, context.Background(), append(args, "--insecure", "--out", insecureOut)...)
	if code != 0 {
		t.Fatalf("--insecure: exit %d: %s", code, stderr)
	}
	g, err := results.Read(resultFiles(t, insecureOut)[0])
	if err != nil {
		t.Fatal(err)
	}
	var sc struct{ Insecure bool }
	if err := json.Unmarshal(g.Scenario, &sc); err != nil || g.Paths[0].Errors != 0 || !sc.Insecure {
		t.Errorf("--insecure: errors %d, scenario %s", g.Paths[0].Errors, g.Scenario)
	}
	_, stderr, code = runCLI(t, context.Background(), "run", "--insecure", "--out", t.TempDir())
	if code != 2 {
		t.Errorf("--insecure without an https target: exit %d, %q", code, stderr)
	}
}
