package hoststats

import (
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func TestCgroupV1ThisHost(t *testing.T) {
	t.Parallel()
	c, err := findCgroupCPU(fixture("thishost"))
	if err != nil {
		t.Fatal(err)
	}
	// Hybrid layout: the unified cpu.stat has no throttling, the v1 cpu
	// hierarchy does.
	if c.version != "v1" || c.dir != filepath.Join("testdata/thishost/sys/fs/cgroup/cpu") {
		t.Errorf("found %+v", c)
	}
	cc, err := readCgroup(c)
	if err != nil || cc.quotaCores != 0 {
		t.Errorf("%+v %v", cc, err)
	}
}

func TestCgroupV2Throttling(t *testing.T) {
	t.Parallel()
	c, err := findCgroupCPU(fixture("kvm-nvme"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readCgroup(c)
	if err != nil {
		t.Fatal(err)
	}
	got := cgroupDelta(c, cgroupCounters{}, b)
	want := results.CgroupStats{Version: "v2", Path: "/system.slice/meshbench.service", QuotaCores: 2,
		Periods: 1200, Throttled: 36, ThrottledS: 0.912, ThrottledPct: 3}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}
}

func TestCgroupParsing(t *testing.T) {
	t.Parallel()
	v2, v1 := parseProcCgroup("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n")
	if v2 != "/docker/abc" || v1 != "/docker/abc" {
		t.Errorf("v2 %q v1 %q", v2, v1)
	}
	// v1 counts throttled time in ns, v2 in µs.
	if c := parseCPUStat("nr_periods 10\nnr_throttled 2\nthrottled_time 5000000\n"); c.throttledUs != 5000 || c.throttled != 2 {
		t.Errorf("v1 %+v", c)
	}
	for in, want := range map[string]float64{"max 100000": 0, "50000 100000": 0.5, "": 0} {
		if got := parseCPUMax(in); got != want {
			t.Errorf("cpu.max %q = %v", in, got)
		}
	}
	if _, err := findCgroupCPU(fixture("openvz")); err == nil {
		t.Error("openvz has no /sys but a cgroup was found")
	}
	// A counter reset (the cgroup was recreated) gives 0, not a negative.
	if d := cgroupDelta(cgroupCPU{}, cgroupCounters{periods: 10, throttled: 5}, cgroupCounters{}); d.Throttled != 0 || d.Periods != 0 {
		t.Errorf("reset: %+v", d)
	}
}
