// Command meshbench-sidecar is meshbench's Linkerd-style sidecar on its own:
// the same proxy as `meshbench sidecar`, in a binary that links nothing else,
// so that its memory is the proxy's (the linkerd paths start it when it sits
// beside the meshbench executable).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshbench/meshbench/internal/sidecar/sidecarcmd"
)

func main() {
	// SIGTERM and Ctrl-C drain the sidecar: the context's end stops it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sidecarcmd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
