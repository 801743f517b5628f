package hoststats

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/meshbench/meshbench/internal/results"
)

// Identify says which machine this is. It never fails: what cannot be read
// stays "" (or 0), which readers take as unknown. Every read is a small
// file, so ctx is consulted only for its values.
//
// Memory and the CPU model come through gopsutil. The hostname, kernel and
// OS are read here: gopsutil asks the running kernel (uname, os.Hostname)
// whatever the roots say, and names the OS by its ID and version rather than
// its PRETTY_NAME.
func Identify(ctx context.Context, r Roots) results.Host {
	gctx := r.ctx(ctx)
	h := results.Host{
		Hostname: readTrim(r.proc("sys", "kernel", "hostname")),
		Kernel:   readTrim(r.proc("sys", "kernel", "osrelease")),
	}
	if text, err := readString(r.file("etc", "os-release")); err == nil {
		h.OS = parseOSRelease(text)
	} else if text, err := readString(r.file("usr", "lib", "os-release")); err == nil {
		h.OS = parseOSRelease(text)
	}
	// A line gopsutil cannot parse ends its list there; what came before
	// still names the model.
	if infos, _ := cpu.InfoWithContext(gctx); len(infos) > 0 {
		h.CPUModel, h.Cores = cpuModel(infos), len(infos)
	}
	// The online list beats counting cpuinfo entries, as gopsutil does: it
	// is what the scheduler can use now (hot-unplugged CPUs still show in
	// cpuinfo on some kernels).
	if n := parseCPUList(readTrim(r.sys("devices", "system", "cpu", "online"))); n > 0 {
		h.Cores = n
	}
	if vm, err := mem.VirtualMemoryWithContext(gctx); err == nil {
		h.MemoryBytes = vm.Total
	}
	sig := ""
	if r.live() {
		sig = hypervisorSignature()
	}
	h.Virtualization = detectVirt(r, sig)
	h.Disks = listDisks(gctx, r)
	return h
}

// cpuModel is the first model name gopsutil found. On arm64 it names the
// core from its part number, and "Undefined" when it does not know it,
// which says no more than nothing.
func cpuModel(infos []cpu.InfoStat) string {
	for _, c := range infos {
		if m := strings.TrimSpace(c.ModelName); m != "" && m != "Undefined" {
			return m
		}
	}
	return ""
}

// listDisks names the whole disks of the roots in ctx, with their kinds.
func listDisks(ctx context.Context, r Roots) []results.Disk {
	counted, err := readDisks(ctx, nil)
	if err != nil {
		return nil
	}
	out := []results.Disk{}
	for _, n := range wholeDisks(r, slices.Collect(maps.Keys(counted))) {
		out = append(out, readDiskInfo(r, n))
	}
	return out
}

// parseOSRelease gives PRETTY_NAME, or NAME VERSION_ID.
func parseOSRelease(text string) string {
	kv := map[string]string{}
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	if p := kv["PRETTY_NAME"]; p != "" {
		return p
	}
	return strings.TrimSpace(kv["NAME"] + " " + kv["VERSION_ID"])
}

// parseCPUList counts the CPUs in a list such as "0-3,6,8-9".
func parseCPUList(s string) int {
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}
