package hoststats

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

func TestRunProbesRejectsUnknown(t *testing.T) {
	t.Parallel()
	q, err := RunProbes(context.Background(), Roots{}, []string{"jitter", "fsnyc"}, t.TempDir())
	if q != nil || !errext.IsBadInput(err) {
		t.Errorf("got %v, %v; want a bad-input error", q, err)
	}
}

// TestRunProbesFitDeadline runs the jitter and fsync probes for real in a
// 600 ms budget: they must shrink to fit and still measure. How long they
// took is not asserted: on a loaded machine a wake-up can come late.
func TestRunProbesFitDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	q, err := RunProbes(ctx, Roots{}, []string{"jitter", "fsync"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j, f := q.Jitter, q.Fsync
	if j == nil || j.Error != "" || j.Sleep.Samples < 20 || j.Busy.Samples < 20 || j.CPUSeconds <= 0 {
		t.Errorf("jitter %+v", j)
	}
	// Spinning costs its whole half in CPU; sleeping almost none.
	if j != nil && j.CPUSeconds > j.Sleep.DurationS+j.Busy.DurationS+0.05 {
		t.Errorf("jitter used %vs of CPU in %vs", j.CPUSeconds, j.Sleep.DurationS+j.Busy.DurationS)
	}
	if f == nil || f.Error != "" || f.Ops == 0 || f.P99Ms <= 0 || f.BlockBytes != 2300 || f.OpsPerS <= 0 {
		t.Errorf("fsync %+v", f)
	}
	if q.Audit != nil || len(q.Verdicts) != 2 {
		t.Errorf("audit %+v verdicts %+v", q.Audit, q.Verdicts)
	}
}

func TestAuditThisHost(t *testing.T) {
	t.Parallel()
	q, err := RunProbes(context.Background(), fixture("thishost"), []string{"audit"}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range q.Audit.Checks {
		got[c.Name] = c.Status
		if (c.Status == "warn") != (c.Fix != "") {
			t.Errorf("%s: status %s with fix %q", c.Name, c.Status, c.Fix)
		}
	}
	want := map[string]string{"open_files": "warn", "net.core.somaxconn": "ok", "net.ipv4.tcp_tw_reuse": "warn",
		"cpu_governor": "unknown", "transparent_hugepages": "ok"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	// The fixture has no files for these: unknown, not ok and not a miss.
	q, _ = RunProbes(context.Background(), fixture("openvz"), []string{"audit"}, "")
	for _, c := range q.Audit.Checks {
		if c.Status != "unknown" {
			t.Errorf("openvz %s: %s (%s)", c.Name, c.Status, c.Value)
		}
	}
}

func TestAuditChecks(t *testing.T) {
	t.Parallel()
	if c := auditNofile("Max open files            1024                 1048576              files\n"); c.Status != "ok" || c.Value != "soft 1024, hard 1048576" {
		t.Errorf("nofile %+v", c)
	}
	if c := auditGovernor([]string{"performance", "powersave"}); c.Status != "warn" || c.Value != "performance,powersave" {
		t.Errorf("governor %+v", c)
	}
	if c := auditTHP("[always] madvise never\n"); c.Status != "warn" || c.Fix == "" {
		t.Errorf("thp %+v", c)
	}
	if c := auditSysctl("net.core.somaxconn", "128", 4096, false, "fix"); c.Status != "warn" {
		t.Errorf("somaxconn %+v", c)
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	if b := budget(context.Background(), 2*time.Second, 2); b != 2*time.Second {
		t.Errorf("no deadline: %v", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if b := budget(ctx, 2*time.Second, 2); b > 450*time.Millisecond || b < 400*time.Millisecond {
		t.Errorf("1s for two probes: %v each", b)
	}
}

func TestJitterLoopsSummaries(t *testing.T) {
	t.Parallel()
	l := busyLoop(context.Background(), 50*time.Millisecond)
	if l.Samples < 10 || l.P50Ms > l.P99Ms || l.P99Ms > l.MaxMs || l.LostPct < 0 || l.LostPct > 100 {
		t.Errorf("busy %+v", l)
	}
	var _ results.JitterLoop = sleepLoop(context.Background(), 20*time.Millisecond)
}

func TestBeyondMedian(t *testing.T) {
	t.Parallel()
	h := results.NewHistogram()
	for i := range 100 {
		v := 100 * time.Microsecond // the usual slack
		if i%10 == 0 {
			v = 1100 * time.Microsecond // a 1 ms hiccup beyond it
		}
		_ = h.RecordValue(int64(v))
	}
	if got := beyondMedian(h); got < 9900*time.Microsecond || got > 10100*time.Microsecond {
		t.Errorf("beyond median %v, want about 10ms", got)
	}
}

func TestFsyncLeavesNoTrace(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "results")
	f := runFsync(context.Background(), Roots{}, dir, 30*time.Millisecond)
	if f.Error != "" || f.Ops == 0 {
		t.Errorf("fsync %+v", f)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s was left behind (%v)", dir, err)
	}
}

// TestFsyncRemovesWhatItMade: the probe's directory and every parent it had
// to create are gone afterwards; a directory that held something before is
// kept.
func TestFsyncRemovesWhatItMade(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	p := runFsync(context.Background(), Roots{}, filepath.Join(base, "a", "b", "c"), 50*time.Millisecond)
	if p.Error != "" || p.Ops == 0 {
		t.Fatalf("fsync %+v", p)
	}
	if left, _ := os.ReadDir(base); len(left) != 0 {
		t.Errorf("left behind in %s: %v", base, left)
	}
	// An existing directory with a file of its own: kept, and the file too.
	keep := filepath.Join(base, "keep")
	os.MkdirAll(keep, 0o755)
	os.WriteFile(filepath.Join(keep, "mine"), nil, 0o644)
	if p := runFsync(context.Background(), Roots{}, filepath.Join(keep, "x", "y"), 20*time.Millisecond); p.Error != "" {
		t.Fatalf("fsync %+v", p)
	}
	if left, _ := os.ReadDir(keep); len(left) != 1 || left[0].Name() != "mine" {
		t.Errorf("in %s: %v", keep, left)
	}
	// A parent that cannot be made: the error is the probe's, nothing made.
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	if p := runFsync(context.Background(), Roots{}, filepath.Join(file, "sub"), 20*time.Millisecond); p.Error == "" {
		t.Error("no error under a file")
	}
}
