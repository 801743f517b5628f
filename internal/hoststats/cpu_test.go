package hoststats

import (
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func stat(t *testing.T, path ...string) cpuTimes {
	t.Helper()
	c, err := parseProcStat(readFixture(t, path...))
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

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	c := stat(t, "thishost", "proc", "stat")
	if c.fields != 10 || c.user == 0 || c.idle == 0 {
		t.Errorf("thishost: %+v", c)
	}
	old, err := parseProcStat("cpu  10 0 5 100 1 0 0\n")
	if err != nil || old.fields != 7 {
		t.Errorf("2.6.9-style line: %+v %v", old, err)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2\n"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

func TestStealVisibility(t *testing.T) {
	t.Parallel()
	v := func(c, h string) results.Virtualization { return results.Virtualization{Container: c, Hypervisor: h} }
	stolen := cpuTimes{steal: 22, fields: 10}
	never := cpuTimes{fields: 10}
	for _, tc := range []struct {
		name  string
		last  cpuTimes
		virt  results.Virtualization
		lxcfs bool
		want  bool
	}{
		{"kvm guest with a steal clock", stolen, v("none", "kvm"), false, true},
		{"docker on a VM that steals", stolen, v("docker", "kvm"), false, true},
		{"bare metal", never, v("none", "none"), false, true},
		{"kvm guest without steal clock", never, v("none", "kvm"), false, false},
		{"openvz container", never, v("openvz", "none"), false, false},
		{"unknown virtualization", never, v("", ""), false, false},
		{"lxcfs hides it even if counted", stolen, v("lxc", "kvm"), true, false},
		{"no steal column", cpuTimes{fields: 7}, v("none", "none"), false, false},
	} {
		got, why := stealVisibility(tc.last, tc.virt, tc.lxcfs)
		if got != tc.want || (!got && why == "") {
			t.Errorf("%s: reported %v (%q), want %v", tc.name, got, why, tc.want)
		}
	}
}
