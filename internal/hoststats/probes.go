package hoststats

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// ProbeNames are the probes RunProbes knows, in the order it runs them.
var ProbeNames = []string{"jitter", "fsync", "audit"}

// Default probe lengths when ctx sets no deadline: long enough for a
// p99.9 (2000 jitter samples), short enough to run before every benchmark.
const (
	jitterDefault = 2 * time.Second // half sleeping, half spinning
	fsyncDefault  = 2 * time.Second
	fsyncMaxOps   = 10000 // etcd's fio check writes 22 MiB in 2300 B blocks
)

// CheckProbes rejects names RunProbes does not know, as bad input.
func CheckProbes(names []string) error {
	for _, n := range names {
		if !slices.Contains(ProbeNames, n) {
			return errext.BadInputf("unknown probe %q: want %s", n, strings.Join(ProbeNames, ", "))
		}
	}
	return nil
}

// RunProbes runs the named probes one after another, so that none
// disturbs another's figures. dir is where the fsync probe writes ("" means
// results/, where runs land, since that is the disk meshbench itself
// writes to). A probe that cannot do its work says why in its own Error
// field; the only error returned is for a name that is not a probe. When
// ctx has a deadline the probes shrink to fit in it.
func RunProbes(ctx context.Context, r Roots, names []string, dir string) (*results.HostQuality, error) {
	if err := CheckProbes(names); err != nil {
		return nil, err
	}
	if dir == "" {
		dir = "results"
	}
	q := &results.HostQuality{}
	want := func(n string) bool { return slices.Contains(names, n) }
	// The jitter and fsync probes split what time there is.
	timed := 0
	for _, n := range []string{"jitter", "fsync"} {
		if want(n) {
			timed++
		}
	}
	if want("audit") {
		q.Audit = runAudit(r)
	}
	if want("jitter") && ctx.Err() == nil {
		q.Jitter = runJitter(ctx, budget(ctx, jitterDefault, timed))
		timed--
	}
	if want("fsync") && ctx.Err() == nil {
		q.Fsync = runFsync(ctx, r, dir, budget(ctx, fsyncDefault, timed))
	}
	q.Verdicts = Verdicts(q, nil)
	return q, nil
}

// budget is def, or an equal share of what is left before ctx's deadline
// among the probes still to run, keeping a tenth back for the rest of the
// command.
func budget(ctx context.Context, def time.Duration, probes int) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok || probes <= 0 {
		return def
	}
	left := time.Until(dl) * 9 / 10 / time.Duration(probes)
	return max(min(def, left), 0)
}

// threadCPU is the user+system CPU time of the calling OS thread. A probe
// locks its goroutine to a thread and reads this before and after, so the
// figure is its own and not the sampler's or the rest of the process's.
func threadCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// onThread runs f locked to one OS thread and returns the CPU seconds it used.
func onThread(f func()) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	f()
	return round3(threadCPU() - c0)
}

var round3 = results.Round3
