package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/scenario"
)

type serveOptions struct {
	scenarioFile string
	listen       string
	tokenFile    string
	pathPorts    []string
	idle         time.Duration
	barrier      time.Duration
	once         bool
}

func newServeCmd(w *World) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [SCENARIO.yaml] --listen IP:PORT --token-file FILE",
		Short: "Run the backend and paths for a load generator on another host",
		Long: `serve is the server side of a two-host run. It answers a control API over TLS
on --listen; a 'meshbench run --remote' on another machine asks it to start the
backend replicas and the paths its scenario measures, on this host's address
(--listen's IP, never another interface unless --listen is a wildcard), opens
and closes each measured window, and gets this host's figures and the proxies'
usage back. When the run ends, everything it started stops; serve then waits
for the next run, until interrupted, idle for --idle-timeout, or (--once) at
once.

At start serve makes a new certificate and writes FILE (mode 0600): a token
(kept from an existing FILE) and the certificate's SHA-256. Copy FILE to the
load host: run sends the token and accepts only that certificate. Requests
without the token are refused before anything starts.

With a SCENARIO, serve offers only its paths, as it defines them (exec paths
only this way); without one, the built-in kinds with the client's settings.`,
		Example: `  meshbench serve --listen 10.0.0.5:7400 --token-file mb.token
  meshbench serve --listen 0.0.0.0:7400 --token-file /run/mb/token --path-ports direct=7410,haproxy=7402,nginx=7403,linkerd=7404
  meshbench serve scenarios/exec.yaml --listen 10.0.0.5:7400 --token-file mb.token --once`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.scenarioFile = args[0]
			}
			return runServe(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "IP:PORT of the control API; the backend and paths listen on the same IP (required)")
	f.StringVar(&o.tokenFile, "token-file", "", "where to write the token and the certificate's fingerprint, mode 0600 (required)")
	f.StringSliceVar(&o.pathPorts, "path-ports", nil, "fixed ports as NAME=PORT, comma separated; direct=PORT puts replica i on PORT+i (default: ports the kernel picks)")
	f.DurationVar(&o.idle, "idle-timeout", 15*time.Minute, "stop after this long without a request from a client (0: never)")
	f.DurationVar(&o.barrier, "barrier-timeout", remote.DefaultBarrierTimeout, "how long a window waits for the load agents that have not reached it")
	f.BoolVar(&o.once, "once", false, "stop when the first run ends")
	return cmd
}

func runServe(ctx context.Context, w *World, o serveOptions) error {
	if o.listen == "" || o.tokenFile == "" {
		return errext.BadInputf("serve needs --listen IP:PORT and --token-file FILE")
	}
	if o.idle < 0 || o.barrier < 0 {
		return errext.BadInputf("--idle-timeout and --barrier-timeout must not be negative")
	}
	ports, err := parsePathPorts(o.pathPorts)
	if err != nil {
		return err
	}
	var sc *scenario.Scenario
	if o.scenarioFile != "" {
		if sc, err = scenario.Load(o.scenarioFile); err != nil {
			return errext.AsBadInput(err)
		}
		if err := sc.Validate(); err != nil {
			return err
		}
	}
	srv, err := remote.New(ctx, remote.Config{
		Listen: o.listen, TokenFile: o.tokenFile, Scenario: sc, Ports: ports,
		IdleTimeout: o.idle, BarrierTimeout: o.barrier, Once: o.once,
		Self: w.Self, Roots: hoststats.Roots{Proc: w.ProcRoot, Sys: w.SysRoot}, Log: w.Stderr,
	})
	if err != nil {
		return err
	}
	// Stopping on a signal, when idle or after --once is how serve is meant
	// to end: not an error.
	return srv.Serve(ctx)
}

// parsePathPorts reads NAME=PORT pairs: valid path names, ports 1 to
// 65535, no port twice.
func parsePathPorts(pairs []string) (map[string]int, error) {
	out := map[string]int{}
	used := map[int]string{}
	for _, kv := range pairs {
		name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		port, err := strconv.Atoi(v)
		switch {
		case !ok || !scenario.ValidName(name):
			return nil, errext.BadInputf("--path-ports %q: want NAME=PORT, e.g. haproxy=7402", kv)
		case err != nil || port < 1 || port > 65535:
			return nil, errext.BadInputf("--path-ports %q: the port must be 1 to 65535", kv)
		case used[port] != "":
			return nil, errext.BadInputf("--path-ports: port %d given to both %s and %s", port, used[port], name)
		}
		if _, dup := out[name]; dup {
			return nil, errext.BadInputf("--path-ports: %s given twice", name)
		}
		out[name], used[port] = port, name
	}
	return out, nil
}
