package hoststats

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// runAudit checks the settings a proxy host needs, each read through the
// roots so fixtures can stand in for a host.
func runAudit(r Roots) *results.AuditProbe {
	a := &results.AuditProbe{}
	a.CPUSeconds = onThread(func() {
		limits, _ := readString(r.proc("self", "limits"))
		thp, _ := readString(r.sys("kernel", "mm", "transparent_hugepage", "enabled"))
		a.Checks = []results.AuditCheck{
			auditNofile(limits),
			auditSysctl("net.core.somaxconn", readTrim(r.proc("sys", "net", "core", "somaxconn")), 4096, false,
				"sysctl -w net.core.somaxconn=4096 (and persist it in /etc/sysctl.d/)"),
			auditSysctl("net.ipv4.tcp_tw_reuse", readTrim(r.proc("sys", "net", "ipv4", "tcp_tw_reuse")), 1, true,
				"sysctl -w net.ipv4.tcp_tw_reuse=1 (and persist it in /etc/sysctl.d/)"),
			auditGovernor(readGovernors(r)),
			auditTHP(thp),
		}
	})
	return a
}

// parseNofile reads the "Max open files" line of /proc/self/limits.
func parseNofile(limits string) (soft, hard string, ok bool) {
	for line := range strings.Lines(limits) {
		if rest, found := strings.CutPrefix(line, "Max open files"); found {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0], f[1], true
			}
		}
	}
	return "", "", false
}

// auditNofile judges the hard limit: Go (since 1.19), HAProxy and Envoy
// raise their soft limit to it at start, so the hard limit is the ceiling
// a proxy really has.
func auditNofile(limits string) results.AuditCheck {
	c := results.AuditCheck{Name: "open_files", Want: "hard limit ≥ 65535",
		Fix: "raise it: LimitNOFILE=65535 in the service unit, or a nofile line in /etc/security/limits.conf"}
	soft, hard, ok := parseNofile(limits)
	if !ok {
		c.Status, c.Value = "unknown", "no \"Max open files\" in /proc/self/limits"
		return c
	}
	c.Value = fmt.Sprintf("soft %s, hard %s", soft, hard)
	n, err := strconv.ParseInt(hard, 10, 64)
	switch {
	case hard == "unlimited" || err == nil && n >= 65535:
		c.Status, c.Fix = "ok", ""
	default:
		c.Status = "warn"
	}
	return c
}

// auditSysctl checks a numeric sysctl: at least want, or exactly want.
func auditSysctl(name, val string, want int64, exact bool, fix string) results.AuditCheck {
	c := results.AuditCheck{Name: name, Value: val, Fix: fix, Want: fmt.Sprintf("≥ %d", want)}
	if exact {
		c.Want = fmt.Sprintf("= %d", want)
	}
	n, err := strconv.ParseInt(val, 10, 64)
	switch {
	case err != nil:
		c.Status, c.Value = "unknown", "cannot read /proc/sys/"+strings.ReplaceAll(name, ".", "/")
	case exact && n == want, !exact && n >= want:
		c.Status, c.Fix = "ok", ""
	default:
		c.Status = "warn"
	}
	return c
}

// readGovernors lists the distinct cpufreq governors of all CPUs.
func readGovernors(r Roots) []string {
	paths, _ := filepath.Glob(r.sys("devices", "system", "cpu", "cpu[0-9]*", "cpufreq", "scaling_governor"))
	var out []string
	for _, p := range paths {
		if g := readTrim(p); g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// auditGovernor wants "performance": powersave and schedutil let a core
// clock down between bursts and a proxy pays the ramp-up in latency.
// Without cpufreq (most VMs) the hypervisor or firmware decides, and
// there is nothing to judge.
func auditGovernor(govs []string) results.AuditCheck {
	c := results.AuditCheck{Name: "cpu_governor", Want: "performance", Fix: "cpupower frequency-set -g performance"}
	switch {
	case len(govs) == 0:
		c.Status, c.Value, c.Fix = "unknown", "no cpufreq here (the hypervisor or firmware sets the clock)", ""
	case len(govs) == 1 && govs[0] == "performance":
		c.Status, c.Value, c.Fix = "ok", "performance", ""
	default:
		c.Status, c.Value = "warn", strings.Join(govs, ",")
	}
	return c
}

// auditTHP wants transparent hugepages at madvise or never: with "always",
// page faults may stop to compact memory, a latency spike from nowhere.
func auditTHP(text string) results.AuditCheck {
	c := results.AuditCheck{Name: "transparent_hugepages", Want: "madvise or never",
		Fix: "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled"}
	mode := parseScheduler(text) // the same "a [b] c" form
	switch mode {
	case "":
		c.Status, c.Value, c.Fix = "unknown", "not exposed", ""
	case "madvise", "never":
		c.Status, c.Value, c.Fix = "ok", mode, ""
	default:
		c.Status, c.Value = "warn", mode
	}
	return c
}
