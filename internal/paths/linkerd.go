package paths

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/internal/sidecar"
)

// The linkerd paths run meshbench's own sidecar (package sidecar) as child
// processes of the meshbench executable, so that their CPU time and memory
// are measured like any other proxy's:
//
//	linkerd       client → outbound sidecar → replicas
//	linkerd-mtls  client → outbound sidecar → mTLS 1.3, HTTP/2 → one inbound
//	              sidecar per replica → replica
//
// The scenario's settings configure the outbound sidecar, which does the
// balancing, ejecting and retrying; the inbound sidecars keep linkerd2-proxy's
// inbound defaults (forward only).
func init() {
	register("linkerd", Kind{Check: checkLinkerd, Start: func(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error) {
		return startLinkerd(ctx, spec, env, false)
	}})
	register("linkerd-mtls", Kind{Check: checkLinkerd, Start: func(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error) {
		return startLinkerd(ctx, spec, env, true)
	}})
}

// sidecarStartTimeout bounds how long a sidecar may take to listen.
const sidecarStartTimeout = 10 * time.Second

// sidecarStopGrace is how long a sidecar may drain before it is killed.
const sidecarStopGrace = 5 * time.Second

// withLoadLimits raises the sidecar's connection and pending-request limits
// to the load generator's connections when the scenario leaves them unset,
// so that a run never measures the sidecar shedding its own benchmark.
func withLoadLimits(set map[string]string, connections int) map[string]string {
	def := sidecar.Default(sidecar.Outbound)
	out := maps.Clone(set)
	if out == nil {
		out = map[string]string{}
	}
	for name, d := range map[string]int{"max_connections": def.MaxConnections, "max_pending": def.MaxPending} {
		if _, given := set[name]; !given && connections > d {
			out[name] = strconv.Itoa(connections)
		}
	}
	return out
}

// linkerdSettings validates the path's settings against the sidecar's own
// table, so that a scenario is refused exactly when the child would refuse
// its flags.
func linkerdSettings(spec scenario.PathSpec) (sidecar.Config, error) {
	cfg := sidecar.Default(sidecar.Outbound)
	if err := cfg.Apply(spec.Settings); err != nil {
		return cfg, errext.BadInputf("path %s: %v", spec.Name, err)
	}
	return cfg, nil
}

func checkLinkerd(spec scenario.PathSpec, env Env) error {
	if _, err := linkerdSettings(spec); err != nil {
		return err
	}
	if env.Self == "" {
		return fmt.Errorf("path %s: the meshbench executable is unknown, cannot start its sidecar", spec.Name)
	}
	return nil
}

// linkerd is a started linkerd or linkerd-mtls path.
type linkerd struct {
	target  string
	version string
	// settings are the outbound sidecar's, which balances, ejects and
	// retries; the inbound ones keep their fixed defaults.
	settings map[string]string
	// sidecars are the outbound sidecar first, then any inbound ones.
	sidecars []*child
	// scrape reads the sidecars' admin ports (local and quick) with a
	// connection pool of the path's own.
	scrape   *http.Client
	stopOnce sync.Once
	stopErr  error
}

// child is one sidecar process and where it listens.
type child struct {
	p             *proc.Process
	listen, admin string
}

func startLinkerd(ctx context.Context, spec scenario.PathSpec, env Env, mesh bool) (_ Instance, err error) {
	if err := checkLinkerd(spec, env); err != nil {
		return nil, err
	}
	spec.Settings = withLoadLimits(spec.Settings, env.Connections)
	cfg, _ := linkerdSettings(spec) // checked above, and the limits raised are in range
	if len(env.Upstreams) == 0 {
		return nil, fmt.Errorf("no backend replicas to put the sidecar in front of")
	}
	// Each path gets its own directory for ready files and keys, so two
	// paths of one kind never share a file.
	dir := filepath.Join(env.TempDir, "sidecar-"+spec.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l := &linkerd{version: sidecarVersion(env), settings: cfg.Values(), scrape: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}}
	defer func() {
		if err != nil {
			l.Stop()
		}
	}()

	upstreams := env.Upstreams
	var outTLS []string
	if mesh {
		outFiles, inFiles, err := sidecar.WriteMesh(dir, time.Now())
		if err != nil {
			return nil, fmt.Errorf("mesh certificates: %w", err)
		}
		outTLS = tlsFlags(outFiles)
		upstreams = nil
		for i, u := range env.Upstreams {
			args := append([]string{"sidecar", "--mode", "inbound", "--upstream", u}, tlsFlags(inFiles)...)
			c, err := startSidecar(ctx, env, dir, fmt.Sprintf("%s-inbound-%d", spec.Name, i), "127.0.0.1:0", args)
			if err != nil {
				return nil, err
			}
			l.sidecars = append(l.sidecars, c)
			upstreams = append(upstreams, c.listen)
		}
	}
	args := []string{"sidecar", "--mode", "outbound", "--upstream", strings.Join(upstreams, ",")}
	for _, k := range slices.Sorted(maps.Keys(spec.Settings)) {
		args = append(args, "--"+sidecar.Flag(k)+"="+spec.Settings[k])
	}
	args = append(args, outTLS...)
	// Only the outbound sidecar faces the load; the inbound ones stay on
	// loopback whatever env.Host says.
	out, err := startSidecar(ctx, env, dir, spec.Name+"-outbound", env.hostPort(env.Port), args)
	if err != nil {
		return nil, err
	}
	// The outbound sidecar first: Usage and Stop read it first.
	l.sidecars = append([]*child{out}, l.sidecars...)
	_, port, err := net.SplitHostPort(out.listen)
	if err != nil {
		return nil, fmt.Errorf("sidecar %s-outbound: listen address %q: %w", spec.Name, out.listen, err)
	}
	n, _ := strconv.Atoi(port)
	l.target = "http://" + env.dialAddr(n)
	return l, nil
}

func tlsFlags(f sidecar.TLSFiles) []string {
	return []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA, "--tls-name", f.ServerName}
}

// startSidecar starts one `meshbench sidecar` listening on listen (port 0:
// the kernel picks) with its admin port on loopback, and returns once the
// admin port says it is ready.
func startSidecar(ctx context.Context, env Env, dir, name, listen string, args []string) (*child, error) {
	ready := filepath.Join(dir, name+".ready.json")
	os.Remove(ready)
	args = append(args, "--listen", listen, "--admin", "127.0.0.1:0", "--ready-file", ready)
	if env.Profile != "" {
		args = append(args, "--profile", env.Profile)
	}
	bin, args := sidecarCommand(env, args)
	procs, err := env.procs()
	if err != nil {
		return nil, err
	}
	p, err := procs.Start(ctx, proc.Spec{Name: name, Path: bin, Args: args, Dir: dir})
	if err != nil {
		return nil, err
	}
	c := &child{p: p}
	fail := func(err error) (*child, error) {
		p.Stop(time.Second)
		if out := strings.TrimSpace(p.Output()); out != "" {
			err = fmt.Errorf("%w; it said: %s", err, lastLine(out))
		}
		return nil, fmt.Errorf("sidecar %s: %w", name, err)
	}
	if c.listen, c.admin, err = waitReadyFile(ctx, ready, p); err != nil {
		return fail(err)
	}
	if err := proc.WaitHTTP(ctx, "http://"+c.admin+"/ready", sidecarStartTimeout, p); err != nil {
		return fail(err)
	}
	return c, nil
}

// leanSidecar is the binary, beside the meshbench executable, that holds
// only the sidecar (cmd/meshbench-sidecar). A sidecar started from the full
// meshbench binary also maps and initialises the CLI's other packages
// (reports, charts and their fonts): measured at 1000 req/s, 27 MB peak RSS
// instead of about 18, which is the binary's weight, not the proxy's.
const leanSidecar = "meshbench-sidecar"

// sidecarCommand is the executable and arguments that run one sidecar: the
// lean binary when it is installed beside meshbench, else `meshbench
// sidecar`, so a meshbench built alone still runs the linkerd paths.
func sidecarCommand(env Env, args []string) (string, []string) {
	lean := filepath.Join(filepath.Dir(env.Self), leanSidecar)
	if fi, err := os.Stat(lean); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return lean, args[1:]
	}
	return env.Self, args
}

// sidecarVersion says which binary the path's sidecars ran from, since it
// changes what their RSS means.
func sidecarVersion(env Env) string {
	if bin, _ := sidecarCommand(env, []string{"sidecar"}); bin != env.Self {
		return "meshbench-sidecar"
	}
	return "meshbench sidecar (full binary: its RSS includes the rest of the CLI)"
}

// waitReadyFile polls for the file the sidecar writes once it listens,
// giving up if the process exits first.
func waitReadyFile(ctx context.Context, path string, p *proc.Process) (listen, admin string, err error) {
	deadline := time.NewTimer(sidecarStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			var a struct{ Listen, Admin string }
			if err := json.Unmarshal(b, &a); err != nil || a.Listen == "" || a.Admin == "" {
				return "", "", fmt.Errorf("bad ready file %s: %q", path, b)
			}
			return a.Listen, a.Admin, nil
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-p.Done():
			return "", "", errors.New("exited before it was ready")
		case <-deadline.C:
			return "", "", fmt.Errorf("not listening after %s", sidecarStartTimeout)
		case <-tick.C:
		}
	}
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func (l *linkerd) Targets() []string { return []string{l.target} }

// Settings are every setting of the outbound sidecar, as its flags had them.
func (l *linkerd) Settings() map[string]string { return maps.Clone(l.settings) }

// Usage sums the sidecars' CPU time and peak RSS (and keeps the largest
// single sidecar's peak), and adds the counters
// that tell how the path coped: ejections, retries, retries the budget
// refused (outbound), and for the mesh the requests the inbound side got
// over HTTP/2 with TLS.
func (l *linkerd) Usage(ctx context.Context) (*results.Proxy, error) {
	u := &results.Proxy{Processes: len(l.sidecars), Counters: map[string]float64{}, Version: l.version}
	for i, c := range l.sidecars {
		cpu, rss, err := c.p.Usage()
		if err != nil {
			return nil, err
		}
		u.CPUSeconds += cpu
		u.MaxRSSBytes += rss
		u.MaxProcessRSSBytes = max(u.MaxProcessRSSBytes, rss)
		m, err := scrapeMetrics(ctx, l.scrape, c.admin)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			u.Counters["ejections"] = m["endpoint_ejections_total"]
			u.Counters["retries"] = m["retry_total"]
			u.Counters["retry_budget_exhausted"] = m["retry_budget_exhausted_total"]
			u.Counters["upstream_failures"] = m["endpoint_failures_total"]
		} else {
			u.Counters["mesh_requests_h2_tls"] += m[`request_total{proto="h2",tls="tls"}`]
			u.Counters["orig_proto_restored"] += m["orig_proto_restored_total"]
		}
	}
	return u, nil
}

func scrapeMetrics(ctx context.Context, client *http.Client, admin string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sidecar metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sidecar metrics: %s", resp.Status)
	}
	return sidecar.ParseMetrics(resp.Body)
}

// Stop stops the outbound sidecar first, so that no request is sent to an
// inbound one that is already gone, then the inbound ones.
func (l *linkerd) Stop() error {
	l.stopOnce.Do(func() {
		l.scrape.CloseIdleConnections()
		for _, c := range l.sidecars {
			if err := c.p.Stop(sidecarStopGrace); err != nil && l.stopErr == nil {
				l.stopErr = err
			}
		}
	})
	return l.stopErr
}
