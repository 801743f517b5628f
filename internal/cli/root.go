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
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	// ProcRoot and SysRoot are where host statistics read /proc and /sys
	// (hostRoots in production; fixture trees in tests).
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
	proc, sys := hostRoots(os.Getenv)
	return World{
		Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now, ProcRoot: proc, SysRoot: sys,
		StderrIsTTY: tty, Self: self,
	}
}

// hostRoots are where host statistics are read from: the directories that
// HOST_PROC and HOST_SYS name when they are set (gopsutil's convention, for
// a container given the node's /proc and /sys at another path), else /proc
// and /sys. Only host statistics move: meshbench's own processes and the
// proxies it starts are always read in this process's /proc.
func hostRoots(getenv func(string) string) (proc, sys string) {
	proc, sys = "/proc", "/sys"
	if v := getenv("HOST_PROC"); v != "" {
		proc = filepath.Clean(v)
	}
	if v := getenv("HOST_SYS"); v != "" {
		sys = filepath.Clean(v)
	}
	return proc, sys
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

// ParseArgs reads a meshbench command line the way Main would, without
// running anything: the subcommand must exist, every flag must be one of
// its own with a value that parses, and the arguments must be as many as
// it takes. It returns the subcommand's path ("serve", "run") and its parsed
// flags, so that command lines kept elsewhere (Kubernetes manifests, the
// fleet playbook) can be held to the real flags by their tests.
func ParseArgs(args []string) (command string, flags *pflag.FlagSet, err error) {
	w := World{}
	w.fill()
	root := newRootCmd(&w)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return "", nil, err
	}
	if cmd == root {
		return "", nil, fmt.Errorf("%q names no meshbench command", args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return "", nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return "", nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	return strings.TrimPrefix(cmd.CommandPath(), root.Name()+" "), cmd.Flags(), nil
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
