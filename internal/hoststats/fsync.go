package hoststats

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/results"
)

// fsyncBlock is the size of etcd's WAL entry in its documented disk check
// (fio --bs=2300 --fdatasync=1).
const fsyncBlock = 2300

// runFsync appends fsyncBlock bytes to a new file in dir and makes each
// durable with fdatasync before the next, for d or fsyncMaxOps writes. The
// figure is the fdatasync time alone, as etcd's wal_fsync_duration is.
func runFsync(ctx context.Context, r Roots, dir string, d time.Duration) *results.FsyncProbe {
	p := &results.FsyncProbe{Dir: dir, BlockBytes: fsyncBlock}
	if r.live() {
		// A fixture's mountinfo says nothing about where dir really is.
		p.Device, p.Filesystem, _ = BackingDisk(r, dir)
	}
	if d < 10*time.Millisecond {
		p.Error = "no time left to run"
		return p
	}
	made, err := mkdirs(dir)
	// Made only for the probe: removed again, deepest first, each only if
	// nothing else landed in it (os.Remove leaves a non-empty directory).
	defer func() {
		for _, d := range made {
			os.Remove(d)
		}
	}()
	if err != nil {
		p.Error = err.Error()
		return p
	}
	f, err := os.CreateTemp(dir, ".meshbench-fsync-*")
	if err != nil {
		p.Error = err.Error()
		return p
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Random bytes, so a compressing filesystem (btrfs, zfs) cannot make
	// the writes vanish.
	buf := make([]byte, fsyncBlock)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	h := results.NewHistogram()
	var elapsed time.Duration
	p.CPUSeconds = onThread(func() {
		fd := int(f.Fd())
		start := time.Now()
		for ctx.Err() == nil && time.Since(start) < d && h.TotalCount() < fsyncMaxOps {
			if _, err := unix.Write(fd, buf); err != nil {
				p.Error = fmt.Sprintf("write: %v", err)
				break
			}
			t0 := time.Now()
			if err := unix.Fdatasync(fd); err != nil {
				p.Error = fmt.Sprintf("fdatasync: %v", err)
				break
			}
			_ = h.RecordValue(int64(time.Since(t0)))
		}
		elapsed = time.Since(start)
	})
	s := results.Summarize(h)
	p.Ops = s.Count
	p.P50Ms, p.P99Ms, p.MaxMs = s.P50, s.P99, s.Max
	if elapsed > 0 {
		p.OpsPerS = round2(float64(s.Count) / elapsed.Seconds())
	}
	return p
}

// mkdirs creates dir and its missing parents, like os.MkdirAll, and returns
// the directories it created, deepest first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !os.IsNotExist(err) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return missing, err
	}
	return missing, nil
}
