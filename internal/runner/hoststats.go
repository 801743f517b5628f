package runner

import (
	"slices"

	"github.com/meshbench/meshbench/internal/results"
)

// mergeHostStats folds the host figures of a row's windows into one: shares
// and rates are averaged weighted by each window's length, counts summed,
// worst values kept. Blocks missing from a window are merged from the windows
// that have them.
func mergeHostStats(ws []*results.HostStats) *results.HostStats {
	var in []*results.HostStats
	for _, w := range ws {
		if w != nil {
			in = append(in, w)
		}
	}
	switch len(in) {
	case 0:
		return nil
	case 1:
		return in[0]
	}
	out := &results.HostStats{IntervalS: in[0].IntervalS}
	var cpu, psi, total float64
	disks := map[string]*results.DiskStats{}
	var diskOrder []string
	diskW := map[string]float64{}
	for _, w := range in {
		d := w.DurationS
		total += d
		out.Samples += w.Samples
		out.DurationS += d
		for _, e := range w.Errors {
			if !slices.Contains(out.Errors, e) {
				out.Errors = append(out.Errors, e)
			}
		}
		if w.CPU != nil {
			cpu += d
			out.CPU = addCPU(out.CPU, w.CPU, d)
		}
		if w.PSI != nil {
			psi += d
			out.PSI = addPSI(out.PSI, w.PSI, d)
		}
		for _, x := range w.Disks {
			acc, ok := disks[x.Name]
			if !ok {
				acc = &results.DiskStats{Name: x.Name, Kind: x.Kind, Scheduler: x.Scheduler, NrRequests: x.NrRequests, HWQueues: x.HWQueues}
				disks[x.Name] = acc
				diskOrder = append(diskOrder, x.Name)
			}
			addDisk(acc, x, d)
			diskW[x.Name] += d
		}
		if w.Network != nil {
			out.Network = addNet(out.Network, w.Network)
		}
		if w.Cgroup != nil {
			out.Cgroup = addCgroup(out.Cgroup, w.Cgroup)
		}
	}
	if out.CPU != nil && cpu > 0 {
		c := out.CPU
		for _, f := range []*float64{&c.UserPct, &c.SystemPct, &c.IdlePct, &c.IowaitPct, &c.StealPct, &c.IrqPct} {
			*f = round3(*f / cpu)
		}
	}
	if out.PSI != nil && psi > 0 {
		p := out.PSI
		for _, f := range []*float64{&p.CPUSomePct, &p.IOSomePct, &p.IOFullPct, &p.MemorySomePct, &p.MemoryFullPct, &p.CPUFullPct} {
			*f = round3(*f / psi)
		}
	}
	for _, name := range diskOrder {
		acc, w := disks[name], diskW[name]
		if w > 0 {
			for _, f := range []*float64{&acc.ReadIOPS, &acc.WriteIOPS, &acc.UtilPct, &acc.AquSz, &acc.RAwaitMs, &acc.WAwaitMs, &acc.ReadMBps, &acc.WriteMBps} {
				*f = round3(*f / w)
			}
		}
		out.Disks = append(out.Disks, *acc)
	}
	out.DurationS = round3(out.DurationS)
	return out
}

// addCPU adds x's shares weighted by d into acc (divided by the total later).
func addCPU(acc, x *results.CPUStats, d float64) *results.CPUStats {
	if acc == nil {
		acc = &results.CPUStats{StealReported: true}
	}
	acc.UserPct += x.UserPct * d
	acc.SystemPct += x.SystemPct * d
	acc.IdlePct += x.IdlePct * d
	acc.IowaitPct += x.IowaitPct * d
	acc.StealPct += x.StealPct * d
	acc.IrqPct += x.IrqPct * d
	acc.StealMaxPct = max(acc.StealMaxPct, x.StealMaxPct)
	// Steal is reported for the row only when every window could see it.
	acc.StealReported = acc.StealReported && x.StealReported
	if !x.StealReported && acc.StealWhy == "" {
		acc.StealWhy = x.StealWhy
	}
	if !acc.StealReported {
		acc.StealMaxPct = 0
	}
	return acc
}

func addPSI(acc, x *results.PSIStats, d float64) *results.PSIStats {
	if acc == nil {
		acc = &results.PSIStats{}
	}
	acc.CPUSomePct += x.CPUSomePct * d
	acc.IOSomePct += x.IOSomePct * d
	acc.IOFullPct += x.IOFullPct * d
	acc.MemorySomePct += x.MemorySomePct * d
	acc.MemoryFullPct += x.MemoryFullPct * d
	acc.CPUFullPct += x.CPUFullPct * d
	acc.Avg10 = x.Avg10 // the kernel's own 10 s average: the latest is the one to show
	return acc
}

func addDisk(acc *results.DiskStats, x results.DiskStats, d float64) {
	acc.ReadIOPS += x.ReadIOPS * d
	acc.WriteIOPS += x.WriteIOPS * d
	acc.UtilPct += x.UtilPct * d
	acc.AquSz += x.AquSz * d
	acc.RAwaitMs += x.RAwaitMs * d
	acc.WAwaitMs += x.WAwaitMs * d
	acc.ReadMBps += x.ReadMBps * d
	acc.WriteMBps += x.WriteMBps * d
	acc.InFlight = x.InFlight
	acc.MaxInFlight = max(acc.MaxInFlight, x.MaxInFlight)
}

func addNet(acc, x *results.NetStats) *results.NetStats {
	if acc == nil {
		acc = &results.NetStats{}
	}
	acc.TCPOutSegs += x.TCPOutSegs
	acc.TCPRetransSegs += x.TCPRetransSegs
	acc.ListenOverflows += x.ListenOverflows
	acc.ListenDrops += x.ListenDrops
	acc.RetransPct = 0
	if acc.TCPOutSegs > 0 {
		acc.RetransPct = round3(100 * float64(acc.TCPRetransSegs) / float64(acc.TCPOutSegs))
	}
	return acc
}

func addCgroup(acc, x *results.CgroupStats) *results.CgroupStats {
	if acc == nil {
		c := *x
		c.Periods, c.Throttled, c.ThrottledS = 0, 0, 0
		acc = &c
	}
	acc.Periods += x.Periods
	acc.Throttled += x.Throttled
	acc.ThrottledS = round3(acc.ThrottledS + x.ThrottledS)
	acc.ThrottledPct = 0
	if acc.Periods > 0 {
		acc.ThrottledPct = round3(100 * float64(acc.Throttled) / float64(acc.Periods))
	}
	return acc
}
