package hoststats

import (
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// cpuTimes is the aggregate "cpu" line of /proc/stat, in USER_HZ ticks.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal, guest, guestNice uint64
	// fields is how many counters the line had: kernels before 2.6.11 have
	// no steal column at all.
	fields int
}

// parseProcStat reads the aggregate cpu line of /proc/stat.
func parseProcStat(text string) (cpuTimes, error) {
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		var t cpuTimes
		dst := []*uint64{&t.user, &t.nice, &t.system, &t.idle, &t.iowait, &t.irq, &t.softirq, &t.steal, &t.guest, &t.guestNice}
		for i, v := range f[1:] {
			if i == len(dst) {
				break
			}
			*dst[i] = atou64(v)
			t.fields++
		}
		if t.fields < 4 {
			return cpuTimes{}, fmt.Errorf("stat: short cpu line %q", strings.TrimSpace(line))
		}
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("stat: no cpu line")
}

// cpuShares turns two snapshots into shares of the CPU time that elapsed
// between them. Guest time is already counted in user (and guest_nice in
// nice) by the kernel, so it is left out of the total; adding it would
// count a VM's time twice on a host that runs VMs.
func cpuShares(a, b cpuTimes) results.CPUStats {
	d := func(x, y uint64) float64 { return float64(delta(x, y)) }
	user := d(a.user, b.user) + d(a.nice, b.nice)
	system := d(a.system, b.system)
	idle := d(a.idle, b.idle)
	iowait := d(a.iowait, b.iowait)
	irq := d(a.irq, b.irq) + d(a.softirq, b.softirq)
	steal := d(a.steal, b.steal)
	total := user + system + idle + iowait + irq + steal
	return results.CPUStats{
		UserPct:   pct(user, total),
		SystemPct: pct(system, total),
		IdlePct:   pct(idle, total),
		IowaitPct: pct(iowait, total),
		IrqPct:    pct(irq, total),
		StealPct:  pct(steal, total),
	}
}

// stealVisibility decides whether a steal figure of 0 means "nothing was
// stolen" or "steal cannot be seen from here". The rule:
//
//   - no steal column (kernel before 2.6.11): not reported;
//   - /proc/stat served by lxcfs: it builds a per-container view whose
//     steal is always 0, so not reported;
//   - steal counted since boot > 0: the steal clock works, so a 0 over the
//     window is a real 0;
//   - steal exactly 0 since boot on bare metal (hypervisor "none", no
//     container): nothing can steal, so 0 is reported as true;
//   - steal exactly 0 since boot anywhere else (under a hypervisor, in a
//     container, or where virtualization is unknown): the guest has no
//     steal clock (paravirt steal time off, or a hypervisor that does not
//     give one) or the container hides it, so not reported. A VM that has
//     truly never lost a tick since boot is rare enough that calling it
//     "unreported" is the safer mistake.
func stealVisibility(last cpuTimes, v results.Virtualization, lxcfs bool) (bool, string) {
	switch {
	case last.fields < 8:
		return false, "this kernel's /proc/stat has no steal column"
	case lxcfs:
		return false, "/proc/stat is lxcfs's per-container view, which has no steal"
	case last.steal > 0:
		return true, ""
	case v.Hypervisor == "none" && (v.Container == "none" || v.Container == ""):
		return true, ""
	case v.Container != "none" && v.Container != "":
		return false, fmt.Sprintf("steal has been exactly 0 since boot in a %s container, which may hide it", v.Container)
	case v.Hypervisor != "none" && v.Hypervisor != "":
		return false, fmt.Sprintf("steal has been exactly 0 since boot under %s: no steal clock in this guest", v.Hypervisor)
	default:
		return false, "steal has been exactly 0 since boot and the virtualization is unknown"
	}
}
