// Package sidecarcmd is the sidecar's command line, kept apart from the rest
// of meshbench's commands so that a sidecar process links only the proxy: the
// lean cmd/meshbench-sidecar binary is built from it, and `meshbench sidecar`
// wraps it. Every package a binary links runs its init and maps its code, and
// the report's plotting and fonts alone cost a sidecar several MB of RSS.
package sidecarcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/profiling"
	"github.com/meshbench/meshbench/internal/sidecar"
)

type sidecarOptions struct {
	mode, listen, admin, upstreams string
	tls                            sidecar.TLSFiles
	readyFile                      string
	// profile is the directory for profiles and a trace (none if empty).
	profile string
	// settings are the sidecar settings given as flags, by setting name.
	settings map[string]string
	// Runtime tuning (see tuneRuntime).
	procs     int
	procsSet  bool // --procs was given
	gcPercent int
	memLimit  int64
}

// New is the sidecar command; it logs to stderr.
func New(stderr io.Writer) *cobra.Command {
	o := sidecarOptions{settings: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "sidecar --mode outbound|inbound --listen ADDR --upstream ADDR[,ADDR...] [--admin ADDR]",
		Short: "Run the Linkerd-style sidecar on its own",
		Long: `sidecar runs meshbench's Linkerd-style proxy in front of one or more upstreams.

An outbound sidecar sits beside a client: it balances over its upstreams
(p2c over peak-EWMA latency by default), ejects failing endpoints (success
rate 0.9 over 20 requests by default) and retries idempotent requests under
a budget (20% plus 10/s). An inbound sidecar sits beside one application and
forwards to it.

With --tls-cert, --tls-key and --tls-ca the hop between an outbound and an
inbound sidecar is mutual TLS 1.3 over HTTP/2; the application's HTTP/1.1 is
carried in the l5d-orig-proto header and restored by the inbound side.

Every setting a scenario can give a linkerd path is a flag here, with the
same name ('-' for '_'). Defaults are Linkerd's.`,
		Example: `  meshbench sidecar --listen 127.0.0.1:4140 --upstream 127.0.0.1:8081,127.0.0.1:8082 --admin 127.0.0.1:4191
  meshbench sidecar --mode inbound --listen 127.0.0.1:4143 --upstream 127.0.0.1:8080 \
      --tls-cert in.pem --tls-key in-key.pem --tls-ca ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range sidecar.Settings() {
				if f := cmd.Flags().Lookup(sidecar.Flag(name)); f != nil && f.Changed {
					o.settings[name] = f.Value.String()
				}
			}
			o.procsSet = cmd.Flags().Changed("procs")
			cfg, err := sidecarConfig(o)
			if err != nil {
				return err
			}
			return runSidecar(cmd.Context(), stderr, cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", sidecar.Outbound, "outbound (beside the client) or inbound (beside the application)")
	f.StringVar(&o.listen, "listen", "", "address to listen on (default 127.0.0.1:4140 outbound, 127.0.0.1:4143 inbound, as linkerd2-proxy)")
	f.StringVar(&o.upstreams, "upstream", "", "upstream host:port, comma separated")
	f.StringVar(&o.admin, "admin", "", "admin address for /metrics and /ready (none if empty; linkerd2-proxy uses 4191)")
	f.StringVar(&o.tls.Cert, "tls-cert", "", "this sidecar's certificate (PEM) for mutual TLS on the mesh hop")
	f.StringVar(&o.tls.Key, "tls-key", "", "its private key (PEM)")
	f.StringVar(&o.tls.CA, "tls-ca", "", "the mesh CA certificate (PEM) the peer must be signed by")
	f.StringVar(&o.tls.ServerName, "tls-name", sidecar.IdentityName, "identity the inbound sidecar's certificate must carry")
	f.StringVar(&o.readyFile, "ready-file", "", "once listening, write the actual addresses here as JSON (for port 0)")
	f.StringVar(&o.profile, "profile", "", "write a CPU profile and an execution trace of the whole run, and heap, block and mutex profiles at exit, into this directory (files sidecar-MODE-PID-*)")
	f.IntVar(&o.procs, "procs", 1, "GOMAXPROCS: OS threads running Go code at once (one, as linkerd2-proxy; without this flag a GOMAXPROCS environment variable is kept)")
	f.IntVar(&o.gcPercent, "gc-percent", 100, "GOGC for the sidecar process")
	f.Int64Var(&o.memLimit, "memory-limit", 16<<20, "soft memory limit in bytes (0: none)")
	def := sidecar.Default(sidecar.Outbound)
	for _, name := range sidecar.Settings() {
		f.String(sidecar.Flag(name), def.Get(name), sidecar.Usage(name))
	}
	return cmd
}

// sidecarConfig turns the flags into a validated configuration. Settings
// start from the mode's defaults, so that only flags actually given
// override them (an inbound sidecar does not retry unless told to).
func sidecarConfig(o sidecarOptions) (sidecar.Config, error) {
	if o.mode != sidecar.Outbound && o.mode != sidecar.Inbound {
		return sidecar.Config{}, errext.BadInputf("--mode %q: want outbound or inbound", o.mode)
	}
	cfg := sidecar.Default(o.mode)
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	cfg.Admin = o.admin
	for _, u := range strings.Split(o.upstreams, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.Upstreams = append(cfg.Upstreams, u)
		}
	}
	if o.tls.Enabled() {
		cfg.TLS = o.tls
	}
	if err := cfg.Apply(o.settings); err != nil {
		return sidecar.Config{}, errext.AsBadInput(err)
	}
	if o.procs < 1 || o.gcPercent < -1 || o.memLimit < 0 {
		return sidecar.Config{}, errext.BadInputf("--procs must be at least 1, --gc-percent at least -1 (off), --memory-limit not negative")
	}
	if err := cfg.Validate(); err != nil {
		return sidecar.Config{}, errext.BadInputf("sidecar: %v", err)
	}
	if o.readyFile != "" {
		// A directory that is not there is a wrong flag, said before
		// anything listens; a write that fails later (a full disk) is a
		// runtime failure, and stops the sidecar too.
		if fi, err := os.Stat(filepath.Dir(o.readyFile)); err != nil || !fi.IsDir() {
			return sidecar.Config{}, errext.BadInputf("--ready-file %q: %s is not a directory", o.readyFile, filepath.Dir(o.readyFile))
		}
	}
	return cfg, nil
}

func runSidecar(ctx context.Context, stderr io.Writer, cfg sidecar.Config, o sidecarOptions) (err error) {
	tuneRuntime(o)
	if o.profile != "" {
		prof, err := profiling.Start(o.profile, fmt.Sprintf("sidecar-%s-%d", cfg.Mode, os.Getpid()))
		if err != nil {
			return err
		}
		// Written once the sidecar has drained (SIGTERM or Ctrl-C);
		// a process killed outright leaves the files unfinished.
		defer func() { err = errors.Join(err, prof.Stop()) }()
	}
	ready := func(a sidecar.Addrs) error {
		// The ready file first: whoever waits for it must not be told
		// the sidecar is up when it is about to stop.
		if o.readyFile != "" {
			if err := writeReadyFile(o.readyFile, a); err != nil {
				return fmt.Errorf("cannot write the ready file: %w", err)
			}
		}
		fmt.Fprintf(stderr, "sidecar %s listening on %s, upstreams %s", cfg.Mode, a.Listen, strings.Join(cfg.Upstreams, ","))
		if a.Admin != "" {
			fmt.Fprintf(stderr, ", admin %s", a.Admin)
		}
		fmt.Fprintln(stderr)
		return nil
	}
	return sidecar.Run(ctx, cfg, stderr, ready)
}

// tuneRuntime sets the process up as a light sidecar.
//
// GOMAXPROCS defaults to 1, as Linkerd's default configuration runs each
// proxy with a single runtime worker (linkerd.io, "Configuring Proxy
// Concurrency"). Measured on a 2-core KVM guest at 1000 requests/s
// through one sidecar (3 replicas, 1 KiB, 64 connections): with the
// runtime's default of 2 the sidecar used 0.33 ms of CPU per request, with 1
// it used 0.18 ms and its p50 did not get worse. A proxy at this rate is
// bound by syscalls and thread wake-ups, not by computation; a second P
// only adds spinning and hand-offs between threads, which are expensive
// in a VM, and takes CPU from the client and backends it shares the host
// with. --procs raises it for rates one core cannot carry; without it, a
// GOMAXPROCS in the environment is kept.
//
// A proxy's live heap is small (pooled buffers, a few structures per
// connection), so GOGC=100 already keeps it small; the soft memory limit
// (16 MiB by default, under the 20 MB target and linkerd2-proxy's published
// ~18 MB) makes the GC work harder only when a burst of connections pushes
// the heap toward it, instead of letting the heap double.
func tuneRuntime(o sidecarOptions) {
	if n := gomaxprocs(o.procs, o.procsSet, os.Getenv("GOMAXPROCS")); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	debug.SetGCPercent(o.gcPercent)
	if o.memLimit > 0 {
		debug.SetMemoryLimit(o.memLimit)
	}
}

// gomaxprocs is the GOMAXPROCS to set, or 0 to keep the runtime's: --procs
// when given, else the GOMAXPROCS environment variable when set (the
// runtime has read it already), else the default of --procs.
func gomaxprocs(procs int, given bool, env string) int {
	if !given && env != "" {
		return 0
	}
	return procs
}

// writeReadyFile writes the addresses atomically, so that a reader never
// sees half a file.
func writeReadyFile(path string, a sidecar.Addrs) error {
	b, err := json.Marshal(map[string]string{"listen": a.Listen, "admin": a.Admin})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Main runs the sidecar command alone, as the meshbench-sidecar binary does,
// and returns its exit code: errors are one line on stderr, bad flags exit 2.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := New(stderr)
	cmd.Use = "meshbench-sidecar"
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return errext.AsBadInput(err) })
	err := cmd.ExecuteContext(ctx)
	if err == nil || errors.Is(err, context.Canceled) {
		return errext.OK
	}
	fmt.Fprintf(stderr, "meshbench-sidecar: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	return errext.Code(err)
}
