package hoststats

import (
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func statusOf(vs []results.Verdict, check string) (results.Verdict, bool) {
	for _, v := range vs {
		if v.Check == check {
			return v, true
		}
	}
	return results.Verdict{}, false
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	cpu := func(steal float64, reported bool) *results.HostStats {
		return &results.HostStats{CPU: &results.CPUStats{StealPct: steal, StealMaxPct: steal, StealReported: reported, StealWhy: "hidden"}}
	}
	for _, tc := range []struct {
		name   string
		q      *results.HostQuality
		stats  []*results.HostStats
		check  string
		status string
	}{
		{"steal 12% fails", nil, []*results.HostStats{cpu(1, true), cpu(12, true)}, "cpu.steal", "fail"},
		{"steal 6% warns", nil, []*results.HostStats{cpu(6, true)}, "cpu.steal", "warn"},
		{"steal 5% is ok", nil, []*results.HostStats{cpu(5, true)}, "cpu.steal", "ok"},
		{"unreported steal is unknown", nil, []*results.HostStats{cpu(0, false)}, "cpu.steal", "unknown"},
		{"unsampled windows are skipped", nil, []*results.HostStats{nil, cpu(0, true)}, "cpu.steal", "ok"},
		{"cpu unreadable", nil, []*results.HostStats{{Errors: []string{"cpu: no /proc/stat"}}}, "cpu.steal", "unknown"},
		{"no psi is unknown", nil, []*results.HostStats{cpu(0, true)}, "psi", "unknown"},
		{"io pressure", nil, []*results.HostStats{{PSI: &results.PSIStats{IOSomePct: 30}}}, "psi.io", "fail"},
		{"memory stalls", nil, []*results.HostStats{{PSI: &results.PSIStats{MemorySomePct: 6}}}, "psi.memory", "warn"},
		{"throttled", nil, []*results.HostStats{{Cgroup: &results.CgroupStats{ThrottledPct: 3}}}, "cgroup.throttling", "warn"},
		{"listen overflows", nil, []*results.HostStats{{Network: &results.NetStats{ListenOverflows: 1}}}, "tcp.listen_overflows", "warn"},
		{"slow fsync", &results.HostQuality{Fsync: &results.FsyncProbe{Ops: 100, P99Ms: 12}}, nil, "fsync.p99", "fail"},
		{"fast fsync", &results.HostQuality{Fsync: &results.FsyncProbe{Ops: 100, P99Ms: 0.4}}, nil, "fsync.p99", "ok"},
		{"fsync on tmpfs", &results.HostQuality{Fsync: &results.FsyncProbe{Ops: 100, P99Ms: 0.01, Filesystem: "tmpfs"}}, nil, "fsync.p99", "unknown"},
		{"fsync failed", &results.HostQuality{Fsync: &results.FsyncProbe{Error: "read-only file system"}}, nil, "fsync.p99", "unknown"},
		{"jittery", &results.HostQuality{Jitter: &results.JitterProbe{Sleep: results.JitterLoop{Samples: 9, P999Ms: 0.2}, Busy: results.JitterLoop{Samples: 9, P999Ms: 1.5}}}, nil, "jitter.p999", "warn"},
		{"steady", &results.HostQuality{Jitter: &results.JitterProbe{Sleep: results.JitterLoop{Samples: 9, P999Ms: 0.3}}}, nil, "jitter.p999", "ok"},
		{"audit miss", &results.HostQuality{Audit: &results.AuditProbe{Checks: []results.AuditCheck{{Name: "net.core.somaxconn", Status: "warn", Want: "≥ 4096", Fix: "sysctl"}}}}, nil, "audit.net.core.somaxconn", "warn"},
	} {
		vs := Verdicts(tc.q, tc.stats)
		v, ok := statusOf(vs, tc.check)
		if !ok || v.Status != tc.status || v.Threshold == "" && tc.check != "psi" {
			t.Errorf("%s: %s = %+v (found %v), want %s", tc.name, tc.check, v, ok, tc.status)
		}
		if (v.Status == "warn" || v.Status == "fail") && v.Fix == "" {
			t.Errorf("%s: %s has no fix", tc.name, tc.check)
		}
	}
	if vs := Verdicts(nil, []*results.HostStats{nil}); len(vs) != 0 {
		t.Errorf("nothing measured, yet %+v", vs)
	}
}
