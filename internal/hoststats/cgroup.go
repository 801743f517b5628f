package hoststats

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// CPU throttling is read here because gopsutil has no reader for a
// cgroup's cpu.stat: its docker package reads cpuacct usage of docker's
// cgroups, not nr_throttled or throttled time, and not meshbench's own
// cgroup (TestCgroupV2Throttling, TestCgroupV1ThisHost).

// cgroupCPU is where meshbench's own cgroup keeps its CPU controller.
type cgroupCPU struct {
	version string // v1 or v2
	dir     string // directory holding cpu.stat
	path    string // the cgroup as /proc/self/cgroup names it
}

// cgroupCounters is what cpu.stat says about throttling, normalised to
// microseconds (v1 gives throttled_time in ns, v2 throttled_usec).
type cgroupCounters struct {
	periods, throttled, throttledUs uint64
	// quotaCores is quota/period; 0 when there is no limit.
	quotaCores float64
}

// parseProcCgroup reads /proc/self/cgroup: the unified (v2) path and the
// path of the v1 hierarchy that holds the cpu controller, either of which
// may be empty.
func parseProcCgroup(text string) (v2, v1cpu string) {
	for line := range strings.Lines(text) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), "cpu") {
			v1cpu = parts[2]
		}
	}
	return v2, v1cpu
}

// parseCPUStat reads a cgroup cpu.stat (v1 or v2) file.
func parseCPUStat(text string) cgroupCounters {
	var c cgroupCounters
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		switch k {
		case "nr_periods":
			c.periods = atou64(v)
		case "nr_throttled":
			c.throttled = atou64(v)
		case "throttled_usec":
			c.throttledUs = atou64(v)
		case "throttled_time":
			c.throttledUs = atou64(v) / 1000
		}
	}
	return c
}

// parseCPUMax reads v2 cpu.max ("max 100000" or "50000 100000").
func parseCPUMax(text string) float64 {
	f := strings.Fields(text)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	q, p := atoi64(f[0]), atoi64(f[1])
	if q <= 0 || p <= 0 {
		return 0
	}
	return round2(float64(q) / float64(p))
}

// findCgroupCPU looks for the cpu.stat of this process's cgroup. The
// candidates, in order: the unified hierarchy (pure v2, then the hybrid
// layout's "unified" mount), then the v1 cpu hierarchy under its usual
// mount names. Each is tried at the cgroup's path and at the mount root,
// because a container without a cgroup namespace sees its host-side path
// in /proc/self/cgroup but has its own cgroup mounted at the root. The first
// cpu.stat that counts throttling wins; failing that, the first readable
// one (a cgroup without the cpu controller enabled cannot be throttled).
func findCgroupCPU(r Roots) (cgroupCPU, error) {
	text, err := readString(r.proc("self", "cgroup"))
	if err != nil {
		return cgroupCPU{}, err
	}
	v2, v1 := parseProcCgroup(text)
	var cands []cgroupCPU
	add := func(version, mount, p string) {
		for _, rel := range []string{p, "/"} {
			cands = append(cands, cgroupCPU{version: version, dir: r.sys("fs", "cgroup", mount, rel), path: p})
		}
	}
	if v2 != "" {
		add("v2", "", v2)
		add("v2", "unified", v2)
	}
	if v1 != "" {
		for _, m := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
			add("v1", m, v1)
		}
	}
	var readable *cgroupCPU
	for i, c := range cands {
		st, err := readString(path.Join(c.dir, "cpu.stat"))
		if err != nil {
			continue
		}
		if strings.Contains(st, "nr_throttled") {
			return c, nil
		}
		if readable == nil {
			readable = &cands[i]
		}
	}
	if readable != nil {
		return *readable, nil
	}
	return cgroupCPU{}, fmt.Errorf("no cpu.stat for cgroup %q", strings.TrimSpace(text))
}

func readCgroup(c cgroupCPU) (cgroupCounters, error) {
	text, err := readString(path.Join(c.dir, "cpu.stat"))
	if err != nil {
		return cgroupCounters{}, err
	}
	cc := parseCPUStat(text)
	if c.version == "v2" {
		cc.quotaCores = parseCPUMax(readTrim(path.Join(c.dir, "cpu.max")))
	} else {
		q, p := atoi64(readTrim(path.Join(c.dir, "cpu.cfs_quota_us"))), atoi64(readTrim(path.Join(c.dir, "cpu.cfs_period_us")))
		if q > 0 && p > 0 {
			cc.quotaCores = round2(float64(q) / float64(p))
		}
	}
	return cc, nil
}

func cgroupDelta(c cgroupCPU, a, b cgroupCounters) *results.CgroupStats {
	s := &results.CgroupStats{
		Version:    c.version,
		Path:       c.path,
		QuotaCores: b.quotaCores,
		Periods:    int64(delta(a.periods, b.periods)),
		Throttled:  int64(delta(a.throttled, b.throttled)),
		ThrottledS: float64(delta(a.throttledUs, b.throttledUs)) / 1e6,
	}
	s.ThrottledPct = pct(float64(s.Throttled), float64(s.Periods))
	return s
}
