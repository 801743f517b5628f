package hoststats

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/results"
)

// replace swaps a file for another atomically, as the kernel's counters
// never appear half-written to a reader.
func replace(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

func TestSamplerOnThisHostSnapshots(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	copyTree(t, "testdata/thishost", root)
	r := Roots{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys")}
	s := StartSampler(context.Background(), r, 20*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	for _, f := range []string{"stat", "diskstats", "pressure/cpu", "pressure/io", "pressure/memory", "net/snmp", "net/netstat"} {
		replace(t, filepath.Join(root, "later/proc", f), filepath.Join(r.Proc, f))
	}
	time.Sleep(50 * time.Millisecond)
	st := s.Stop()
	if st != s.Stop() {
		t.Error("a second Stop gave another result")
	}
	if len(st.Errors) > 0 {
		t.Errorf("errors: %v", st.Errors)
	}
	if st.Samples < 3 || st.DurationS <= 0 {
		t.Errorf("samples %d over %vs", st.Samples, st.DurationS)
	}
	want := cpuShares(stat(t, "thishost", "proc", "stat"), stat(t, "thishost", "later", "proc", "stat"))
	if st.CPU == nil || st.CPU.UserPct != want.UserPct || st.CPU.IdlePct != want.IdlePct || !st.CPU.StealReported {
		t.Errorf("cpu %+v, want %+v reported", st.CPU, want)
	}
	if len(st.Disks) != 1 || st.Disks[0].Name != "vda" || st.Disks[0].Kind != "virtio" ||
		st.Disks[0].WriteIOPS <= 0 || st.Disks[0].Scheduler != "mq-deadline" || st.Disks[0].HWQueues != 1 {
		t.Errorf("disks %+v", st.Disks)
	}
	if st.PSI == nil || st.PSI.IOSomePct <= 0 || st.Network == nil || st.Cgroup == nil || st.Cgroup.Version != "v1" {
		t.Errorf("psi %+v network %+v cgroup %+v", st.PSI, st.Network, st.Cgroup)
	}
}

func TestSamplerNeverFails(t *testing.T) {
	t.Parallel()
	st := StartSampler(context.Background(), fixture("openvz"), 10*time.Millisecond).Stop()
	joined := strings.Join(st.Errors, "\n")
	if !strings.Contains(joined, "psi:") || !strings.Contains(joined, "cgroup:") || st.PSI != nil || st.Cgroup != nil {
		t.Errorf("openvz: errors %q psi %+v cgroup %+v", st.Errors, st.PSI, st.Cgroup)
	}
	if st.CPU == nil || st.CPU.StealReported || st.CPU.StealWhy == "" {
		t.Errorf("openvz steal should be unreported: %+v", st.CPU)
	}
	if len(st.Disks) != 1 || st.Disks[0].Name != "ploop15252" || st.Network == nil {
		t.Errorf("openvz disks %+v network %+v", st.Disks, st.Network)
	}
	// Nothing at all to read.
	empty := t.TempDir()
	st = StartSampler(context.Background(), Roots{Proc: empty, Sys: empty}, time.Millisecond).Stop()
	if st.CPU != nil || st.PSI != nil || len(st.Disks) != 0 || len(st.Errors) < 4 {
		t.Errorf("empty root: %+v", st)
	}
}

func TestSamplerStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s := StartSampler(ctx, fixture("kvm-nvme"), time.Millisecond)
	cancel()
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Stop hung after the context ended")
	}
}

func TestBackingDiskFixture(t *testing.T) {
	t.Parallel()
	r := fixture("thishost")
	if d, fs, err := BackingDisk(r, "/"); d != "vda" || fs != "ext4" || err != nil {
		t.Errorf("/: %q %q %v", d, fs, err)
	}
	if _, fs, err := BackingDisk(r, "/dev/shm"); err == nil || fs != "tmpfs" {
		t.Errorf("/dev/shm: %q %v", fs, err)
	}
	ms := parseMountinfo("36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"40 1 0:52 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw,lowerdir=/l,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/w\n")
	if len(ms) != 2 || ms[0].point != "/mnt/with space" || ms[0].fstype != "ext3" || mountOpt(ms[1].superOpts, "upperdir") != "/var/lib/docker/overlay2/x/diff" {
		t.Errorf("mountinfo: %+v", ms)
	}
	if m, _ := mountOf(ms, "/mnt/with space/a"); m.devID != "98:0" {
		t.Errorf("mountOf: %+v", m)
	}
}

// TestSamplerSeesFsyncWrites writes and fsyncs in a temp dir while the
// sampler runs, and looks for those writes on the disk under the dir.
func TestSamplerSeesFsyncWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk, fstype, err := BackingDisk(Roots{}, dir)
	if err != nil {
		t.Skipf("no disk under %s (%s): %v", dir, fstype, err)
	}
	f, err := os.Create(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := StartSampler(context.Background(), Roots{}, 100*time.Millisecond)
	const ops = 200
	buf := make([]byte, 2300)
	for range ops {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stop()
	i := slices.IndexFunc(st.Disks, func(d results.DiskStats) bool { return d.Name == disk })
	if i < 0 {
		t.Fatalf("%s (under %s, %s) not among sampled disks %+v", disk, dir, fstype, st.Disks)
	}
	// Each fdatasync waits for its write, so none can merge: at least one
	// device write per op. Half leaves room for a filesystem that batches
	// its journal, and none would mean the wrong disk or broken figures.
	writes := st.Disks[i].WriteIOPS * st.DurationS
	if writes < ops/2 {
		t.Errorf("%s saw %.0f writes over %.2fs for %d fdatasyncs: %+v", disk, writes, st.DurationS, ops, st.Disks[i])
	}
	t.Logf("%s (%s): %.0f writes, %.0f w/s, w_await %.2f ms", disk, fstype, writes, st.Disks[i].WriteIOPS, st.Disks[i].WAwaitMs)
}

// TestSamplerDiskIdleSinceBoot: gopsutil leaves out a disk whose counters
// are all zero, so a disk that does its first I/O inside the window is
// missing from the first reading; its figures must still count from zero.
func TestSamplerDiskIdleSinceBoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	copyTree(t, "testdata/thishost", root)
	r := Roots{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys")}
	var idle strings.Builder
	for line := range strings.Lines(readFixture(t, "thishost", "proc", "diskstats")) {
		if f := strings.Fields(line); len(f) > 3 && f[2] == "vda" {
			line = strings.Join(f[:3], " ") + strings.Repeat(" 0", len(f)-3) + "\n"
		}
		idle.WriteString(line)
	}
	if err := os.WriteFile(filepath.Join(r.Proc, "diskstats"), []byte(idle.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// An hour between ticks: the first snapshot is StartSampler's, the
	// last Stop's, and nothing in between.
	s := StartSampler(context.Background(), r, time.Hour)
	replace(t, filepath.Join(root, "later/proc/diskstats"), filepath.Join(r.Proc, "diskstats"))
	st := s.Stop()
	if len(st.Disks) != 1 || st.Disks[0].Name != "vda" || st.Disks[0].Kind != "virtio" || st.Disks[0].WriteIOPS <= 0 {
		t.Fatalf("disks %+v", st.Disks)
	}
	later := diskstats(t, "thishost", "later", "proc", "diskstats")["vda"]
	// The await does not depend on the window's length: every write since
	// boot over all their time.
	if want := round2(float64(later.WriteTime) / float64(later.WriteCount)); st.Disks[0].WAwaitMs != want {
		t.Errorf("w_await %v, want %v (all writes since boot)", st.Disks[0].WAwaitMs, want)
	}
}

// BenchmarkSnapshot is the cost of one snapshot of this machine, taken
// every interval (1 s by default) while a benchmark runs.
func BenchmarkSnapshot(b *testing.B) {
	s := StartSampler(context.Background(), Roots{}, time.Hour)
	defer s.Stop()
	b.ReportAllocs()
	for b.Loop() {
		s.read()
	}
}
