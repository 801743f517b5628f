// Package placement decides and applies where a run's processes may run:
// the load generator and the in-process backend on one CPU set, the proxies
// (child processes) on another, so that a proxy's measured cost is not the
// load generator's CPU contention.
//
// Affinity is per thread on Linux. Apply sets every thread of this process
// to the load generator's set; threads the Go runtime starts later inherit
// it (a locked thread never clones: the runtime's template thread does).
// Children take the affinity of the thread that forks them, so the thread
// that forks proxies is given the proxies' set (see proc).
package placement

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Modes of --placement.
const (
	Shared = "shared" // every process may run on every CPU
	Split  = "split"  // load generator and backend on one set, proxies on the other
	Auto   = "auto"   // split where the host has CPUs to spare (see Choose)
)

// Modes lists the accepted --placement values.
var Modes = []string{Shared, Split, Auto}

// MinSplitCPUs is the fewest CPUs on which auto splits. On two CPUs a split
// leaves one for the load generator and the backend together and one for all
// the proxies' processes. Measured on a 2-vCPU guest at 1000 req/s, three
// runs of each alternating, it raised HAProxy's added p50 from +0.13-0.17 to
// +0.20-0.23 ms and nginx's from +0.09-0.14 to +0.21-0.22 ms, with no better
// noise floor or late sends; so auto keeps such hosts shared. From 4 CPUs a
// split leaves each side two; that side of the rule is not yet measured.
const MinSplitCPUs = 4

// Placement is the CPU sets of one run.
type Placement struct {
	Mode    string // Shared or Split, after Auto was decided
	Loadgen []int
	Proxies []int
}

// Choose decides mode ("shared", "split" or "auto") on the given CPUs.
func Choose(mode string, cpus []int) (Placement, error) {
	switch mode {
	case Shared:
		return Placement{Mode: Shared, Loadgen: cpus, Proxies: cpus}, nil
	case Auto:
		if len(cpus) < MinSplitCPUs {
			return Placement{Mode: Shared, Loadgen: cpus, Proxies: cpus}, nil
		}
		fallthrough
	case Split:
		if len(cpus) < 2 {
			return Placement{}, fmt.Errorf("placement split needs at least 2 CPUs, this process may use %d", len(cpus))
		}
		// The load generator and the backend get the smaller half: the
		// proxies' side runs more processes (a sidecar pair, nginx workers).
		n := len(cpus) / 2
		return Placement{Mode: Split, Loadgen: cpus[:n], Proxies: cpus[n:]}, nil
	}
	return Placement{}, fmt.Errorf("placement %q: want one of %s", mode, strings.Join(Modes, ", "))
}

// Allowed lists the CPUs this process may run on.
func Allowed() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading this process's CPU affinity: %w", err)
	}
	return members(&set), nil
}

// Apply pins every thread of this process to p.Loadgen and, through
// setChildren, the thread that forks children to p.Proxies. The returned
// func restores the affinity every thread had. A shared placement changes
// nothing.
func Apply(p Placement, setChildren func(cpus []int) error) (restore func(), err error) {
	if p.Mode != Split {
		return func() {}, nil
	}
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return nil, err
	}
	all := members(&before)
	if err := setThreads(p.Loadgen); err != nil {
		setThreads(all)
		return nil, err
	}
	if err := setChildren(p.Proxies); err != nil {
		setThreads(all)
		return nil, fmt.Errorf("placing the proxies on CPUs %s: %w", Format(p.Proxies), err)
	}
	return func() {
		setThreads(all)
		setChildren(all)
	}, nil
}

// SetThread sets the calling thread's affinity (the caller must be locked
// to its thread).
func SetThread(cpus []int) error {
	set := cpuSet(cpus)
	return unix.SchedSetaffinity(0, &set)
}

// setThreads sets the affinity of every thread of this process.
func setThreads(cpus []int) error {
	set := cpuSet(cpus)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread that exited since the listing is no error.
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("setting the CPU affinity of thread %d: %w", tid, err)
		}
	}
	return nil
}

// ProcessCPUs reads the CPU list a process may run on, as the kernel writes
// it (Cpus_allowed_list in /proc/PID/status).
func ProcessCPUs(procRoot string, pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no Cpus_allowed_list in /proc/%d/status", pid)
}

// Format writes a CPU list in the kernel's syntax: "0", "1-3", "0,2-3".
func Format(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

func members(set *unix.CPUSet) []int {
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}
