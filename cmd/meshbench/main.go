// Command meshbench measures what a service-mesh hop costs on this host.
//
// main only builds the real world (arguments, stdio, signals) and hands it to
// internal/cli; everything else is there.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshbench/meshbench/internal/cli"
	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/proc"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal stops the load, drains and writes partial results;
		// a second one gives up at once. Children die with us either way
		// (they carry a parent-death signal).
		<-sigs
		fmt.Fprintln(os.Stderr, "meshbench: interrupted; finishing up (press Ctrl-C again to quit now)")
		cancel(errext.ErrInterrupted)
		<-sigs
		os.Exit(errext.Interrupted)
	}()
	code := cli.Main(ctx, cli.OSWorld())
	// Every child has been stopped; let the reaper see that and exit
	// before meshbench does.
	proc.StopReaper()
	return code
}
