package hoststats

import (
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// Thresholds are meshbench policy (SPEC.md, "Host quality"); each verdict
// prints the one that produced it.
const (
	stealWarn, stealFail   = 5.0, 10.0  // % of CPU time
	iowaitWarn             = 10.0       // %
	psiSomeWarn, psiFail   = 10.0, 25.0 // % of wall time, cpu and io
	memSomeWarn, memFull   = 5.0, 5.0   // %; any real memory stall hurts
	throttleWarn, throttle = 1.0, 10.0  // % of cgroup periods throttled
	retransWarn            = 1.0        // % of TCP segments sent
	fsyncP99Fail           = 10.0       // ms, etcd's guidance
	jitterP999Warn         = 1.0        // ms
)

// fixes are the one-line remedies of checks that do not carry their own.
var fixes = map[string]string{
	"cpu.steal":       "a neighbour takes this host's CPU: ask for dedicated vCPUs or move to a less crowded host",
	"cpu.iowait":      "the CPUs wait on disk: find the writer (iotop, pidstat -d) or use faster storage",
	"psi.cpu":         "runnable tasks queue for CPU: add cores or stop other busy processes",
	"psi.io":          "tasks stall on I/O: find the writer (iotop) or use faster storage",
	"psi.memory":      "tasks stall reclaiming memory: add memory or shrink what runs here",
	"tcp.retransmits": "segments are lost: check the NIC, the path and drops (ss -ti, nstat)",
	"jitter.p999":     "the scheduler wakes threads late: dedicated vCPUs, fewer busy processes, check steal",
}

// Verdicts judges the probes in q (nil when none ran) and the sampled
// windows in stats (nil entries are windows that were not sampled). A
// figure that was sampled but cannot be trusted gives "unknown", never
// "ok"; a figure nobody tried to measure gives no verdict.
func Verdicts(q *results.HostQuality, stats []*results.HostStats) []results.Verdict {
	var out []results.Verdict
	var sampled []*results.HostStats
	for _, s := range stats {
		if s != nil {
			sampled = append(sampled, s)
		}
	}
	if len(sampled) > 0 {
		out = append(out, stealVerdict(sampled))
		out = append(out, cpuVerdicts(sampled)...)
	}
	if q != nil {
		if q.Jitter != nil {
			out = append(out, jitterVerdict(q.Jitter))
		}
		if q.Fsync != nil {
			out = append(out, fsyncVerdict(q.Fsync))
		}
		if q.Audit != nil {
			for _, c := range q.Audit.Checks {
				out = append(out, results.Verdict{Check: "audit." + c.Name, Status: c.Status, Value: c.Value, Threshold: c.Want, Fix: c.Fix})
			}
		}
	}
	for i := range out {
		if v := &out[i]; v.Fix == "" && (v.Status == "warn" || v.Status == "fail") {
			v.Fix = fixes[v.Check]
		}
	}
	return out
}

// grade is ok, warn or fail for a value against two limits (fail ≤ 0
// means it never fails).
func grade(v, warn, fail float64) string {
	switch {
	case fail > 0 && v > fail:
		return "fail"
	case v > warn:
		return "warn"
	default:
		return "ok"
	}
}

// worse keeps the worse of two statuses.
func worse(a, b string) string {
	rank := map[string]int{"ok": 0, "unknown": 1, "warn": 2, "fail": 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func stealVerdict(stats []*results.HostStats) results.Verdict {
	v := results.Verdict{Check: "cpu.steal", Threshold: fmt.Sprintf("warn > %g%%, fail > %g%%", stealWarn, stealFail)}
	worst, peak, seen := -1.0, 0.0, false
	why := ""
	for _, s := range stats {
		if s.CPU == nil {
			continue
		}
		seen = true
		if !s.CPU.StealReported {
			why = s.CPU.StealWhy
			continue
		}
		worst = max(worst, s.CPU.StealPct)
		peak = max(peak, s.CPU.StealMaxPct)
	}
	switch {
	case worst >= 0:
		v.Status = grade(worst, stealWarn, stealFail)
		v.Value = fmt.Sprintf("%.2f%% (worst interval %.2f%%)", worst, peak)
	case seen:
		v.Status, v.Value = "unknown", "not reported: "+why
	default:
		v.Status, v.Value = "unknown", "cpu not sampled: "+strings.Join(stats[0].Errors, "; ")
	}
	return v
}

// cpuVerdicts judges iowait, pressure, throttling and TCP, each on the
// worst window.
func cpuVerdicts(stats []*results.HostStats) []results.Verdict {
	type acc struct {
		v    float64
		seen bool
	}
	var iowait, cpuSome, ioSome, ioFull, memSome, memFullA, thr, retrans acc
	var overflows int64
	var psiSeen, netSeen bool
	up := func(a *acc, v float64) { a.v, a.seen = max(a.v, v), true }
	for _, s := range stats {
		if s.CPU != nil {
			up(&iowait, s.CPU.IowaitPct)
		}
		if p := s.PSI; p != nil {
			psiSeen = true
			up(&cpuSome, p.CPUSomePct)
			up(&ioSome, p.IOSomePct)
			up(&ioFull, p.IOFullPct)
			up(&memSome, p.MemorySomePct)
			up(&memFullA, p.MemoryFullPct)
		}
		if c := s.Cgroup; c != nil {
			up(&thr, c.ThrottledPct)
		}
		if n := s.Network; n != nil {
			netSeen = true
			up(&retrans, n.RetransPct)
			overflows = max(overflows, n.ListenOverflows)
		}
	}
	var out []results.Verdict
	if iowait.seen {
		out = append(out, results.Verdict{Check: "cpu.iowait", Status: grade(iowait.v, iowaitWarn, 0),
			Value: fmt.Sprintf("%.2f%%", iowait.v), Threshold: fmt.Sprintf("warn > %g%%", iowaitWarn)})
	}
	if psiSeen {
		out = append(out,
			results.Verdict{Check: "psi.cpu", Status: grade(cpuSome.v, psiSomeWarn, psiFail),
				Value: fmt.Sprintf("some %.2f%%", cpuSome.v), Threshold: fmt.Sprintf("some: warn > %g%%, fail > %g%%", psiSomeWarn, psiFail)},
			results.Verdict{Check: "psi.io", Status: worse(grade(ioSome.v, psiSomeWarn, psiFail), grade(ioFull.v, psiFail, psiFail)),
				Value:     fmt.Sprintf("some %.2f%%, full %.2f%%", ioSome.v, ioFull.v),
				Threshold: fmt.Sprintf("some: warn > %g%%, fail > %g%%; full: fail > %g%%", psiSomeWarn, psiFail, psiFail)},
			results.Verdict{Check: "psi.memory", Status: worse(grade(memSome.v, memSomeWarn, 0), grade(memFullA.v, memFull, memFull)),
				Value:     fmt.Sprintf("some %.2f%%, full %.2f%%", memSome.v, memFullA.v),
				Threshold: fmt.Sprintf("some: warn > %g%%; full: fail > %g%%", memSomeWarn, memFull)})
	} else {
		out = append(out, results.Verdict{Check: "psi", Status: "unknown", Value: "no /proc/pressure (kernel < 4.20, or booted without psi=1)",
			Fix: "boot with psi=1 (CONFIG_PSI_DEFAULT_DISABLED kernels)"})
	}
	if thr.seen {
		v := results.Verdict{Check: "cgroup.throttling", Status: grade(thr.v, throttleWarn, throttle),
			Value: fmt.Sprintf("%.2f%% of periods", thr.v), Threshold: fmt.Sprintf("warn > %g%%, fail > %g%%", throttleWarn, throttle)}
		if v.Status != "ok" {
			v.Fix = "raise the CPU limit (cpu.max, docker --cpus) or run fewer busy threads than the quota allows"
		}
		out = append(out, v)
	}
	if netSeen {
		out = append(out, results.Verdict{Check: "tcp.retransmits", Status: grade(retrans.v, retransWarn, 0),
			Value: fmt.Sprintf("%.2f%% of segments", retrans.v), Threshold: fmt.Sprintf("warn > %g%%", retransWarn)})
		v := results.Verdict{Check: "tcp.listen_overflows", Status: "ok", Value: fmt.Sprint(overflows), Threshold: "warn > 0"}
		if overflows > 0 {
			v.Status, v.Fix = "warn", "an accept queue overflowed: raise net.core.somaxconn and the listener's backlog"
		}
		out = append(out, v)
	}
	return out
}

func jitterVerdict(j *results.JitterProbe) results.Verdict {
	v := results.Verdict{Check: "jitter.p999", Threshold: fmt.Sprintf("warn > %g ms", jitterP999Warn)}
	if j.Error != "" || j.Sleep.Samples+j.Busy.Samples == 0 {
		v.Status, v.Value = "unknown", "not measured: "+j.Error
		return v
	}
	worst := max(j.Sleep.P999Ms, j.Busy.P999Ms)
	v.Status = grade(worst, jitterP999Warn, 0)
	v.Value = fmt.Sprintf("%.3f ms (sleep %.3f, busy %.3f)", worst, j.Sleep.P999Ms, j.Busy.P999Ms)
	return v
}

func fsyncVerdict(f *results.FsyncProbe) results.Verdict {
	v := results.Verdict{Check: "fsync.p99", Threshold: fmt.Sprintf("fail > %g ms", fsyncP99Fail)}
	switch {
	case f.Error != "" || f.Ops == 0:
		v.Status, v.Value = "unknown", "not measured: "+f.Error
	case f.Filesystem == "tmpfs" || f.Filesystem == "ramfs":
		v.Status = "unknown"
		v.Value = fmt.Sprintf("%.3f ms, but %s is on %s: no disk was touched", f.P99Ms, f.Dir, f.Filesystem)
		v.Fix = "pass --dir on the disk that will hold the data"
	default:
		v.Status = grade(f.P99Ms, fsyncP99Fail, fsyncP99Fail)
		v.Value = fmt.Sprintf("%.3f ms (%.0f ops/s)", f.P99Ms, f.OpsPerS)
		if v.Status == "fail" {
			v.Fix = "this disk is too slow for etcd-style durable writes; pick a host with local NVMe or faster block storage"
		}
	}
	return v
}
