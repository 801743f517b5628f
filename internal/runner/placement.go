package runner

import (
	"github.com/meshbench/meshbench/internal/placement"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
)

// place applies the scenario's placement for the run and says where each
// group of processes may run. The CPU affinity of a process is the
// process's: two runs in one process share it, so concurrent runs should be
// shared (the library default of a scenario made in code is auto, which is
// shared on hosts with fewer than placement.MinSplitCPUs CPUs).
func place(mode string) (*results.Placement, func(), error) {
	if mode == "" {
		mode = placement.Auto
	}
	cpus, err := placement.Allowed()
	if err != nil {
		return nil, nil, err
	}
	p, err := placement.Choose(mode, cpus)
	if err != nil {
		return nil, nil, err
	}
	restore, err := placement.Apply(p, func(cpus []int) error {
		return proc.OnForkThread(func() error { return placement.SetThread(cpus) })
	})
	if err != nil {
		return nil, nil, err
	}
	lg := placement.Format(p.Loadgen)
	return &results.Placement{Mode: p.Mode, Loadgen: lg, Backend: lg, Proxies: placement.Format(p.Proxies)}, restore, nil
}
