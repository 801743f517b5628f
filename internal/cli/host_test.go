package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostCLI runs meshbench host in-process against the given /proc and /sys
// roots ("" for this machine's).
func hostCLI(t *testing.T, fixture string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	w := World{Args: append([]string{"host"}, args...), Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }}
	if fixture != "" {
		base := filepath.Join("..", "hoststats", "testdata", fixture)
		w.ProcRoot, w.SysRoot = filepath.Join(base, "proc"), filepath.Join(base, "sys")
	}
	var out, errb bytes.Buffer
	w.Stdout, w.Stderr = &out, &errb
	code = Main(context.Background(), w)
	return out.String(), errb.String(), code
}

func TestHostBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml"}, `--format "xml"`},
		{[]string{"--probes", "jitter,fsnyc"}, `unknown probe "fsnyc"`},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--duration", "-1s"}, "--duration -1s"},
		{[]string{"--duration", "1s", "--interval", "2s"}, "--interval 2s"},
		{[]string{"--duration", "soon"}, "invalid argument"},
		{[]string{"extra"}, "unknown command"},
	} {
		_, stderr, code := hostCLI(t, "kvm-nvme", tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr)
		}
		oneLine(t, stderr, tc.want)
	}
}

// TestHostJSONOnFixture runs the command on the KVM/NVMe fixture: identity
// from files, a window in which nothing moves, the audit, and verdicts.
func TestHostJSONOnFixture(t *testing.T) {
	t.Parallel()
	out, stderr, code := hostCLI(t, "kvm-nvme", "--duration", "300ms", "--probes", "audit", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Host struct {
			Hostname       string
			Virtualization struct{ Container, Hypervisor string }
			Disks          []struct{ Name, Kind string }
		}
		HostStats struct {
			Samples int
			CPU     *struct {
				StealReported bool `json:"steal_reported"`
			}
			Disks  []struct{ Name, Scheduler string }
			Errors []string
		} `json:"host_stats"`
		HostQuality struct {
			Audit *struct {
				Checks []struct{ Name, Status string }
			}
			Verdicts []struct{ Check, Status, Threshold string }
		} `json:"host_quality"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	h := rep.Host
	if h.Hostname != "kvm-nvme-1" || h.Virtualization.Hypervisor != "kvm" || h.Virtualization.Container != "none" ||
		len(h.Disks) != 1 || h.Disks[0].Kind != "nvme" {
		t.Errorf("host %+v", h)
	}
	st := rep.HostStats
	if st.Samples < 3 || st.CPU == nil || !st.CPU.StealReported || len(st.Disks) != 1 || st.Disks[0].Scheduler != "none" {
		t.Errorf("host_stats %+v", st)
	}
	// The fixture has no /proc/net: said, not fatal.
	if !strings.Contains(strings.Join(st.Errors, ";"), "network") {
		t.Errorf("errors %v", st.Errors)
	}
	checks := map[string]string{}
	for _, v := range rep.HostQuality.Verdicts {
		checks[v.Check] = v.Status
		if v.Threshold == "" && v.Check != "psi" {
			t.Errorf("%s has no threshold", v.Check)
		}
	}
	if checks["cpu.steal"] != "ok" || checks["audit.net.core.somaxconn"] != "unknown" || rep.HostQuality.Audit == nil {
		t.Errorf("verdicts %v", checks)
	}
}

// TestHostLive runs every probe on this machine for a second, in the
// table and markdown formats.
func TestHostLive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, stderr, code := hostCLI(t, "", "--duration", "1s", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Host", "hypervisor", "Window", "steal", "Probes", "jitter sleep 1ms", "fsync", "Verdicts", "fsync.p99", "jitter.p999", "audit.open_files"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".meshbench-fsync-*")); len(left) > 0 {
		t.Errorf("fsync probe left %v", left)
	}

	md := filepath.Join(t.TempDir(), "host.md")
	out, stderr, code = hostCLI(t, "", "--duration", "200ms", "--probes", "none", "--format", "markdown", "--out", md)
	if code != 0 || out != "" || !strings.Contains(stderr, md) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "### Verdicts") || !regexp.MustCompile(`\| check +\| status +\|`).MatchString(s) || strings.Contains(s, "### Probes") {
		t.Errorf("markdown:\n%s", s)
	}
}

func TestHostInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	base := filepath.Join("..", "hoststats", "testdata", "thishost")
	code := Main(ctx, World{Args: []string{"host", "--duration", "30s", "--probes", "audit", "--format", "json"},
		Stdout: &out, Stderr: &errb, ProcRoot: filepath.Join(base, "proc"), SysRoot: filepath.Join(base, "sys")})
	if code != 130 || !json.Valid(out.Bytes()) {
		t.Errorf("exit %d, stderr %q, json valid %v", code, errb.String(), json.Valid(out.Bytes()))
	}
}
