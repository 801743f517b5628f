package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

type hostOptions struct {
	duration time.Duration
	interval time.Duration // 0: one sample a second, at least ten per run
	probes   string
	dir      string
	format   string
	out      string
}

func newHostCmd(w *World) *cobra.Command {
	var o hostOptions
	cmd := &cobra.Command{
		Use:   "host [--duration 10s] [--probes jitter,fsync,audit] [--dir PATH] [--format table|markdown|json] [--out FILE]",
		Short: "Judge whether this host is fit to run a mesh: virtualization, CPU, steal, pressure, disks, jitter, fsync, tuning",
		Long: `host names the machine and the layers under it (container, hypervisor), samples
its CPU (steal, iowait), pressure stall figures, disks, TCP counters and cgroup
throttling for --duration while the probes run, and prints a verdict per check
with the threshold that produced it.

Probes (run one after another, within --duration):
  jitter  a 1 ms sleep loop and a busy loop: how late the scheduler wakes a thread
  fsync   2300-byte appends, each made durable with fdatasync, in --dir (etcd's check)
  audit   open-file limit, net.core.somaxconn, net.ipv4.tcp_tw_reuse, CPU governor,
          transparent hugepages, each miss with its fix

HOST_PROC and HOST_SYS, when set, name where /proc and /sys are read: a
node's, mounted read-only into a container, so that the figures are the
node's rather than the container's view (the convention gopsutil follows).

Several hosts' --format json files make one table of hosts in 'meshbench
report', a row each, to show which one is noisy.`,
		Example: `  meshbench host
  meshbench host --duration 30s --format markdown --out host.md
  meshbench host --probes fsync --dir /var/lib/etcd --format json
  meshbench host --format json --out hosts/$(hostname).json   # then: meshbench report hosts/*.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHost(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to sample the host (the probes run inside it)")
	f.DurationVar(&o.interval, "interval", 0, "time between samples (default 1s, shorter for runs under 10s)")
	f.StringVar(&o.probes, "probes", strings.Join(hoststats.ProbeNames, ","), "probes to run, comma separated, or \"none\"")
	f.StringVar(&o.dir, "dir", "results", "directory the fsync probe writes in: put it on the disk you want judged")
	f.StringVar(&o.format, "format", "table", "output format: table, markdown or json")
	f.StringVar(&o.out, "out", "", "write the output to this file instead of stdout")
	return cmd
}

// parseHostOptions checks the flags and returns the probes to run.
func parseHostOptions(o *hostOptions) ([]string, error) {
	if o.duration <= 0 || o.duration > 24*time.Hour {
		return nil, errext.BadInputf("--duration %s: want more than 0 and at most 24h", o.duration)
	}
	if o.interval < 0 || o.interval > o.duration {
		return nil, errext.BadInputf("--interval %s: want more than 0 and at most --duration (%s)", o.interval, o.duration)
	}
	if o.interval == 0 {
		o.interval = min(time.Second, max(o.duration/10, 10*time.Millisecond))
	}
	if !slices.Contains(report.HostFormats, o.format) {
		return nil, errext.BadInputf("--format %q: want %s", o.format, strings.Join(report.HostFormats, ", "))
	}
	var probes []string
	for _, p := range strings.Split(o.probes, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "none" {
			probes = append(probes, p)
		}
	}
	if err := hoststats.CheckProbes(probes); err != nil {
		return nil, fmt.Errorf("--probes: %w", err)
	}
	return probes, nil
}

func runHost(ctx context.Context, w *World, o hostOptions) error {
	probes, err := parseHostOptions(&o)
	if err != nil {
		return err
	}
	roots := hoststats.Roots{Proc: w.ProcRoot, Sys: w.SysRoot}
	rep := report.HostReport{
		Schema:    report.HostSchema,
		Tool:      results.Tool{Name: "meshbench", Version: version(), GoVersion: runtime.Version()},
		StartedAt: w.Now().UTC(),
		Host:      hoststats.Identify(ctx, roots),
	}
	// The probes run inside the sampled window and take their time from
	// its deadline, so the command ends when the window does.
	wctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	sampler := hoststats.StartSampler(wctx, roots, o.interval)
	quality := make(chan *results.HostQuality, 1)
	go func() {
		q := &results.HostQuality{}
		if len(probes) > 0 {
			// The names were checked above: the error cannot happen.
			q, _ = hoststats.RunProbes(wctx, roots, probes, o.dir)
		}
		quality <- q
	}()
	<-wctx.Done()
	rep.HostQuality = <-quality
	rep.HostStats = sampler.Stop()
	rep.HostQuality.Verdicts = hoststats.Verdicts(rep.HostQuality, []*results.HostStats{rep.HostStats})

	var buf bytes.Buffer
	if err := report.WriteHost(&buf, &rep, o.format); err != nil {
		return err
	}
	if o.out != "" {
		// A probe per node writes into a fresh shared volume: the
		// directory it names may not exist yet.
		err := os.MkdirAll(filepath.Dir(o.out), 0o755)
		if err == nil {
			err = results.WriteFileAtomic(o.out, buf.Bytes())
		}
		if err != nil {
			return fmt.Errorf("--out %s: %w", o.out, err)
		}
		fmt.Fprintf(w.Stderr, "host: wrote %s\n", o.out)
	} else if _, err := w.Stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("host: stopped after %.1fs of %s: %w", rep.HostStats.DurationS, o.duration, errext.ErrInterrupted)
	}
	return nil
}
