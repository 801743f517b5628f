package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/errext"
)

type backendOpts struct {
	listen string
	cfg    backend.Config
}

func newBackendCmd(w *World) *cobra.Command {
	var o backendOpts
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Run the test backend on its own",
		Long: `backend runs the HTTP server that meshbench puts behind every path: HTTP/1.1
and h2c on one port, a response body of --payload bytes, an added delay, and a
share of requests answered 500. Use it to drive load from another host, or to
put a sidecar or proxy in front of it by hand. It serves until interrupted and
prints its listen address on stderr.`,
		Example: `  meshbench backend                                    # 127.0.0.1:8080, 1 KiB answers, no delay
  meshbench backend --listen 127.0.0.1:0 --payload 4096  # a free port, 4 KiB answers
  meshbench backend --delay 1ms --delay-distribution exponential
  meshbench backend --error-rate 0.05                    # 5% of requests answer 500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkBackendOpts(o); err != nil {
				return err
			}
			return runBackend(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	f.IntVar(&o.cfg.Payload, "payload", 1024, "response body size in bytes")
	f.DurationVar(&o.cfg.Delay, "delay", 0, "added service time per request (the mean, for random distributions), e.g. 1ms")
	f.StringVar(&o.cfg.Distribution, "delay-distribution", backend.Fixed, "fixed, exponential or uniform (uniform spans 0 to twice --delay)")
	f.Float64Var(&o.cfg.ErrorRate, "error-rate", 0, "share of requests answered 500, from 0 to 1")
	f.Int64Var(&o.cfg.Seed, "seed", 1, "seed of the delay and error draws")
	return cmd
}

// checkBackendOpts rejects what the backend cannot serve, before anything listens.
func checkBackendOpts(o backendOpts) error {
	if o.listen == "" {
		return errext.BadInputf("--listen: an address is required, e.g. 127.0.0.1:8080")
	}
	if err := o.cfg.Validate(); err != nil {
		return errext.BadInputf("backend: %v", err)
	}
	return nil
}

func runBackend(ctx context.Context, w *World, o backendOpts) error {
	s, err := backend.Start(ctx, o.listen, o.cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(w.Stderr, "meshbench backend listening on http://%s (payload %d B, delay %s %s, error rate %g)\n",
		s.Addr(), o.cfg.Payload, o.cfg.Delay, o.cfg.Distribution, o.cfg.ErrorRate)
	<-ctx.Done()
	if n, f := s.Counts(); n > 0 {
		fmt.Fprintf(w.Stderr, "meshbench backend: served %d requests (%d failed on purpose)\n", n, f)
	}
	// Stopping on a signal is how the backend is meant to end: not an error.
	return nil
}
