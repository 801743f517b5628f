// Package paths starts what stands between the load generator and the
// backend replicas: nothing (direct), the real haproxy and nginx binaries,
// meshbench's own sidecar, or any proxy binary from a template (exec).
//
// Each kind lives in its own file and registers itself with register. A kind
// first Checks a spec (settings, binary installed) without starting anything,
// so that a run fails before it measured anything; Start then brings the path
// up and returns only once it answers.
package paths

import (
	"context"
	"errors"
	"fmt"
	"github.com/meshbench/meshbench/internal/backend"
	"io"
	"net"
	"sort"
	"strconv"

	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// Env is what every path is given to start.
type Env struct {
	// Upstreams are the backend replicas as IP:port (on 127.0.0.1 unless
	// the run serves another host).
	Upstreams []string
	// Backend is what the replicas answer, for a path that runs replicas
	// of its own (a direct path with added_delay).
	Backend backend.Config
	// Connections is the most connections the load generator opens to a
	// path; a proxy's own limits must not be lower.
	Connections int
	// Target, when set, is the one existing endpoint (--target) measured as direct.
	Target string
	// TempDir is the run's 0700 directory for configs and keys; the caller
	// removes it at exit.
	TempDir string
	// Self is the meshbench executable, for paths that run meshbench's own
	// sidecar as a child process.
	Self string
	// Log receives one-line notes from path kinds (may be io.Discard).
	Log io.Writer
	// Procs is the run's process group: every process a path starts is
	// started in it, so the run can stop exactly what it started. Start
	// refuses a kind that runs processes when it is nil.
	Procs *proc.Group
	// Ports picks the port a proxy binary is told to listen on when Port
	// is 0; nil asks the kernel for a free one. Tests set it to make ports
	// collide.
	Ports func() (int, error)
	// Host is the IP address the path's proxy listens on, for load from
	// another machine (meshbench serve); "" is 127.0.0.1.
	Host string
	// Port is the port the path's proxy listens on; 0 lets the kernel pick
	// a free one. A fixed port that is taken is an error, not retried.
	Port int
	// Profile, when set, is the directory each sidecar the path starts
	// writes its runtime profiles to (the sidecar's --profile).
	Profile string
}

// procs is env's process group, or an error saying it is missing.
func (env Env) procs() (*proc.Group, error) {
	if env.Procs == nil {
		return nil, errors.New("no process group to start the path's processes in (paths.Env.Procs is nil)")
	}
	return env.Procs, nil
}

// listenHost is where the path listens.
func (env Env) listenHost() string {
	if env.Host == "" {
		return "127.0.0.1"
	}
	return env.Host
}

// hostPort is the address a proxy listens on at port.
func (env Env) hostPort(port int) string {
	return net.JoinHostPort(env.listenHost(), strconv.Itoa(port))
}

// dialAddr is the address this host reaches a proxy at port by: the listen
// address, or loopback when the proxy listens on every interface.
func (env Env) dialAddr(port int) string {
	h := env.listenHost()
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
		if ip.To4() == nil {
			h = "::1"
		}
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}

// pickPortFor is the port a proxy of env listens on: env.Port when fixed,
// else env.Ports's pick, else one the kernel picks on the listen address.
func (env Env) pickPortFor() (int, error) {
	switch {
	case env.Port != 0:
		return env.Port, nil
	case env.Ports != nil:
		return env.Ports()
	}
	return freePortOn(env.listenHost())
}

// Instance is a started path.
type Instance interface {
	// Targets are the base URLs ("http://127.0.0.1:port") the load generator
	// spreads its requests over, round robin.
	Targets() []string
	// Usage is the path's proxy processes' cumulative CPU seconds and peak
	// RSS so far, with any counters the kind exposes; nil for direct.
	Usage(ctx context.Context) (*results.Proxy, error)
	// Settings are the path's effective proxy settings, defaults included,
	// by the keys a scenario uses (the timeouts, retries and health checks
	// that decide how it copes with a fault among them), for the run to
	// record; nil for kinds that take none (direct, exec).
	Settings() map[string]string
	// Stop stops every process the path started and waits for them. It is
	// safe to call more than once.
	Stop() error
}

// Kind is one path kind.
type Kind struct {
	// Check validates spec's settings and looks up the binary it needs. It
	// starts nothing. A missing binary is a runtime error naming the package.
	Check func(spec scenario.PathSpec, env Env) error
	// Start starts the path and returns once it answers requests.
	Start func(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error)
}

var kinds = map[string]Kind{}

// register is called from each kind's file, in init.
func register(name string, k Kind) { kinds[name] = k }

// Known lists the registered kinds.
func Known() []string {
	var out []string
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookup(kind string) (Kind, error) {
	k, ok := kinds[kind]
	if !ok {
		return Kind{}, fmt.Errorf("path kind %q is not available in this build", kind)
	}
	return k, nil
}

// Check validates spec for its kind without starting anything.
func Check(spec scenario.PathSpec, env Env) error {
	k, err := lookup(spec.Kind)
	if err != nil {
		return err
	}
	if k.Check == nil {
		return nil
	}
	return k.Check(spec, env)
}

// Start starts the path spec describes.
func Start(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error) {
	k, err := lookup(spec.Kind)
	if err != nil {
		return nil, err
	}
	inst, err := k.Start(ctx, spec, env)
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", spec.Name, err)
	}
	return inst, nil
}

// gauges are Usage counters that are levels (servers up, open connections)
// rather than running totals: a run keeps their value at the end of the
// measured window instead of the difference over it.
var gauges = map[string]bool{}

// registerGauges is called from a kind's file, in init, for each counter
// name its Usage reports as a level.
func registerGauges(names ...string) {
	for _, n := range names {
		gauges[n] = true
	}
}

// IsGauge reports whether a Usage counter is a level rather than a total.
func IsGauge(name string) bool { return gauges[name] }
