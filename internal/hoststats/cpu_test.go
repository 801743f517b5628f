package hoststats

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

// procWith makes a proc root in a temp dir whose file name holds the
// fixture at path, so a snapshot kept as stat.1 can be read through
// gopsutil as <root>/stat.
func procWith(t *testing.T, name string, path ...string) Roots {
	t.Helper()
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name), []byte(readFixture(t, path...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return Roots{Proc: root, Sys: filepath.Join(root, "no-sys")}
}

// stat reads a /proc/stat fixture through gopsutil.
func stat(t *testing.T, path ...string) cpuTimes {
	t.Helper()
	c, err := readCPU(procWith(t, "stat", path...).ctx(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCPUStealTwelvePercent(t *testing.T) {
	t.Parallel()
	c := cpuShares(stat(t, "steal12", "stat.1"), stat(t, "steal12", "stat.2"))
	// 300 of the 400 user ticks were guest time; counting them again would
	// make the total 1300 and steal 9.23%.
	want := results.CPUStats{UserPct: 40, SystemPct: 15, IdlePct: 25, IowaitPct: 6, IrqPct: 2, StealPct: 12}
	if c != want {
		t.Errorf("shares = %+v, want %+v", c, want)
	}
}

func TestCPUCountersGoingBackwards(t *testing.T) {
	t.Parallel()
	c := cpuShares(stat(t, "backwards", "stat.1"), stat(t, "backwards", "stat.2"))
	// idle and iowait went down: they count as 0, not as negative time.
	if c.IdlePct != 0 || c.IowaitPct != 0 {
		t.Errorf("idle %v iowait %v, want 0", c.IdlePct, c.IowaitPct)
	}
	if c.UserPct != 50 || c.SystemPct != 30 || c.IrqPct != 20 {
		t.Errorf("shares = %+v, want user 50 system 30 irq 20", c)
	}
	// Nothing elapsed: all zero, no NaN.
	same := stat(t, "backwards", "stat.1")
	if z := cpuShares(same, same); z != (results.CPUStats{}) {
		t.Errorf("no time elapsed: %+v", z)
	}
}

func TestReadCPU(t *testing.T) {
	t.Parallel()
	c := stat(t, "thishost", "proc", "stat")
	if c.User != 10739 || c.Idle != 1334623 || c.Steal != 22 || c.Guest != 0 {
		t.Errorf("thishost: %+v", c)
	}
	empty := Roots{Proc: t.TempDir()}
	if _, err := readCPU(empty.ctx(context.Background())); err == nil {
		t.Error("no /proc/stat, no error")
	}
}

// TestStealColumnAbsent is why hasStealColumn exists: on a kernel whose
// /proc/stat stops at seven counters, gopsutil gives steal 0 as it would
// for a steal clock that counted nothing, and only the column count tells
// the two apart.
func TestStealColumnAbsent(t *testing.T) {
	t.Parallel()
	old := stat(t, "nosteal", "proc", "stat")
	if old.Steal != 0 || old.User != 482133 {
		t.Fatalf("gopsutil on a 2.6.9 /proc/stat: %+v", old)
	}
	col, err := hasStealColumn(readFixture(t, "nosteal", "proc", "stat"))
	if err != nil || col {
		t.Errorf("2.6.9 /proc/stat: steal column %v, %v", col, err)
	}
	for _, f := range [][]string{{"thishost", "proc", "stat"}, {"openvz", "proc", "stat"}, {"steal12", "stat.1"}} {
		if col, err := hasStealColumn(readFixture(t, f...)); err != nil || !col {
			t.Errorf("%v: steal column %v, %v", f, col, err)
		}
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2\n"} {
		if _, err := hasStealColumn(bad); err == nil {
			t.Errorf("hasStealColumn(%q): no error", bad)
		}
	}
	// Through the sampler: reported as unreported, with the reason, even
	// on bare metal where a real 0 would be believed.
	st := StartSampler(context.Background(), fixture("nosteal"), 0).Stop()
	if st.CPU == nil || st.CPU.StealReported || st.CPU.StealWhy != "this kernel's /proc/stat has no steal column" {
		t.Errorf("nosteal sampler cpu: %+v", st.CPU)
	}
}

func TestStealVisibility(t *testing.T) {
	t.Parallel()
	v := func(c, h string) results.Virtualization { return results.Virtualization{Container: c, Hypervisor: h} }
	stolen := cpuTimes{Steal: 22}
	never := cpuTimes{}
	for _, tc := range []struct {
		name   string
		column bool
		last   cpuTimes
		virt   results.Virtualization
		lxcfs  bool
		want   bool
	}{
		{"kvm guest with a steal clock", true, stolen, v("none", "kvm"), false, true},
		{"docker on a VM that steals", true, stolen, v("docker", "kvm"), false, true},
		{"bare metal", true, never, v("none", "none"), false, true},
		{"kvm guest without steal clock", true, never, v("none", "kvm"), false, false},
		{"openvz container", true, never, v("openvz", "none"), false, false},
		{"unknown virtualization", true, never, v("", ""), false, false},
		{"lxcfs hides it even if counted", true, stolen, v("lxc", "kvm"), true, false},
		{"no steal column", false, never, v("none", "none"), false, false},
	} {
		got, why := stealVisibility(tc.column, tc.last, tc.virt, tc.lxcfs)
		if got != tc.want || (!got && why == "") {
			t.Errorf("%s: reported %v (%q), want %v", tc.name, got, why, tc.want)
		}
	}
}
