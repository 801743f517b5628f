package runner

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/scenario"
)

// Listen says where a local site's backend replicas and paths listen when
// the site serves load from another machine (meshbench serve). The zero
// value is a site for this host alone: 127.0.0.1 and kernel-chosen ports.
type Listen struct {
	// Host is the IP address the replicas and the paths' proxies listen on
	// ("" is 127.0.0.1). Proxies reach the replicas at this address, or on
	// loopback when it is a wildcard.
	Host string
	// BackendPort, when not 0, is the first replica's port: replica i
	// listens on BackendPort+i. 0 lets the kernel pick.
	BackendPort int
	// Ports fixes the listen port of the named paths' proxies; paths not
	// named get a kernel-chosen port.
	Ports map[string]int
}

// NewLocalSite is a site on this host whose backend and paths listen where
// at says: what `meshbench serve` drives for a remote client. The paths'
// processes are started in procs, and tmp is the 0700 directory for their
// configs and keys; the caller owns both. The caller stops the paths it
// started; Close stops the replicas.
func NewLocalSite(sc *scenario.Scenario, env Env, procs *proc.Group, tmp string, at Listen) Site {
	s := newLocalSite(sc, env, procs, tmp)
	s.at = at
	return s
}

// Syncer is a Site whose windows start together with other load agents'
// (run --share): Run calls SyncWindow before each window's load starts and
// delays that window's schedule by the phase it returns.
type Syncer interface {
	SyncWindow(ctx context.Context, w Window) (phase time.Duration, err error)
}

// startReplicas starts n replicas where at says.
func startReplicas(ctx context.Context, n int, cfg backend.Config, at Listen) ([]*backend.Server, error) {
	if at.Host == "" && at.BackendPort == 0 {
		return backend.StartReplicas(ctx, n, cfg)
	}
	host := at.Host
	if host == "" {
		host = "127.0.0.1"
	}
	var out []*backend.Server
	for i := range n {
		c := cfg
		c.Seed = cfg.Seed + int64(i)
		port := 0
		if at.BackendPort != 0 {
			port = at.BackendPort + i
		}
		s, err := backend.Start(ctx, net.JoinHostPort(host, strconv.Itoa(port)), c)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// upstream is the address a proxy on this host reaches a replica listening
// on addr by: addr itself, or loopback for a wildcard address.
func upstream(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return net.JoinHostPort("127.0.0.1", p)
		}
		return net.JoinHostPort("::1", p)
	}
	return addr
}
