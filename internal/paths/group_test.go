package paths_test

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestConcurrentRuns: two runs in one process, each with its own process
// group and a real haproxy, started at the same time. Closing the first
// run's group ends its haproxy and leaves the second one's alive and
// answering until its own group is closed.
func TestConcurrentRuns(t *testing.T) {
	requireBinary(t, "haproxy")
	t.Parallel()
	type run struct {
		env  paths.Env
		inst paths.Instance
		pids []int
	}
	runs := make([]*run, 2)
	var wg sync.WaitGroup
	for i := range runs {
		_, ups := replicas(t, 1)
		env := testEnv(t, ups)
		// Groups of their own, closed by the test rather than its cleanup.
		env.Procs = proc.NewGroup()
		t.Cleanup(func() { env.Procs.Close(time.Second) })
		runs[i] = &run{env: env}
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := paths.Start(context.Background(), scenario.PathSpec{Name: "hap", Kind: "haproxy"}, env)
			if err != nil {
				t.Error(err)
				return
			}
			runs[i].inst = inst
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, r := range runs {
		r.pids = pidsOf(t, r.inst)
		if live := r.env.Procs.Live(); len(live) != 1 || live[0].Pid() != r.pids[0] {
			t.Fatalf("group lists %v, want its one haproxy %v", live, r.pids)
		}
	}

	if err := runs[0].env.Procs.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	groupGone(t, runs[0].pids)
	for _, pid := range runs[1].pids {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("the other run's haproxy (pid %d) after the first run closed: kill(0) = %v", pid, err)
		}
	}
	getN(t, runs[1].inst.Targets()[0], 5)

	if err := runs[1].env.Procs.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	groupGone(t, runs[1].pids)
}
