package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// HostReport is what `meshbench host` shows: the host block of a result
// file, one window of host statistics, and the probes with the verdicts.
// Its JSON form is the command's --format json output.
type HostReport struct {
	// Schema is HostSchema in what `meshbench host` writes; files written
	// before it had one are told apart by their shape (IsHostFile).
	Schema      string               `json:"schema,omitempty"`
	Tool        results.Tool         `json:"tool"`
	StartedAt   time.Time            `json:"started_at"`
	Host        results.Host         `json:"host"`
	HostStats   *results.HostStats   `json:"host_stats"`
	HostQuality *results.HostQuality `json:"host_quality"`
}

// HostSchema is the "schema" of `meshbench host --format json` output.
const HostSchema = "meshbench-host/v1"

// HostFormats are the names WriteHost accepts.
var HostFormats = []string{"table", "markdown", "json"}

// WriteHost renders h in format to w: the terminal table, markdown or
// JSON. The tables go through the same renderers as a run's report. An
// unknown format is bad input (exit 2).
func WriteHost(w io.Writer, h *HostReport, format string) error {
	var b strings.Builder
	switch format {
	case "table", "":
		for i, s := range hostSections(h) {
			if i > 0 {
				b.WriteString("\n")
			}
			if err := s.text(&b); err != nil {
				return err
			}
		}
	case "markdown":
		for i, s := range hostSections(h) {
			if i > 0 {
				b.WriteString("\n")
			}
			if err := s.markdown(&b); err != nil {
				return err
			}
		}
	case "json":
		out, err := json.MarshalIndent(h, "", "  ")
		if err != nil {
			return err
		}
		b.Write(jsonSafe(out))
		b.WriteString("\n")
	default:
		return errext.BadInputf("unknown host report format %q (want one of %s)", format, strings.Join(HostFormats, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// hostSection is one titled table of the host report. A section of
// "name value" pairs (keyValue) shows no header on the terminal, where it
// would only repeat that.
type hostSection struct {
	title    string
	g        grid
	keyValue bool
	notes    []string
}

func (s hostSection) text(b *strings.Builder) error {
	b.WriteString(termText(s.title) + "\n")
	g := s.g
	g.noHeader = s.keyValue
	var t strings.Builder
	if err := renderText(&t, g); err != nil {
		return err
	}
	for line := range strings.Lines(t.String()) {
		b.WriteString("  " + line)
	}
	for _, n := range s.notes {
		b.WriteString("  · " + termText(n) + "\n")
	}
	return nil
}

func (s hostSection) markdown(b *strings.Builder) error {
	fmt.Fprintf(b, "### %s\n\n", mdText(s.title))
	if err := renderMarkdown(b, s.g); err != nil {
		return err
	}
	if len(s.notes) > 0 {
		b.WriteString("\n")
		for _, n := range s.notes {
			fmt.Fprintf(b, "- %s\n", mdText(n))
		}
	}
	return nil
}

// hostSections are the host report's tables, in reading order: who the
// host is, what the window showed, the disks, the probes and the verdicts.
func hostSections(h *HostReport) []hostSection {
	secs := []hostSection{identitySection(h.Host)}
	if st := h.HostStats; st != nil {
		secs = append(secs, windowSection(st, h.HostQuality, h.Host.Cores))
		if len(st.Disks) > 0 {
			secs = append(secs, diskSection(st.Disks))
		}
	}
	if q := h.HostQuality; q != nil && (q.Jitter != nil || q.Fsync != nil || q.Audit != nil) {
		secs = append(secs, probeSection(q))
	}
	if q := h.HostQuality; q != nil && len(q.Verdicts) > 0 {
		g := grid{left: 5, header: []string{"check", "status", "value", "threshold", "fix"}}
		for _, v := range q.Verdicts {
			g.rows = append(g.rows, []string{v.Check, v.Status, v.Value, v.Threshold, v.Fix})
		}
		secs = append(secs, hostSection{title: "Verdicts", g: g})
	}
	return secs
}

func identitySection(h results.Host) hostSection {
	s := hostSection{title: "Host", keyValue: true, g: grid{left: 2, header: []string{"field", "value"}}}
	add := func(k, v string) { s.g.rows = append(s.g.rows, []string{k, orUnknown(v)}) }
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
	s.notes = h.Virtualization.Evidence
	return s
}

// windowSection is the sampled window: CPU, steal, pressure, cgroup, TCP.
func windowSection(st *results.HostStats, q *results.HostQuality, cores int) hostSection {
	s := hostSection{
		title:    fmt.Sprintf("Window: %.1f s, %d samples every %s", st.DurationS, st.Samples, time.Duration(st.IntervalS*float64(time.Second))),
		keyValue: true,
		g:        grid{left: 2, header: []string{"figure", "value"}},
	}
	add := func(k, f string, a ...any) { s.g.rows = append(s.g.rows, []string{k, fmt.Sprintf(f, a...)}) }
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
		s.notes = append(s.notes, "not measured: "+e)
	}
	if q != nil {
		if cpu := probeCPU(q); cpu > 0 {
			s.notes = append(s.notes, fmt.Sprintf("the probes ran inside this window and used %.2f CPU s of its %.1f: the figures include their load", cpu, st.DurationS*float64(cores)))
		}
	}
	return s
}

func diskSection(disks []results.DiskStats) hostSection {
	g := grid{left: 2, header: []string{"disk", "kind", "r/s", "w/s", "rMB/s", "wMB/s", "r_await ms", "w_await ms", "aqu-sz", "%util", "in-flight max", "scheduler", "nr_requests", "hw queues"}}
	for _, d := range disks {
		g.rows = append(g.rows, []string{d.Name, d.Kind, f2(d.ReadIOPS), f2(d.WriteIOPS), f2(d.ReadMBps), f2(d.WriteMBps),
			f2(d.RAwaitMs), f2(d.WAwaitMs), f2(d.AquSz), f2(d.UtilPct), fmt.Sprint(d.MaxInFlight), orUnknown(d.Scheduler),
			fmt.Sprint(d.NrRequests), fmt.Sprint(d.HWQueues)})
	}
	return hostSection{title: "Disks", g: g}
}

func probeSection(q *results.HostQuality) hostSection {
	g := grid{left: 2, header: []string{"probe", "result", "cpu s"}}
	if j := q.Jitter; j != nil {
		loop := func(l results.JitterLoop) string {
			return fmt.Sprintf("p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms, %.1f%% of the time lost (%d samples)", l.P50Ms, l.P99Ms, l.P999Ms, l.MaxMs, l.LostPct, l.Samples)
		}
		if j.Error != "" {
			g.rows = append(g.rows, []string{"jitter", j.Error, fmt.Sprintf("%.3f", j.CPUSeconds)})
		} else {
			g.rows = append(g.rows,
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
		g.rows = append(g.rows, []string{"fsync", res, fmt.Sprintf("%.3f", f.CPUSeconds)})
	}
	if a := q.Audit; a != nil {
		g.rows = append(g.rows, []string{"audit", fmt.Sprintf("%d settings checked (see verdicts)", len(a.Checks)), fmt.Sprintf("%.3f", a.CPUSeconds)})
	}
	return hostSection{title: "Probes", g: g}
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
