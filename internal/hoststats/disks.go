package hoststats

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/disk"

	"github.com/meshbench/meshbench/internal/results"
)

// diskCounters is one device's line of /proc/diskstats as gopsutil reads
// it: counts, bytes (sectors × 512), milliseconds. The discard and flush
// columns (kernel 4.18+ and 5.5+) are not among them, as iostat keeps them
// apart from the read/write awaits too.
type diskCounters = disk.IOCountersStat

// readDisks reads the counters of the named devices (all when none are
// named). gopsutil leaves out a device whose counters are all zero, so a
// disk missing from the map has done nothing since boot.
func readDisks(ctx context.Context, names []string) (map[string]diskCounters, error) {
	// IOCountersWithContext rewrites the names it is given in place.
	m, err := disk.IOCountersWithContext(ctx, slices.Clone(names)...)
	if err != nil {
		return nil, fmt.Errorf("diskstats: %w", err)
	}
	return m, nil
}

// devNumbers maps "major:minor" to device names from /proc/diskstats.
// Own code because gopsutil's counters carry no device numbers, and a mount
// names its device only by number; mounts.go falls back on this when /sys
// cannot say (an OpenVZ container has no /sys).
func devNumbers(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(text) {
		if f := strings.Fields(line); len(f) >= 3 {
			out[f[0]+":"+f[1]] = f[2]
		}
	}
	return out
}

// skippedDisk reports whether a device is left out of disk figures:
//   - loop, ram, zram: memory or files, not storage the host has;
//   - dm-*, md*: stacked devices (LVM, dm-crypt, RAID) whose I/O is counted
//     again on the disks below them; the disks are what a VPS is judged by;
//   - sr*, fd*: optical and floppy drives;
//   - nbd*: the nbd module creates sixteen idle ones at load.
//
// OpenVZ's ploop devices are kept: they are the container's only disk.
func skippedDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// partitionName matches partition names, for when /sys cannot say.
var partitionName = regexp.MustCompile(`^(nvme\d+n\d+p\d+|ploop\d+p\d+|mmcblk\d+p\d+|(s|h|v|xv)d[a-z]+\d+)$`)

// wholeDisks names the whole disks worth judging. /sys/block is the
// kernel's own list of whole disks, and it also holds the disks gopsutil
// leaves out for having done no I/O yet, so it decides when it can be read;
// otherwise the names counted in /proc/diskstats do, partitions recognised
// by name.
func wholeDisks(r Roots, counted []string) []string {
	names := counted
	if entries, err := os.ReadDir(r.sys("block")); err == nil && len(entries) > 0 {
		names = names[:0:0]
		for _, e := range entries {
			names = append(names, e.Name())
		}
	} else {
		names = slices.DeleteFunc(slices.Clone(names), partitionName.MatchString)
	}
	names = slices.DeleteFunc(names, skippedDisk)
	slices.Sort(names)
	return names
}

// diskKind names the kind of a block device from its name, the sysfs path
// its /sys/block link points to, and its driver. Not from "rotational":
// hypervisors set it to whatever they like.
func diskKind(name, devPath, driver string) string {
	switch {
	case strings.HasPrefix(name, "nvme") || strings.Contains(devPath, "/nvme"):
		return "nvme"
	case strings.HasPrefix(name, "xvd") || strings.Contains(devPath, "/vbd-") || driver == "vbd":
		return "xen"
	case strings.HasPrefix(name, "vd") || driver == "virtio_blk" || strings.Contains(devPath, "/virtio"):
		// The path check catches virtio-scsi disks, named sd* like real ones.
		return "virtio"
	case strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case strings.HasPrefix(name, "sd") || strings.HasPrefix(name, "hd"):
		return "sata/scsi"
	default:
		return "other"
	}
}

// readDiskInfo gathers what sysfs says about a whole disk: its kind, model
// and size, none of which gopsutil reads.
func readDiskInfo(r Roots, name string) results.Disk {
	devPath, _ := os.Readlink(r.sys("block", name))
	drv, _ := os.Readlink(r.sys("block", name, "device", "driver"))
	d := results.Disk{Name: name, Kind: diskKind(name, devPath, filepath.Base(drv))}
	d.Model = strings.Join(strings.Fields(readTrim(r.sys("block", name, "device", "model"))), " ")
	if v := strings.Join(strings.Fields(readTrim(r.sys("block", name, "device", "vendor"))), " "); d.Model == "" && !strings.HasPrefix(v, "0x") {
		// A virtio disk's "vendor" is a PCI id (0x1af4), which says less
		// than its kind already does.
		d.Model = v
	}
	d.SizeBytes = atou64(readTrim(r.sys("block", name, "size"))) * 512
	return d
}

// queueSettings are the block-queue knobs of a disk (sysfs; gopsutil has
// no reader for them).
type queueSettings struct {
	scheduler  string
	nrRequests int
	hwQueues   int
}

// parseScheduler picks the active scheduler from "none [mq-deadline] bfq".
func parseScheduler(text string) string {
	for _, f := range strings.Fields(text) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	return strings.TrimSpace(text)
}

func readQueue(r Roots, name string) queueSettings {
	q := queueSettings{scheduler: parseScheduler(readTrim(r.sys("block", name, "queue", "scheduler")))}
	q.nrRequests, _ = strconv.Atoi(readTrim(r.sys("block", name, "queue", "nr_requests")))
	if mq, err := os.ReadDir(r.sys("block", name, "mq")); err == nil {
		q.hwQueues = len(mq)
	}
	return q
}

// diskFigures turns two readings of a disk into iostat -x figures.
func diskFigures(a, b diskCounters, wall time.Duration) results.DiskStats {
	s := wall.Seconds()
	ms := float64(wall) / float64(time.Millisecond)
	d := func(x, y uint64) float64 { return float64(delta(x, y)) }
	reads, writes := d(a.ReadCount, b.ReadCount), d(a.WriteCount, b.WriteCount)
	await := func(ms, n float64) float64 {
		if n == 0 {
			return 0
		}
		return round2(ms / n)
	}
	per := func(v float64) float64 {
		if s <= 0 {
			return 0
		}
		return round2(v / s)
	}
	out := results.DiskStats{
		Name:      b.Name,
		ReadIOPS:  per(reads),
		WriteIOPS: per(writes),
		ReadMBps:  per(d(a.ReadBytes, b.ReadBytes) / 1e6),
		WriteMBps: per(d(a.WriteBytes, b.WriteBytes) / 1e6),
		RAwaitMs:  await(d(a.ReadTime, b.ReadTime), reads),
		WAwaitMs:  await(d(a.WriteTime, b.WriteTime), writes),
		UtilPct:   min(pct(d(a.IoTime, b.IoTime), ms), 100),
		InFlight:  int64(b.IopsInProgress),
	}
	if ms > 0 {
		out.AquSz = round2(d(a.WeightedIO, b.WeightedIO) / ms)
	}
	return out
}
