package hoststats

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// snapshot is every counter read at one instant. A source that failed has
// its error set and its value left zero.
type snapshot struct {
	at      time.Time
	cpu     cpuTimes
	cpuErr  error
	psi     map[string]psiFile
	psiErr  error
	disks   map[string]diskCounters
	diskErr error
	net     map[string]int64
	netErr  error
	cg      cgroupCounters
	cgErr   error
}

// Sampler reads the host's counters at an interval between StartSampler
// and Stop. Window figures come from the first and last snapshots; the
// ones in between catch what an average hides (the worst second of steal,
// the deepest disk queue).
type Sampler struct {
	r        Roots
	gctx     context.Context // r for gopsutil
	interval time.Duration
	virt     results.Virtualization
	lxcfs    bool
	// stealColumn: /proc/stat has a steal counter (hasStealColumn).
	stealColumn bool
	cg          cgroupCPU
	cgErr       error
	disks       []results.Disk
	// diskNames are the disks' names, the ones read at each snapshot.
	diskNames []string
	queues    map[string]queueSettings

	stop chan struct{}
	done chan struct{}
	once sync.Once
	res  *results.HostStats

	mu          sync.Mutex // guards what the sampling goroutine writes
	first, prev snapshot
	samples     int
	stealMax    float64
	maxInFlight map[string]int64
}

// StartSampler takes a first snapshot now and then one every interval
// (1 s when interval ≤ 0) until Stop or until ctx ends.
func StartSampler(ctx context.Context, r Roots, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = time.Second
	}
	s := &Sampler{
		r: r, gctx: r.ctx(ctx), interval: interval,
		stop: make(chan struct{}), done: make(chan struct{}),
		maxInFlight: map[string]int64{},
		queues:      map[string]queueSettings{},
	}
	sig := ""
	if r.live() {
		sig = hypervisorSignature()
	}
	s.virt = detectVirt(r, sig)
	if text, err := readString(r.proc("self", "mountinfo")); err == nil {
		s.lxcfs = lxcfsStat(parseMountinfo(text))
	}
	if text, err := readString(r.proc("stat")); err == nil {
		s.stealColumn, _ = hasStealColumn(text)
	}
	s.cg, s.cgErr = findCgroupCPU(r)
	s.disks = listDisks(s.gctx, r)
	for _, d := range s.disks {
		s.diskNames = append(s.diskNames, d.Name)
		s.queues[d.Name] = readQueue(r, d.Name)
	}
	s.first = s.read()
	s.prev = s.first
	s.samples = 1
	s.note(s.first)
	go s.loop(ctx)
	return s
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-t.C:
			s.take()
		}
	}
}

// take reads one snapshot and folds what it shows into the running maxima.
func (s *Sampler) take() snapshot {
	snap := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap.cpuErr == nil && s.prev.cpuErr == nil {
		s.stealMax = max(s.stealMax, cpuShares(s.prev.cpu, snap.cpu).StealPct)
	}
	s.note(snap)
	s.prev = snap
	s.samples++
	return snap
}

func (s *Sampler) note(snap snapshot) {
	for name, d := range snap.disks {
		s.maxInFlight[name] = max(s.maxInFlight[name], int64(d.IopsInProgress))
	}
}

func (s *Sampler) read() snapshot {
	snap := snapshot{at: time.Now()}
	snap.cpu, snap.cpuErr = readCPU(s.gctx)
	snap.psi, snap.psiErr = readPSI(s.r)
	snap.disks, snap.diskErr = readDisks(s.gctx, s.diskNames)
	snap.net, snap.netErr = readNet(s.r)
	if s.cgErr != nil {
		snap.cgErr = s.cgErr
	} else {
		snap.cg, snap.cgErr = readCgroup(s.cg)
	}
	return snap
}

// Stop ends sampling, takes a last snapshot and returns the window's
// figures. It may be called more than once; later calls return the same.
func (s *Sampler) Stop() *results.HostStats {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		last := s.take()
		s.res = s.figures(last)
	})
	return s.res
}

func (s *Sampler) figures(last snapshot) *results.HostStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, b := s.first, last
	wall := b.at.Sub(a.at)
	st := &results.HostStats{Samples: s.samples, IntervalS: s.interval.Seconds(), DurationS: round3(wall.Seconds())}
	var errs []string
	fail := func(what string, ea, eb error) bool {
		err := ea
		if err == nil {
			err = eb
		}
		if err != nil {
			msg := fmt.Sprintf("%s: %v", what, err)
			if !slices.Contains(errs, msg) {
				errs = append(errs, msg)
			}
			return true
		}
		return false
	}
	if !fail("cpu", a.cpuErr, b.cpuErr) {
		c := cpuShares(a.cpu, b.cpu)
		c.StealReported, c.StealWhy = stealVisibility(s.stealColumn, b.cpu, s.virt, s.lxcfs)
		c.StealMaxPct = max(s.stealMax, c.StealPct)
		if !c.StealReported {
			c.StealMaxPct = 0
		}
		st.CPU = &c
	}
	if !fail("psi", a.psiErr, b.psiErr) {
		st.PSI = psiShares(a.psi, b.psi, wall)
	}
	if !fail("disks", a.diskErr, b.diskErr) {
		for _, d := range s.disks {
			// A disk missing from a reading had done no I/O since boot
			// (readDisks): its counters were all 0.
			f := diskFigures(a.disks[d.Name], b.disks[d.Name], wall)
			f.Name, f.Kind = d.Name, d.Kind
			f.MaxInFlight = s.maxInFlight[d.Name]
			q := s.queues[d.Name]
			f.Scheduler, f.NrRequests, f.HWQueues = q.scheduler, q.nrRequests, q.hwQueues
			st.Disks = append(st.Disks, f)
		}
	}
	if !fail("network", a.netErr, b.netErr) {
		st.Network = netDelta(a.net, b.net)
	}
	if !fail("cgroup", a.cgErr, b.cgErr) {
		st.Cgroup = cgroupDelta(s.cg, a.cg, b.cg)
	}
	st.Errors = errs
	return st
}
