package paths_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/internal/sidecar"
)

// TestHAProxyMesh: the haproxy-mtls path carries requests through an
// outbound haproxy and one inbound haproxy per replica to both replicas;
// its usage counts all three processes and the requests that crossed the
// TLS hop; an inbound haproxy speaks TLS 1.3 and HTTP/2 to a peer with a
// mesh certificate and to nobody else; keys and configs are private; and
// Stop leaves no process.
func TestHAProxyMesh(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	env := testEnv(t, ups)
	inst := start(t, scenario.PathSpec{Name: "hm", Kind: "haproxy-mtls", Settings: map[string]string{"check_inter": "500ms"}}, env)
	getN(t, oneLocalTarget(t, inst), 40)
	everyReplicaServed(t, srvs)
	u := loadUntilCPU(t, inst)
	t.Logf("haproxy-mtls: %+v", u)
	if u.Processes != 3 || u.CPUSeconds <= 0 || !strings.HasPrefix(u.Version, "haproxy 2.") {
		t.Errorf("usage %+v: want three processes, CPU time and a version", u)
	}
	if u.MaxProcessRSSBytes <= 0 || u.MaxRSSBytes < 3*u.MaxProcessRSSBytes/2 {
		t.Errorf("peak RSS %d summed, %d largest: want the sum of three processes", u.MaxRSSBytes, u.MaxProcessRSSBytes)
	}
	if u.Counters["requests"] < 40 || u.Counters["servers_up"] != 2 || u.Counters["mesh_requests_tls"] < 40 {
		t.Errorf("counters %v: want ≥ 40 requests, through the TLS hop, and 2 inbound haproxies up", u.Counters)
	}
	if inst.Settings()["balance"] != "roundrobin" {
		t.Errorf("settings %v: want the outbound haproxy's defaults", inst.Settings())
	}

	dir := filepath.Join(env.TempDir, "haproxy-mtls-hm")
	checkPrivate(t, dir, "haproxy.cfg", "inbound-0.cfg", "inbound-1.cfg", "outbound-haproxy.pem", "inbound-haproxy.pem", "outbound-key.pem")
	cfg, _ := os.ReadFile(filepath.Join(dir, "haproxy.cfg"))
	hops := regexp.MustCompile(`server s\d (127\.0\.0\.1:\d+) ssl `).FindAllStringSubmatch(string(cfg), -1)
	if len(hops) != 2 || !strings.Contains(string(cfg), "verify required") || !strings.Contains(string(cfg), "alpn h2") {
		t.Fatalf("outbound config: want two TLS servers with verify required and alpn h2:\n%s", cfg)
	}
	peer := meshClientTLS(t, dir)
	for _, h := range hops {
		addr := h[1]
		c, err := tls.Dial("tcp", addr, peer)
		if err != nil {
			t.Fatalf("inbound %s with the mesh certificate: %v", addr, err)
		}
		st := c.ConnectionState()
		c.Close()
		if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
			t.Errorf("inbound %s: TLS %x, ALPN %q; want TLS 1.3 and h2", addr, st.Version, st.NegotiatedProtocol)
		}
		// No client certificate: TLS 1.3 lets the handshake finish on the
		// client's side; the inbound haproxy's alert comes with the first read.
		anon := peer.Clone()
		anon.Certificates = nil
		if err := roundTripHTTP1(addr, anon); err == nil {
			t.Errorf("inbound %s answered a peer without a client certificate", addr)
		}
		old := peer.Clone()
		old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		if c, err := tls.Dial("tcp", addr, old); err == nil {
			c.Close()
			t.Errorf("inbound %s accepted TLS 1.2", addr)
		}
		if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("inbound %s answered plain HTTP with 200", addr)
			}
		}
	}

	pids := pidsOf(t, inst)
	if len(pids) != 3 {
		t.Errorf("pids %v: want three haproxy processes", pids)
	}
	stopsClean(t, inst, pids)
}

// TestHAProxyMeshHTTPChecks: with health_check http the outbound haproxy's
// checks speak HTTP/1.1 over the TLS hop (check-alpn) and pass, so the
// path starts and every inbound haproxy is up. A check crosses the inbound
// haproxy to its replica, so when a replica dies its inbound haproxy
// (alive, answering 503) is marked down and requests go to the other.
func TestHAProxyMeshHTTPChecks(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	env := testEnv(t, ups)
	inst := start(t, scenario.PathSpec{Name: "hm", Kind: "haproxy-mtls", Settings: map[string]string{
		"health_check": "http", "check_inter": "100ms", "fall": "2",
	}}, env)
	getN(t, inst.Targets()[0], 10)
	u, err := inst.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Counters["servers_up"] != 2 || u.Counters["check_failures"] != 0 {
		t.Errorf("counters %v: want both inbound haproxies up and no failed check", u.Counters)
	}
	srvs[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for u.Counters["servers_up"] != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if u, err = inst.Usage(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if u.Counters["servers_up"] != 1 || u.Counters["check_failures"] == 0 {
		t.Fatalf("counters %v: want the dead replica's inbound haproxy down after failed checks", u.Counters)
	}
	getN(t, inst.Targets()[0], 10) // every one a 200: none sent to the dead replica's side
}

// TestHAProxyMeshDeadReplica: an inbound haproxy does not retry. When its
// replica is gone it answers 503 at once, as linkerd2-proxy's inbound side
// does, instead of holding the request through retries a second apart
// (haproxy's turn-around timer with one server), which took 3 s with the
// outbound's retries 3.
func TestHAProxyMeshDeadReplica(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	srvs, ups := replicas(t, 1)
	inst := start(t, scenario.PathSpec{Name: "hm", Kind: "haproxy-mtls", Settings: map[string]string{"retries": "3"}}, testEnv(t, ups))
	getN(t, inst.Targets()[0], 3)
	srvs[0].Close()
	// Well under the 3 s that three retries a second apart would take.
	c := &http.Client{Timeout: 1500 * time.Millisecond}
	resp, err := c.Get(inst.Targets()[0] + "/")
	if err != nil {
		t.Fatalf("request to a dead replica's inbound haproxy: %v; want a 503 at once", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %s, want 503", resp.Status)
	}
}

// TestHAProxyMeshRefusesBadSettings: the outbound haproxy's settings are
// checked like the haproxy path's, before anything starts.
func TestHAProxyMeshRefusesBadSettings(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1"})
	refused(t, scenario.PathSpec{Name: "hm", Kind: "haproxy-mtls", Settings: map[string]string{"balance": "roundrobin\n    server evil 10.0.0.1:80"}}, env, "balance")
	refused(t, scenario.PathSpec{Name: "hm", Kind: "haproxy-mtls", Settings: map[string]string{"ssl": "off"}}, env, `unknown haproxy setting "ssl"`)
}

// meshClientTLS is the outbound side's client config (sidecar.TLSFiles's,
// from the files WriteMesh left in the path's directory), offering
// HTTP/1.1 too so that a test can speak it.
func meshClientTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	cfg, err := sidecar.TLSFiles{
		Cert: filepath.Join(dir, "outbound.pem"), Key: filepath.Join(dir, "outbound-key.pem"), CA: filepath.Join(dir, "mesh-ca.pem"),
	}.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg
}

// roundTripHTTP1 sends one HTTP/1.1 GET over TLS to addr and reads the
// start of the answer.
func roundTripHTTP1(addr string, cfg *tls.Config) error {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	b := make([]byte, 12)
	_, err = io.ReadFull(c, b)
	return err
}
