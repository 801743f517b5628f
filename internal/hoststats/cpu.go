package hoststats

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/meshbench/meshbench/internal/results"
)

// cpuTimes is the aggregate "cpu" line of /proc/stat in USER_HZ ticks, as
// gopsutil reads it: whole counters, no conversion to seconds.
type cpuTimes = cpu.ExTimesStat

// readCPU reads the aggregate CPU counters of the roots in ctx.
func readCPU(ctx context.Context) (cpuTimes, error) {
	ts, err := cpu.NewExLinux().TimesWithContext(ctx, false)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("stat: %w", err)
	}
	if len(ts) == 0 {
		return cpuTimes{}, errors.New("stat: no cpu line")
	}
	return ts[0], nil
}

// hasStealColumn reports whether the aggregate cpu line of /proc/stat has
// a steal counter (the eighth; kernels before 2.6.11 stop at seven).
//
// Own code because gopsutil is silent on it: it fills a missing column
// with 0, the same figure a steal clock gives when nothing was stolen, and
// SPEC wants steal that the kernel does not report to read as unreported,
// not as a perfect 0. The column set is the kernel's, so it is read once.
func hasStealColumn(text string) (bool, error) {
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return false, fmt.Errorf("stat: short cpu line %q", strings.TrimSpace(line))
		}
		return len(f) > 8, nil
	}
	return false, errors.New("stat: no cpu line")
}

// cpuShares turns two snapshots into shares of the CPU time that elapsed
// between them. Guest time is already counted in user (and guest_nice in
// nice) by the kernel, so it is left out of the total; adding it would
// count a VM's time twice on a host that runs VMs.
func cpuShares(a, b cpuTimes) results.CPUStats {
	d := func(x, y uint64) float64 { return float64(delta(x, y)) }
	user := d(a.User, b.User) + d(a.Nice, b.Nice)
	system := d(a.System, b.System)
	idle := d(a.Idle, b.Idle)
	iowait := d(a.Iowait, b.Iowait)
	irq := d(a.Irq, b.Irq) + d(a.Softirq, b.Softirq)
	steal := d(a.Steal, b.Steal)
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
// stolen" or "steal cannot be seen from here". column is hasStealColumn's
// answer and last the window's last reading. The rule:
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
func stealVisibility(column bool, last cpuTimes, v results.Virtualization, lxcfs bool) (bool, string) {
	switch {
	case !column:
		return false, "this kernel's /proc/stat has no steal column"
	case lxcfs:
		return false, "/proc/stat is lxcfs's per-container view, which has no steal"
	case last.Steal > 0:
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
