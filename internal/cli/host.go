package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/hoststats"
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
          transparent hugepages, each miss with its fix`,
		Example: `  meshbench host
  meshbench host --duration 30s --format markdown --out host.md
  meshbench host --probes fsync --dir /var/lib/etcd --format json`,
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
	switch o.format {
	case "table", "markdown", "json":
	default:
		return nil, errext.BadInputf("--format %q: want table, markdown or json", o.format)
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

// hostReport is what meshbench host prints as JSON: the host block of a
// result file, one window of host statistics and the probes with verdicts.
type hostReport struct {
	Tool        results.Tool         `json:"tool"`
	StartedAt   time.Time            `json:"started_at"`
	Host        results.Host         `json:"host"`
	HostStats   *results.HostStats   `json:"host_stats"`
	HostQuality *results.HostQuality `json:"host_quality"`
}

func runHost(ctx context.Context, w *World, o hostOptions) error {
	probes, err := parseHostOptions(&o)
	if err != nil {
		return err
	}
	roots := hoststats.Roots{Proc: w.ProcRoot, Sys: w.SysRoot}
	rep := hostReport{
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
	switch o.format {
	case "json":
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	case "markdown":
		renderMarkdown(&buf, hostSections(rep))
	default:
		renderText(&buf, hostSections(rep))
	}
	if o.out != "" {
		if err := results.WriteFileAtomic(o.out, buf.Bytes()); err != nil {
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

// section is one titled table of the host report; table and markdown
// output are two renderings of the same sections.
type section struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func hostSections(rep hostReport) []section {
	h := rep.Host
	id := section{title: "Host", header: []string{"field", "value"}}
	add := func(k, v string) { id.rows = append(id.rows, []string{k, orUnknown(v)}) }
	add("hostname", h.Hostname)
	add("os", h.OS)
	add("kernel", h.Kernel)
	add("cpu", fmt.Sprintf("%s × %d", orUnknown(h.CPUModel), h.Cores))
	add("memory", gib(h.MemoryBytes))
	add("container", h.Virtualization.Container)
	add("hypervisor", h.Virtualization.Hypervisor)
	for _, d := range h.Disks {
		v := d.Kind
		if d.SizeBytes > 0 {
			v += ", " + gib(d.SizeBytes)
		}
		if d.Model != "" {
			v += ", " + d.Model
		}
		add("disk "+d.Name, v)
	}
	id.notes = h.Virtualization.Evidence
	secs := []section{id}

	if st := rep.HostStats; st != nil {
		win := section{title: fmt.Sprintf("Window: %.1f s, %d samples every %s", st.DurationS, st.Samples, time.Duration(st.IntervalS*float64(time.Second))),
			header: []string{"figure", "value"}}
		add := func(k, f string, a ...any) { win.rows = append(win.rows, []string{k, fmt.Sprintf(f, a...)}) }
		if c := st.CPU; c != nil {
			add("cpu", "user %.1f%%  system %.1f%%  irq %.1f%%  iowait %.1f%%  idle %.1f%%", c.UserPct, c.SystemPct, c.IrqPct, c.IowaitPct, c.IdlePct)
			if c.StealReported {
				add("steal", "%.2f%% (worst interval %.2f%%)", c.StealPct, c.StealMaxPct)
			} else {
				add("steal", "not reported: %s", c.StealWhy)
			}
		}
		if p := st.PSI; p != nil {
			add("pressure", "cpu some %.1f%%  io some %.1f%% full %.1f%%  memory some %.1f%% full %.1f%%",
				p.CPUSomePct, p.IOSomePct, p.IOFullPct, p.MemorySomePct, p.MemoryFullPct)
		}
		if c := st.Cgroup; c != nil {
			quota := "no CPU limit"
			if c.QuotaCores > 0 {
				quota = fmt.Sprintf("limit %.2f cores", c.QuotaCores)
			}
			add("cgroup", "%s %s, %s, throttled in %d of %d periods (%.3f s)", c.Version, c.Path, quota, c.Throttled, c.Periods, c.ThrottledS)
		}
		if n := st.Network; n != nil {
			add("tcp", "retransmitted %d of %d segments (%.2f%%), listen overflows %d, drops %d",
				n.TCPRetransSegs, n.TCPOutSegs, n.RetransPct, n.ListenOverflows, n.ListenDrops)
		}
		for _, e := range st.Errors {
			win.notes = append(win.notes, "not measured: "+e)
		}
		if q := rep.HostQuality; q != nil {
			if cpu := probeCPU(q); cpu > 0 {
				win.notes = append(win.notes, fmt.Sprintf("the probes ran inside this window and used %.2f CPU s of its %.1f: the figures include their load", cpu, st.DurationS*float64(rep.Host.Cores)))
			}
		}
		secs = append(secs, win)
		if len(st.Disks) > 0 {
			ds := section{title: "Disks", header: []string{"disk", "kind", "r/s", "w/s", "rMB/s", "wMB/s", "r_await ms", "w_await ms", "aqu-sz", "%util", "in-flight max", "scheduler", "nr_requests", "hw queues"}}
			for _, d := range st.Disks {
				ds.rows = append(ds.rows, []string{d.Name, d.Kind, f2(d.ReadIOPS), f2(d.WriteIOPS), f2(d.ReadMBps), f2(d.WriteMBps),
					f2(d.RAwaitMs), f2(d.WAwaitMs), f2(d.AquSz), f2(d.UtilPct), fmt.Sprint(d.MaxInFlight), orUnknown(d.Scheduler),
					fmt.Sprint(d.NrRequests), fmt.Sprint(d.HWQueues)})
			}
			secs = append(secs, ds)
		}
	}

	if q := rep.HostQuality; q != nil && (q.Jitter != nil || q.Fsync != nil || q.Audit != nil) {
		ps := section{title: "Probes", header: []string{"probe", "result", "cpu s"}}
		if j := q.Jitter; j != nil {
			loop := func(l results.JitterLoop) string {
				return fmt.Sprintf("p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms, %.1f%% of the time lost (%d samples)", l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.LostPct, l.Samples)
			}
			if j.Error != "" {
				ps.rows = append(ps.rows, []string{"jitter", j.Error, fmt.Sprintf("%.3f", j.CPUSeconds)})
			} else {
				ps.rows = append(ps.rows,
					[]string{"jitter sleep 1ms", "late by " + loop(j.Sleep), fmt.Sprintf("%.3f", j.CPUSeconds)},
					[]string{"jitter busy", "off CPU " + loop(j.Busy), "(above)"})
			}
		}
		if f := q.Fsync; f != nil {
			res := fmt.Sprintf("%d × %d B + fdatasync in %s (%s on %s): p50 %.3f  p99 %.3f  max %.3f ms, %.0f ops/s",
				f.Ops, f.BlockBytes, f.Dir, orUnknown(f.Filesystem), orUnknown(f.Device), f.P50Ms, f.P99Ms, f.MaxMs, f.OpsPerS)
			if f.Error != "" {
				res = f.Error
			}
			ps.rows = append(ps.rows, []string{"fsync", res, fmt.Sprintf("%.3f", f.CPUSeconds)})
		}
		if a := q.Audit; a != nil {
			ps.rows = append(ps.rows, []string{"audit", fmt.Sprintf("%d settings checked (see verdicts)", len(a.Checks)), fmt.Sprintf("%.3f", a.CPUSeconds)})
		}
		secs = append(secs, ps)
	}
	if q := rep.HostQuality; q != nil && len(q.Verdicts) > 0 {
		vs := section{title: "Verdicts", header: []string{"check", "status", "value", "threshold", "fix"}}
		for _, v := range q.Verdicts {
			vs.rows = append(vs.rows, []string{v.Check, v.Status, v.Value, v.Threshold, v.Fix})
		}
		secs = append(secs, vs)
	}
	return secs
}

func renderText(w io.Writer, secs []section) {
	for i, s := range secs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, s.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		// Two-column sections read as "name value" lines; a header would
		// only repeat that.
		if len(s.header) > 2 {
			fmt.Fprintln(tw, "  "+strings.Join(s.header, "\t"))
		}
		for _, r := range s.rows {
			fmt.Fprintln(tw, strings.TrimRight("  "+strings.Join(r, "\t"), " \t"))
		}
		tw.Flush()
		for _, n := range s.notes {
			fmt.Fprintf(w, "  · %s\n", n)
		}
	}
}

func renderMarkdown(w io.Writer, secs []section) {
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	for i, s := range secs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "### %s\n\n", s.title)
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(s.header, " | "), strings.Repeat(" --- |", len(s.header)))
		for _, r := range s.rows {
			cells := make([]string, len(r))
			for j, c := range r {
				cells[j] = esc.Replace(c)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		if len(s.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range s.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
	}
}

// probeCPU is the CPU time the probes used.
func probeCPU(q *results.HostQuality) float64 {
	var s float64
	if q.Jitter != nil {
		s += q.Jitter.CPUSeconds
	}
	if q.Fsync != nil {
		s += q.Fsync.CPUSeconds
	}
	if q.Audit != nil {
		s += q.Audit.CPUSeconds
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func gib(b uint64) string {
	if b == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
