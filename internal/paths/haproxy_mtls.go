package paths

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/internal/sidecar"
)

// The haproxy-mtls path is the linkerd-mtls topology built from the real
// haproxy binary: the reference the two-hop mesh is judged against.
//
//	haproxy-mtls  client → outbound haproxy → mTLS 1.3, HTTP/2 → one inbound
//	              haproxy per replica → replica
//
// A request crosses two proxy processes, as in the mesh, so a host where
// waking a process is slow charges both paths the same. What is left
// between the two rows is the sidecar's own cost. The certificates are the
// mesh's (sidecar.WriteMesh): an ephemeral CA, one leaf for the outbound
// side and one for the inbound side, each checked by the other end.
//
// The scenario's settings configure the outbound haproxy, which balances,
// retries and health-checks the inbound ones (over TLS, so a check is a
// mutual handshake). An inbound haproxy only forwards to its replica,
// with the same timeouts and thread count and no retries, as
// linkerd2-proxy's inbound side does by default: a dead replica's requests
// get a 503 from it at once. A tcp check (the default) only finds the
// inbound haproxy listening; health_check http sends GET / through it to
// the replica, so a dead replica takes its inbound haproxy out of the
// balancing, and retry_on conn-failure,503 retries its 503s on another.
func init() {
	register("haproxy-mtls", Kind{Check: checkHAProxy, Start: startHAProxyMesh})
}

// haproxyMesh is a started haproxy-mtls path.
type haproxyMesh struct {
	// procs are the outbound haproxy first, then the inbound ones.
	procs    []*haproxy
	stopOnce sync.Once
	stopErr  error
}

// meshBindOpts (the inbound side's bind line) and meshServerOpts (the
// outbound side's server lines) are the TLS options of the hop: TLS 1.3
// only, a certificate from the mesh CA required on both sides, and HTTP/2
// (linkerd's protocol between proxies). The inbound side also takes
// HTTP/1.1, which haproxy's HTTP health checks speak (check-alpn); the
// sidecars take only h2.
func meshBindOpts(crt, ca string) string {
	return fmt.Sprintf("ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.3 alpn h2,http/1.1", crt, ca)
}

func meshServerOpts(crt, ca, name string) string {
	return fmt.Sprintf("ssl crt %s ca-file %s verify required verifyhost %s sni str(%s) ssl-min-ver TLSv1.3 alpn h2 check-alpn http/1.1", crt, ca, name, name)
}

func startHAProxyMesh(ctx context.Context, spec scenario.PathSpec, env Env) (_ Instance, err error) {
	b, err := prepareBinary(spec, env, haproxySettings, "haproxy", haproxyHint)
	if err != nil {
		return nil, err
	}
	out, in, err := sidecar.WriteMesh(b.dir, time.Now())
	if err != nil {
		return nil, fmt.Errorf("mesh certificates: %w", err)
	}
	outPEM, err := haproxyPEM(out, filepath.Join(b.dir, "outbound-haproxy.pem"))
	if err != nil {
		return nil, err
	}
	inPEM, err := haproxyPEM(in, filepath.Join(b.dir, "inbound-haproxy.pem"))
	if err != nil {
		return nil, err
	}
	for _, f := range []string{out.CA, in.CA, outPEM, inPEM} {
		if !plainPathRE.MatchString(f) {
			return nil, fmt.Errorf("certificate path %q holds characters a haproxy config cannot take unquoted", f)
		}
	}
	m := &haproxyMesh{}
	defer func() {
		if err != nil {
			m.Stop()
		}
	}()
	version := binaryVersion(ctx, env, b.bin, haproxyVersionRE, "-v")
	// Only the outbound haproxy faces the load; the inbound ones stay on
	// loopback on ports of their own, whatever env.Host and env.Port say.
	inEnv := env
	inEnv.Host, inEnv.Port = "", 0
	inbound := inboundHAProxy(b)
	var hops []string
	for i, u := range env.Upstreams {
		h, err := startHAProxyProcess(ctx, spec, inbound, version, haproxyProcess{
			file: fmt.Sprintf("inbound-%d", i), env: inEnv, upstreams: []string{u},
			bindOpts: meshBindOpts(inPEM, in.CA),
		})
		if err != nil {
			return nil, fmt.Errorf("inbound haproxy %d: %w", i, err)
		}
		m.procs = append(m.procs, h)
		hops = append(hops, h.addr)
	}
	o, err := startHAProxyProcess(ctx, spec, b, version, haproxyProcess{
		file: "haproxy", env: env, upstreams: hops, checks: true,
		serverOpts: meshServerOpts(outPEM, out.CA, out.ServerName),
	})
	if err != nil {
		return nil, fmt.Errorf("outbound haproxy: %w", err)
	}
	m.procs = append([]*haproxy{o}, m.procs...)
	return m, nil
}

// inboundHAProxy is b with the settings of an inbound haproxy: the
// outbound's timeouts and threads, but no retries. With one server and
// nothing to redispatch to, haproxy would wait a second before each retry
// of a refused connection (its turn-around timer), so a dead replica
// would hold each request for retries × 1 s; linkerd2-proxy's inbound
// side answers at once instead, and so does this one, with a 503.
func inboundHAProxy(b binaryPath) binaryPath {
	in := b
	in.settings = maps.Clone(b.settings)
	in.settings["retries"], in.settings["redispatch"], in.settings["retry_on"] = "0", "off", "conn-failure"
	return in
}

// haproxyPEM writes f's certificate and key into one 0600 file, the form
// haproxy's crt option takes, and returns its path.
func haproxyPEM(f sidecar.TLSFiles, path string) (string, error) {
	cert, err := os.ReadFile(f.Cert)
	if err != nil {
		return "", err
	}
	key, err := os.ReadFile(f.Key)
	if err != nil {
		return "", err
	}
	return path, writePrivate(path, append(cert, key...))
}

func (m *haproxyMesh) Targets() []string { return m.procs[0].Targets() }

// Settings are the outbound haproxy's; the inbound ones share its
// timeouts and threads but forward to one server, unchecked, without
// retries.
func (m *haproxyMesh) Settings() map[string]string { return maps.Clone(m.procs[0].settings) }

// Usage sums the processes' CPU time and peak RSS, keeps the largest
// single peak, and takes the counters of the outbound haproxy's stats
// (what the haproxy path reports) plus mesh_requests_tls: the requests the
// inbound ones forwarded, all of which came over the mutual-TLS hop.
func (m *haproxyMesh) Usage(ctx context.Context) (*results.Proxy, error) {
	var u *results.Proxy
	for i, h := range m.procs {
		hu, err := h.Usage(ctx)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			u = hu
			continue
		}
		u.Processes++
		u.CPUSeconds += hu.CPUSeconds
		u.MaxRSSBytes += hu.MaxRSSBytes
		u.MaxProcessRSSBytes = max(u.MaxProcessRSSBytes, hu.MaxProcessRSSBytes)
		u.Counters["mesh_requests_tls"] += hu.Counters["requests"]
	}
	return u, nil
}

// Stop stops the outbound haproxy first, so that no request is sent to an
// inbound one that is already gone, then the inbound ones.
func (m *haproxyMesh) Stop() error {
	m.stopOnce.Do(func() {
		for _, h := range m.procs {
			if err := h.Stop(); err != nil && m.stopErr == nil {
				m.stopErr = err
			}
		}
	})
	return m.stopErr
}

// Pids lists the live processes of every haproxy of the path.
func (m *haproxyMesh) Pids() []int {
	var out []int
	for _, h := range m.procs {
		out = append(out, h.Pids()...)
	}
	return out
}
