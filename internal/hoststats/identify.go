package hoststats

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// Identify says which machine this is. It never fails: what cannot be read
// stays "" (or 0), which readers take as unknown. Every read is a small
// file, so ctx is not consulted.
func Identify(ctx context.Context, r Roots) results.Host {
	h := results.Host{
		Hostname: readTrim(r.proc("sys", "kernel", "hostname")),
		Kernel:   readTrim(r.proc("sys", "kernel", "osrelease")),
	}
	if text, err := readString(r.file("etc", "os-release")); err == nil {
		h.OS = parseOSRelease(text)
	} else if text, err := readString(r.file("usr", "lib", "os-release")); err == nil {
		h.OS = parseOSRelease(text)
	}
	if text, err := readString(r.proc("cpuinfo")); err == nil {
		h.CPUModel, h.Cores = parseCPUInfo(text)
	}
	// The online list beats counting cpuinfo entries: it is what the
	// scheduler can use now (hot-unplugged CPUs still show in cpuinfo on
	// some kernels).
	if n := parseCPUList(readTrim(r.sys("devices", "system", "cpu", "online"))); n > 0 {
		h.Cores = n
	}
	if text, err := readString(r.proc("meminfo")); err == nil {
		h.MemoryBytes = parseMemTotal(text)
	}
	sig := ""
	if r.live() {
		sig = hypervisorSignature()
	}
	h.Virtualization = detectVirt(r, sig)
	h.Disks = listDisks(r)
	return h
}

// listDisks names the whole disks of /proc/diskstats, with their kinds.
func listDisks(r Roots) []results.Disk {
	text, err := readString(r.proc("diskstats"))
	if err != nil {
		return nil
	}
	ds, err := parseDiskstats(text)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ds))
	for n := range ds {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []results.Disk{}
	for _, n := range wholeDisks(r, names) {
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

// parseCPUInfo gives the CPU model and the number of processor entries.
// x86 says "model name"; arm64 has no model name and leaves "CPU part"
// codes, so "Hardware" or "Model" (Raspberry Pi) are the fallbacks.
func parseCPUInfo(text string) (model string, n int) {
	var fallback string
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			n++
		case "model name", "cpu model", "cpu":
			if model == "" {
				model = v
			}
		case "Hardware", "Model":
			if fallback == "" {
				fallback = v
			}
		}
	}
	if model == "" {
		model = fallback
	}
	return model, n
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

// parseMemTotal gives MemTotal from /proc/meminfo in bytes.
func parseMemTotal(text string) uint64 {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return atou64(f[0]) * 1024
			}
		}
	}
	return 0
}
