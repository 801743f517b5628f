package hoststats

import (
	"fmt"
	"os"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// The virtualization layers are found here because gopsutil's
// host.Virtualization does not do the job: it names one layer (a docker
// container on KVM is "docker", the hypervisor lost), knows a KVM guest only
// by a "QEMU Virtual CPU" model name (most clouds pass the host's CPU
// through), reads no DMI or CPUID, and keeps its first answer for the whole
// process, whatever roots later calls give (TestGopsutilVirtualization).

// detectVirt finds the two layers systemd-detect-virt reports: the
// container this process runs in and the hypervisor under the kernel. sig
// is the CPUID hypervisor signature ("" when unknown or absent); it is
// passed in because CPUID describes the CPU running this code, not a fixture.
func detectVirt(r Roots, sig string) results.Virtualization {
	var v results.Virtualization
	v.Container, v.Evidence = detectContainer(r)
	hv, ev := detectHypervisor(r, sig)
	v.Hypervisor = hv
	v.Evidence = append(v.Evidence, ev...)
	return v
}

// knownContainer maps the value of a "container=" variable (PID 1's
// environment, /run/systemd/container) to a name.
func knownContainer(val string) string {
	switch val = strings.TrimSpace(val); val {
	case "":
		return ""
	case "docker", "lxc", "podman", "systemd-nspawn", "rkt", "wsl", "proot", "pouch":
		return val
	case "lxc-libvirt":
		return "lxc"
	default:
		return "other"
	}
}

// detectContainer follows systemd's detect_container, in its order, plus
// the cgroup paths that docker and lxc leave when PID 1's environment
// cannot be read.
func detectContainer(r Roots) (string, []string) {
	if exists(r.proc("vz")) && !exists(r.proc("bc")) {
		// An OpenVZ host node has both /proc/vz and /proc/bc; a container
		// only the first.
		ev := "/proc/vz without /proc/bc"
		if exists(r.proc("user_beancounters")) {
			ev += ", /proc/user_beancounters"
		}
		return "openvz", []string{"container openvz: " + ev}
	}
	if rel := readTrim(r.proc("sys", "kernel", "osrelease")); strings.Contains(rel, "Microsoft") || strings.Contains(rel, "WSL") {
		return "wsl", []string{"container wsl: kernel release " + rel}
	}
	if env, err := os.ReadFile(r.proc("1", "environ")); err == nil {
		for _, kv := range strings.Split(string(env), "\x00") {
			if val, ok := strings.CutPrefix(kv, "container="); ok {
				if c := knownContainer(val); c != "" {
					return c, []string{"container " + c + ": PID 1 has container=" + val}
				}
			}
		}
	}
	if val := readTrim(r.file("run", "systemd", "container")); val != "" {
		c := knownContainer(val)
		return c, []string{"container " + c + ": /run/systemd/container says " + val}
	}
	if exists(r.file("run", ".containerenv")) {
		return "podman", []string{"container podman: /run/.containerenv"}
	}
	if exists(r.file(".dockerenv")) {
		return "docker", []string{"container docker: /.dockerenv"}
	}
	for _, f := range []string{r.proc("1", "cgroup"), r.proc("self", "cgroup")} {
		text, err := readString(f)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(text, "/docker/") || strings.Contains(text, "/docker-"):
			return "docker", []string{"container docker: cgroup path in " + f}
		case strings.Contains(text, "/lxc/") || strings.Contains(text, "lxc.payload"):
			return "lxc", []string{"container lxc: cgroup path in " + f}
		case strings.Contains(text, "kubepods"):
			return "other", []string{"container other: kubepods cgroup in " + f}
		}
	}
	return "none", nil
}

// signatures are the CPUID leaf 0x40000000 vendor strings.
var signatures = map[string]string{
	"KVMKVMKVM\x00\x00\x00": "kvm",
	"Linux KVM Hv":          "kvm", // KVM offering Hyper-V enlightenments
	"TCGTCGTCGTCG":          "qemu",
	"VMwareVMware":          "vmware",
	"Microsoft Hv":          "hyperv",
	"XenVMMXenVMM":          "xen",
	"bhyve bhyve ":          "bhyve",
	"ACRNACRNACRN":          "acrn",
	" lrpepyh  vr":          "parallels",
	"QNXQVMBSQG\x00\x00":    "qnx",
	"SRESRESRESRE":          "sre",
	"VBoxVBoxVBox":          "oracle",
}

// dmiVendors map DMI strings to hypervisors, as systemd's table does.
var dmiVendors = []struct{ prefix, name string }{
	{"KVM", "kvm"}, {"OpenStack", "kvm"}, {"KubeVirt", "kvm"},
	{"Amazon EC2", "amazon"}, {"QEMU", "qemu"}, {"VMware", "vmware"}, {"VMW", "vmware"},
	{"innotek GmbH", "oracle"}, {"VirtualBox", "oracle"}, {"Oracle Corporation", "oracle"},
	{"Xen", "xen"}, {"Bochs", "bochs"}, {"Parallels", "parallels"}, {"BHYVE", "bhyve"},
	{"Hyper-V", "hyperv"}, {"Apple Virtualization", "apple"}, {"Google Compute Engine", "google"},
}

// detectHypervisor follows systemd's detect_vm: DMI first when it names a
// hypervisor that CPUID would mislabel (Xen HVM, VirtualBox and EC2 Nitro
// show KVM- or Hyper-V-like signatures), then /sys/hypervisor, the CPUID
// signature, the rest of DMI, /proc/xen, the device tree, and last the
// cpuinfo "hypervisor" flag, which proves a hypervisor without naming it.
func detectHypervisor(r Roots, sig string) (string, []string) {
	dmi, dmiEv := "", ""
	for _, f := range []string{"product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version"} {
		val := readTrim(r.sys("class", "dmi", "id", f))
		for _, d := range dmiVendors {
			if val != "" && strings.HasPrefix(val, d.prefix) {
				dmi, dmiEv = d.name, fmt.Sprintf("DMI %s %q", f, val)
				break
			}
		}
		if f == "sys_vendor" && val == "Microsoft Corporation" && strings.Contains(readTrim(r.sys("class", "dmi", "id", "product_name")), "Virtual Machine") {
			dmi, dmiEv = "hyperv", "DMI Microsoft Virtual Machine"
		}
		if dmi != "" {
			break
		}
	}
	say := func(name, why string) (string, []string) {
		return name, []string{"hypervisor " + name + ": " + why}
	}
	if dmi == "xen" || dmi == "oracle" || dmi == "amazon" {
		return say(dmi, dmiEv)
	}
	if t := readTrim(r.sys("hypervisor", "type")); t == "xen" {
		return say("xen", "/sys/hypervisor/type is xen")
	}
	if sig != "" {
		name, ok := signatures[sig]
		if !ok {
			name = "other"
		}
		why := fmt.Sprintf("CPUID signature %q", strings.TrimRight(sig, "\x00"))
		if dmi == "" && !exists(r.sys("class", "dmi", "id")) {
			// Worth saying: it is why tools that read only DMI see nothing.
			why += "; no DMI tables (a microVM such as Firecracker gives none)"
		}
		return say(name, why)
	}
	if dmi != "" {
		return say(dmi, dmiEv)
	}
	if exists(r.proc("xen")) {
		return say("xen", "/proc/xen")
	}
	if c := readTrim(r.proc("device-tree", "hypervisor", "compatible")); c != "" {
		switch {
		case strings.Contains(c, "linux,kvm"):
			return say("kvm", "device tree hypervisor "+c)
		case strings.Contains(c, "xen"):
			return say("xen", "device tree hypervisor "+c)
		}
		return say("other", "device tree hypervisor "+c)
	}
	if text, err := readString(r.proc("cpuinfo")); err == nil {
		if strings.Contains(text, "User Mode Linux") {
			return say("uml", "cpuinfo says User Mode Linux")
		}
		if cpuinfoHasFlag(text, "hypervisor") {
			return say("other", "cpuinfo has the hypervisor flag but nothing names it")
		}
		return "none", nil
	}
	return "", nil
}

func cpuinfoHasFlag(cpuinfo, flag string) bool {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			if f == flag {
				return true
			}
		}
		return false
	}
	return false
}
