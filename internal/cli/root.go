// Package cli holds meshbench's commands. Each subcommand lives in its own
// file as a constructor (newXCmd) whose RunE only checks its arguments and
// calls runX(ctx, opts). Nothing here exits the process or touches os.Stdout:
// the outside world comes in as a World, so a whole command runs in a test.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

// World is everything a command may take from outside the process.
type World struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
	// Now is the clock for timestamps in results (time.Now in production).
	Now func() time.Time
	// ProcRoot and SysRoot are where /proc and /sys are read from ("/proc"
	// and "/sys" in production; fixture trees in tests).
	ProcRoot, SysRoot string
	// StderrIsTTY turns on the live progress bar.
	StderrIsTTY bool
	// Self is the meshbench executable (os.Executable in production); paths
	// that run meshbench's own sidecar start it.
	Self string
}

// OSWorld is the real world of a meshbench process.
func OSWorld() World {
	self, _ := os.Executable()
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	return World{
		Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now, ProcRoot: "/proc", SysRoot: "/sys",
		StderrIsTTY: tty, Self: self,
	}
}

func (w *World) fill() {
	if w.Stdin == nil {
		w.Stdin = strings.NewReader("")
	}
	if w.Stdout == nil {
		w.Stdout = io.Discard
	}
	if w.Stderr == nil {
		w.Stderr = io.Discard
	}
	if w.Getenv == nil {
		w.Getenv = func(string) string { return "" }
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.ProcRoot == "" {
		w.ProcRoot = "/proc"
	}
	if w.SysRoot == "" {
		w.SysRoot = "/sys"
	}
}

// Main runs one meshbench command line and returns its exit code. Errors are
// printed here, once, as one line on stderr.
func Main(ctx context.Context, w World) int {
	w.fill()
	started := false
	root := newRootCmd(&w)
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		started = true
		return nil
	}
	root.SetArgs(w.Args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return errext.OK
	}
	// Errors before a command ran (unknown command or flag, bad argument
	// count) are cobra's: they are the user's to fix.
	if !started && !errext.IsBadInput(err) {
		err = errext.AsBadInput(err)
	}
	code := errext.Code(err)
	if errors.Is(err, errext.ErrGateFailed) && !errext.IsBadInput(err) {
		// The gate printed its own verdicts; say it once more, briefly.
		fmt.Fprintf(w.Stderr, "meshbench: %v\n", err)
		return code
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(w.Stderr, "meshbench: %s\n", msg)
	if code == errext.BadInputExit && !started {
		fmt.Fprintf(w.Stderr, "Run 'meshbench --help' for usage.\n")
	}
	return code
}

func newRootCmd(w *World) *cobra.Command {
	root := &cobra.Command{
		Use:   "meshbench",
		Short: "Measure what a service-mesh hop costs on this host, and whether the host is fit to run one",
		Long: `meshbench starts a test backend, puts paths in front of it (direct, HAProxy,
nginx, its own Linkerd-style sidecar, any proxy binary), drives open-model HTTP
load through each, and reports latency percentiles, the overhead of each hop
and the host figures that explain them.`,
		Example: `  meshbench run                                  # the embedded default scenario
  meshbench run --paths direct,haproxy --rate 2000 --duration 20s
  meshbench run scenarios/classic.yaml --trials 3
  meshbench report results/*.json --format markdown --out report.md`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetOut(w.Stdout)
	root.SetErr(w.Stderr)
	root.SetIn(w.Stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return errext.AsBadInput(err)
	})
	root.AddCommand(
		newRunCmd(w),
		newGateCmd(w),
		newBackendCmd(w),
		newSidecarCmd(w),
		newHostCmd(w),
		newReportCmd(w),
		newServeCmd(w),
		newMergeCmd(w),
		newVersionCmd(w),
	)
	return root
}

func newVersionCmd(w *World) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshbench's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(w.Stdout, "meshbench %s\n", version())
			return nil
		},
	}
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
