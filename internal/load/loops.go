package load

import (
	"math"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Several loops: where one loop cannot keep a rate, the schedule is split
// over several, each on a thread of its own with its own connections and
// epoll set, and their records are merged at the end (HDR histograms merge
// exactly). Loop i of n sends requests i, i+n, i+2n, ... of the schedule,
// so every loop sees the same shape at 1/n of the rate and the sends of
// all loops together are the schedule's.

// loopRate is the highest peak rate one loop is given when Config.Loops is
// 0. Against nginx on a 2-vCPU VM one loop took 0.13-0.14 CPU s per 10k
// requests at 30k req/s, about 40% of a core, with its own late sends
// (more than 1 ms) at 0.4-1.4%; two loops took 0.15-0.21 at 20k and 30k
// (each wakes for its own sends) and were no more punctual, since the
// second core is the target's. Splitting pays once one loop nears a core.
const loopRate = 40_000

// loopsFor is how many loops share cfg's load: Config.Loops if set, else
// one per loopRate of peak rate, at most one per CPU the process may run
// on, and never more than the connections allow (each loop needs one per
// target).
func loopsFor(cfg *Config, peak float64) int {
	n := cfg.Loops
	if n == 0 {
		n = min(int(math.Ceil(peak/loopRate)), usableCPUs())
	}
	return max(min(n, cfg.Connections/len(cfg.Targets)), 1)
}

// usableCPUs is the number of CPUs this process may run on: its affinity
// mask, bounded by GOMAXPROCS.
func usableCPUs() int {
	n := runtime.GOMAXPROCS(0)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		n = min(n, set.Count())
	}
	return max(n, 1)
}

// peakRate is the highest rate r reaches.
func peakRate(r Rate) float64 { return max(r.RPS+r.Amplitude, r.End) }

// part is one loop's share of a schedule: requests i, i+n, i+2n, ...
type part struct {
	Schedule
	i, n int64
}

func (p part) Offset(k int64) (time.Duration, bool) { return p.Schedule.Offset(k*p.n + p.i) }

func (p part) Count() int64 { return max(p.Schedule.Count()-p.i+p.n-1, 0) / p.n }

func (p part) RateAt(t time.Duration) float64 { return p.Schedule.RateAt(t) / float64(p.n) }

// share is loop i's part of a schedule split n ways (s itself for one).
func share(s Schedule, i, n int) Schedule {
	if s == nil || n == 1 {
		return s
	}
	return part{s, int64(i), int64(n)}
}

// connShare is loop i's share of c connections split n ways.
func connShare(c, i, n int) int {
	if i < c%n {
		return c/n + 1
	}
	return c / n
}

// runLoops runs every loop on a thread of its own and merges what they
// recorded into one Result.
func (e *engine) runLoops(loops []*loop) *Result {
	release := addProcs(len(loops))
	defer release()
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	wg.Wait()
	all := &loops[0].rec
	end, interrupted := loops[0].win.end, loops[0].win.interrupted
	for _, l := range loops[1:] {
		all.merge(&l.rec)
		end, interrupted = max(end, l.win.end), interrupted || l.win.interrupted
	}
	return e.result(all, end, interrupted)
}

// procs counts the Ps that running loops hold. Each loop blocks its thread
// in a raw system call (see poller) and so keeps its P. While loops run,
// GOMAXPROCS is at least one more than they hold, so that the rest of the
// process (an in-process backend, the host sampler, progress) always has a
// P; with GOMAXPROCS 1 it would run only when the runtime preempts the
// loop, every 10 ms. It is not raised further: Ps beyond the CPUs made the
// in-process backend's 5 ms sleeps in TestPrecision about 50 µs later at
// the median on a 2-vCPU VM (service time p50 5.21-5.25 ms against
// 5.14-5.19), more runnable threads contending for the same cores.
var procs struct {
	sync.Mutex
	held, prev int
}

// addProcs makes room for n more loops until release is called.
func addProcs(n int) (release func()) {
	procs.Lock()
	defer procs.Unlock()
	if procs.held == 0 {
		procs.prev = runtime.GOMAXPROCS(0)
	}
	procs.held += n
	setProcs()
	return func() {
		procs.Lock()
		defer procs.Unlock()
		procs.held -= n
		setProcs()
	}
}

func setProcs() {
	if want := max(procs.prev, procs.held+1); runtime.GOMAXPROCS(0) != want {
		runtime.GOMAXPROCS(want)
	}
}
