package hoststats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/host"
)

func TestIdentifyFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fixture                   string
		hostname, kernel, os, cpu string
		cores                     int
		mem                       uint64
		container, hypervisor     string
	}{
		// CPUID cannot be read from a fixture and this host has no DMI, so
		// only the cpuinfo flag is left: a hypervisor, unnamed.
		{"thishost", "vm", "6.18.44-fc-v657", "Debian GNU/Linux 12 (bookworm)", "AMD EPYC", 2, 24684092 * 1024, "docker", "other"},
		{"kvm-nvme", "kvm-nvme-1", "6.8.0-45-generic", "Ubuntu 24.04.1 LTS", "AMD EPYC 7543 32-Core Processor", 4, 8129052 * 1024, "none", "kvm"},
		{"openvz", "ovz-ct-101", "3.10.0-1160.80.1.vz7.191.4", "CentOS Linux 7 (Core)", "Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz", 2, 2097152 * 1024, "openvz", "none"},
		// No os-release before 2007, no /sys in the tree: cores are counted
		// from cpuinfo.
		{"nosteal", "rhel4-db1", "2.6.9-89.ELsmp", "", "Intel(R) Xeon(TM) CPU 3.00GHz", 2, 2074240 * 1024, "none", "none"},
	} {
		h := Identify(context.Background(), fixture(tc.fixture))
		if h.Hostname != tc.hostname || h.Kernel != tc.kernel || h.OS != tc.os || h.CPUModel != tc.cpu ||
			h.Cores != tc.cores || h.MemoryBytes != tc.mem ||
			h.Virtualization.Container != tc.container || h.Virtualization.Hypervisor != tc.hypervisor {
			t.Errorf("%s: %+v", tc.fixture, h)
		}
		if tc.container != "none" && len(h.Virtualization.Evidence) == 0 {
			t.Errorf("%s: no evidence", tc.fixture)
		}
	}
}

func TestIdentifyEmptyRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := Identify(context.Background(), Roots{Proc: filepath.Join(dir, "proc"), Sys: filepath.Join(dir, "sys")})
	if h.Hostname != "" || h.Cores != 0 || h.Virtualization.Hypervisor != "" || len(h.Disks) != 0 {
		t.Errorf("nothing to read, yet: %+v", h)
	}
}

func TestHypervisorSignatures(t *testing.T) {
	t.Parallel()
	r := fixture("thishost")
	for sig, want := range map[string]string{
		"KVMKVMKVM\x00\x00\x00": "kvm", "Microsoft Hv": "hyperv", "VMwareVMware": "vmware",
		"XenVMMXenVMM": "xen", "bhyve bhyve ": "bhyve", "NewVisor123!": "other",
	} {
		if got, ev := detectHypervisor(r, sig); got != want || len(ev) != 1 {
			t.Errorf("signature %q: %s %v, want %s", sig, got, ev, want)
		}
	}
	// This host as systemd-detect-virt sees it: docker on kvm.
	v := detectVirt(r, "KVMKVMKVM\x00\x00\x00")
	if v.Container != "docker" || v.Hypervisor != "kvm" || !strings.Contains(strings.Join(v.Evidence, " "), "no DMI") {
		t.Errorf("thishost: %+v", v)
	}
	// DMI that names Xen wins over a KVM-looking signature (Xen HVM guests).
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sys/class/dmi/id"), 0o755)
	os.WriteFile(filepath.Join(dir, "sys/class/dmi/id/product_name"), []byte("HVM domU\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sys/class/dmi/id/sys_vendor"), []byte("Xen\n"), 0o644)
	if got, _ := detectHypervisor(Roots{Proc: filepath.Join(dir, "proc"), Sys: filepath.Join(dir, "sys")}, "Microsoft Hv"); got != "xen" {
		t.Errorf("Xen DMI with Hyper-V signature: %s", got)
	}
}

func TestContainerFiles(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"run/.containerenv":         "podman",
		".dockerenv":                "docker",
		"run/systemd/container":     "systemd-nspawn",
		"proc/1/cgroup":             "lxc",
		"proc/sys/kernel/osrelease": "wsl",
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, file)
		os.MkdirAll(filepath.Dir(p), 0o755)
		content := map[string]string{"run/systemd/container": "systemd-nspawn\n", "proc/1/cgroup": "0::/lxc.payload.web/init.scope\n",
			"proc/sys/kernel/osrelease": "5.15.153.1-microsoft-standard-WSL2\n"}[file]
		os.WriteFile(p, []byte(content), 0o644)
		if got, _ := detectContainer(Roots{Proc: filepath.Join(dir, "proc")}); got != want {
			t.Errorf("%s: %s, want %s", file, got, want)
		}
	}
}

// TestIdentifyLive checks this machine: whatever CPUID says about a
// hypervisor, Identify must name one when it is there.
func TestIdentifyLive(t *testing.T) {
	t.Parallel()
	h := Identify(context.Background(), Roots{})
	if h.Kernel == "" || h.Cores == 0 || h.MemoryBytes == 0 {
		t.Errorf("live host: %+v", h)
	}
	if sig := hypervisorSignature(); sig != "" {
		if hv := h.Virtualization.Hypervisor; hv == "" || hv == "none" || hv == "other" && signatures[sig] != "" {
			t.Errorf("CPUID says %q, Identify says %q", sig, hv)
		}
	}
	t.Logf("%s: %s on %s (%v)", h.Hostname, h.Virtualization.Container, h.Virtualization.Hypervisor, h.Virtualization.Evidence)
}

// TestGopsutilVirtualization is why virt.go exists: on the KVM guest
// fixture gopsutil finds no hypervisor, and asked next about the docker
// on KVM snapshot it repeats its cached first answer. This is the only
// test in the package that calls it, so its cache starts empty here.
func TestGopsutilVirtualization(t *testing.T) {
	t.Parallel()
	kvm, thisHost := fixture("kvm-nvme"), fixture("thishost")
	sys1, _, err := host.VirtualizationWithContext(kvm.ctx(context.Background()))
	if err != nil || sys1 == "kvm" {
		t.Errorf("gopsutil on the KVM guest: %q, %v; virt.go may be replaceable", sys1, err)
	}
	sys2, _, _ := host.VirtualizationWithContext(thisHost.ctx(context.Background()))
	if sys2 != sys1 {
		t.Errorf("gopsutil answered %q then %q: no longer cached per process", sys1, sys2)
	}
	if v := detectVirt(kvm, ""); v.Hypervisor != "kvm" || v.Container != "none" {
		t.Errorf("detectVirt on the KVM guest: %+v", v)
	}
	if v := detectVirt(thisHost, "KVMKVMKVM\x00\x00\x00"); v.Hypervisor != "kvm" || v.Container != "docker" {
		t.Errorf("detectVirt on docker on KVM: %+v", v)
	}
}
