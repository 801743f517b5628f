package hoststats

import (
	"path/filepath"
	"testing"
)

// TestLive: fixture trees are not asked of the machine; the machine's own
// procfs and sysfs are, by their usual names and under another path (as a
// node's /proc is under HOST_PROC in a container). /proc/self/root/proc
// reaches this machine's procfs by a path other than /proc.
func TestLive(t *testing.T) {
	t.Parallel()
	fixture := filepath.Join("testdata", "kvm-nvme")
	for _, tc := range []struct {
		r    Roots
		want bool
	}{
		{Roots{}, true},
		{Roots{Proc: "/proc/", Sys: "/sys"}, true},
		{Roots{Proc: "/proc/self/root/proc", Sys: "/proc/self/root/sys"}, true},
		{Roots{Proc: filepath.Join(fixture, "proc"), Sys: filepath.Join(fixture, "sys")}, false},
		{Roots{Proc: "/proc/self/root/proc", Sys: filepath.Join(fixture, "sys")}, false},
		{Roots{Proc: filepath.Join(fixture, "proc")}, false},
		{Roots{Proc: "/no/such/proc", Sys: "/no/such/sys"}, false},
	} {
		if got := tc.r.live(); got != tc.want {
			t.Errorf("%+v: live %v, want %v", tc.r, got, tc.want)
		}
	}
}
