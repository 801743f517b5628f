package hoststats

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// diskCounters is one line of /proc/diskstats.
type diskCounters struct {
	major, minor                  uint64
	name                          string
	reads, readSectors, readMs    uint64
	writes, writeSectors, writeMs uint64
	inFlight, ioMs, weightedMs    uint64
}

// parseDiskstats reads /proc/diskstats. Discard and flush columns (kernel
// 4.18+ and 5.5+) are left out: iostat reports them apart and they would
// blur the read/write awaits.
func parseDiskstats(text string) (map[string]diskCounters, error) {
	out := map[string]diskCounters{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 14 {
			return nil, fmt.Errorf("diskstats: short line %q", strings.TrimSpace(line))
		}
		n := func(i int) uint64 { return atou64(f[i]) }
		out[f[2]] = diskCounters{
			major: n(0), minor: n(1), name: f[2],
			reads: n(3), readSectors: n(5), readMs: n(6),
			writes: n(7), writeSectors: n(9), writeMs: n(10),
			inFlight: n(11), ioMs: n(12), weightedMs: n(13),
		}
	}
	return out, nil
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

// wholeDisks keeps the whole disks among names. /sys/block lists only
// whole disks, so it decides when it can be read; otherwise the name does.
func wholeDisks(r Roots, names []string) []string {
	entries, err := os.ReadDir(r.sys("block"))
	inSys := map[string]bool{}
	for _, e := range entries {
		inSys[e.Name()] = true
	}
	var out []string
	for _, n := range names {
		if skippedDisk(n) {
			continue
		}
		if err == nil && len(entries) > 0 {
			if !inSys[n] {
				continue
			}
		} else if partitionName.MatchString(n) {
			continue
		}
		out = append(out, n)
	}
	return out
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

// readDiskInfo gathers what sysfs says about a whole disk.
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

// queueSettings are the block-queue knobs of a disk.
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

// diskFigures turns two diskstats readings into iostat -x figures.
func diskFigures(a, b diskCounters, wall time.Duration) results.DiskStats {
	s := wall.Seconds()
	ms := float64(wall) / float64(time.Millisecond)
	d := func(x, y uint64) float64 { return float64(delta(x, y)) }
	reads, writes := d(a.reads, b.reads), d(a.writes, b.writes)
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
		Name:      b.name,
		ReadIOPS:  per(reads),
		WriteIOPS: per(writes),
		ReadMBps:  per(d(a.readSectors, b.readSectors) * 512 / 1e6),
		WriteMBps: per(d(a.writeSectors, b.writeSectors) * 512 / 1e6),
		RAwaitMs:  await(d(a.readMs, b.readMs), reads),
		WAwaitMs:  await(d(a.writeMs, b.writeMs), writes),
		UtilPct:   min(pct(d(a.ioMs, b.ioMs), ms), 100),
		InFlight:  int64(b.inFlight),
	}
	if ms > 0 {
		out.AquSz = round2(d(a.weightedMs, b.weightedMs) / ms)
	}
	return out
}
