package hoststats

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// diskstats reads a /proc/diskstats fixture through gopsutil.
func diskstats(t *testing.T, path ...string) map[string]diskCounters {
	t.Helper()
	d, err := readDisks(procWith(t, "diskstats", path...).ctx(context.Background()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiskFiguresThisHost(t *testing.T) {
	t.Parallel()
	a := diskstats(t, "thishost", "proc", "diskstats")["vda"]
	b := diskstats(t, "thishost", "later", "proc", "diskstats")["vda"]
	f := diskFigures(a, b, time.Second)
	// 300 dsync writes ran between the snapshots; ext4's journal adds its own.
	if f.WriteIOPS < 300 || f.WriteMBps <= 0 || f.WAwaitMs <= 0 || f.UtilPct <= 0 || f.UtilPct > 100 {
		t.Errorf("vda over 1s: %+v", f)
	}
	want := results.DiskStats{Name: "vda", ReadIOPS: 18, WriteIOPS: 904, ReadMBps: 0.31, WriteMBps: 3.15,
		RAwaitMs: 0.17, WAwaitMs: 0.05, UtilPct: 4, AquSz: 0.06}
	if f != want {
		t.Errorf("vda = %+v\nwant  %+v", f, want)
	}
}

func TestDiskCountersGoingBackwards(t *testing.T) {
	t.Parallel()
	f := diskFigures(diskstats(t, "backwards", "diskstats.1")["sda"], diskstats(t, "backwards", "diskstats.2")["sda"], time.Second)
	// The write counter wrapped at 2^32: no writes are claimed, and the
	// write time spent is not divided by a bogus count.
	if f.WriteIOPS != 0 || f.WAwaitMs != 0 || f.ReadIOPS != 100 || f.RAwaitMs != 0.5 {
		t.Errorf("sda = %+v", f)
	}
}

func TestWholeDisksAndKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fixture string
		want    []results.Disk
	}{
		{"thishost", []results.Disk{{Name: "vda", Kind: "virtio", SizeBytes: 274877906944}}},
		{"kvm-nvme", []results.Disk{{Name: "nvme0n1", Kind: "nvme", Model: "QEMU NVMe Ctrl", SizeBytes: 104857600 * 512}}},
		// No /sys in an OpenVZ container: the name alone rules out the partition.
		{"openvz", []results.Disk{{Name: "ploop15252", Kind: "other"}}},
		// 2.6 kernels print four counters for a partition: gopsutil skips
		// those lines rather than failing the whole file.
		{"nosteal", []results.Disk{{Name: "hda", Kind: "sata/scsi"}}},
	} {
		got := listDisks(fixture(tc.fixture).ctx(context.Background()), fixture(tc.fixture))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: disks %+v, want %+v", tc.fixture, got, tc.want)
		}
	}
}

func TestDiskKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, path, driver, want string }{
		{"nvme0n1", "", "", "nvme"},
		{"vda", "", "virtio_blk", "virtio"},
		{"sda", "../devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda", "sd", "sata/scsi"},
		{"sda", "../devices/pci0000:00/0000:00:03.0/virtio0/host2/target2:0:0/2:0:0:0/block/sda", "sd", "virtio"},
		{"xvda", "../devices/vbd-51712/block/xvda", "vbd", "xen"},
		{"mmcblk0", "", "", "mmc"},
		{"rbd0", "../devices/virtual/block/rbd0", "", "other"},
	} {
		if got := diskKind(tc.name, tc.path, tc.driver); got != tc.want {
			t.Errorf("diskKind(%s, %s) = %s, want %s", tc.name, tc.path, got, tc.want)
		}
	}
	for _, n := range []string{"loop0", "zram0", "ram1", "dm-0", "md127", "sr0", "nbd3"} {
		if !skippedDisk(n) {
			t.Errorf("%s kept", n)
		}
	}
}

func TestQueueSettings(t *testing.T) {
	t.Parallel()
	if q := readQueue(fixture("kvm-nvme"), "nvme0n1"); q != (queueSettings{"none", 1023, 4}) {
		t.Errorf("nvme0n1 queue %+v", q)
	}
	if q := readQueue(fixture("thishost"), "vda"); q != (queueSettings{"mq-deadline", 256, 1}) {
		t.Errorf("vda queue %+v", q)
	}
}
