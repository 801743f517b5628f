package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/placement"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// shortScenario measures paths at a low rate for a short window.
func shortScenario(paths ...string) *scenario.Scenario {
	sc := scenario.Default()
	sc.Paths = specs(paths...)
	sc.Rate = scenario.Rate{Shape: "constant", RPS: 200}
	sc.Duration = scenario.Duration(1500 * time.Millisecond)
	sc.Warmup = scenario.Duration(300 * time.Millisecond)
	sc.Backend.Replicas = 2
	sc.HostStats.Interval = scenario.Duration(500 * time.Millisecond)
	return sc
}

func needBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (scripts/setup.sh installs it): %v", name, err)
	}
}

func TestRunDirect(t *testing.T) {
	t.Parallel()
	sc := shortScenario("direct")
	sc.Duration = scenario.Duration(3 * time.Second)
	sc.Window = scenario.Duration(500 * time.Millisecond)
	f, err := Run(context.Background(), NewPlan(sc), Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Interrupted || len(f.Paths) != 2 || f.Paths[1].Name != results.AAName {
		t.Fatalf("interrupted %v, %d rows", f.Interrupted, len(f.Paths))
	}
	p := f.Paths[0]
	for _, p := range f.Paths {
		if p.Errors != 0 || p.Requests < 580 || p.Requests > 620 {
			t.Errorf("%s: %d requests (want about 600), %d errors %v", p.Name, p.Requests, p.Errors, p.ErrorsByClass)
		}
		if p.Proxy != nil || len(p.Windows) != 6 || p.HostStats == nil || p.HostStats.CPU == nil {
			t.Errorf("%s: proxy usage %v, %d windows, host stats %+v", p.Name, p.Proxy, len(p.Windows), p.HostStats)
		}
		var n int64
		for _, w := range p.Windows {
			n += w.Requests
		}
		if n != p.Requests {
			t.Errorf("%s: windows hold %d requests, the row %d", p.Name, n, p.Requests)
		}
	}
	if !p.Baseline || p.OverheadMs != nil || f.Paths[1].OverheadMs == nil {
		t.Errorf("baseline %v with overhead %v; A/A overhead %v", p.Baseline, p.OverheadMs, f.Paths[1].OverheadMs)
	}
	if len(f.Summary) != 2 || f.Summary[0].Verdict != results.VerdictBaseline || f.Summary[1].Pairs != 6 || f.Summary[1].Confidence < 0.95 || f.NoiseFloorMs == nil {
		t.Errorf("summary %+v, noise floor %+v", f.Summary, f.NoiseFloorMs)
	}
	if f.Schema != results.Schema || len(f.Scenario) == 0 || f.Host.Hostname == "" || len(f.Notes) == 0 {
		t.Errorf("result header incomplete: schema %q, scenario %d bytes, host %q, notes %v", f.Schema, len(f.Scenario), f.Host.Hostname, f.Notes)
	}
}

// TestRunSendBatchNote: a run whose sends were grouped says so in its notes,
// with the slot and the setting, and keeps an explicit setting in the
// scenario it records; a run that grouped nothing says nothing of it.
func TestRunSendBatchNote(t *testing.T) {
	t.Parallel()
	cases := []struct {
		batch    scenario.Batch
		rate     float64
		note     string // "" for none
		recorded string
	}{
		{scenario.Batch(load.MaxSendBatch), 100, "grouped its sends in 250µs slots (send_batch 250µs)", `"send_batch":"250µs"`},
		{scenario.BatchAuto, 5000, "grouped its sends in 250µs slots at 4000 requests/s and above (send_batch auto)", ""},
		{scenario.BatchAuto, 100, "", ""},
		{scenario.BatchOff, 5000, "", `"send_batch":"off"`},
	}
	for _, c := range cases {
		sc := shortScenario("direct")
		sc.Duration, sc.Warmup = scenario.Duration(300*time.Millisecond), 0
		sc.Rate = scenario.Rate{Shape: scenario.ShapeConstant, RPS: c.rate}
		sc.SendBatch = c.batch
		f, err := Run(context.Background(), NewPlan(sc), Env{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		notes := strings.Join(f.Notes, "\n")
		if c.note == "" && strings.Contains(notes, "grouped") || !strings.Contains(notes, c.note) {
			t.Errorf("send_batch %s at %g/s: notes %q, want %q", c.batch, c.rate, notes, c.note)
		}
		if got := strings.Contains(string(f.Scenario), `"send_batch"`); got != (c.recorded != "") || !strings.Contains(string(f.Scenario), c.recorded) {
			t.Errorf("send_batch %s: recorded scenario %s, want %q", c.batch, f.Scenario, c.recorded)
		}
	}
}

// TestConcurrentRuns runs two benchmarks at once in one process, each with a
// real haproxy: each run stops only what it started, so both keep their
// proxies until their own end and measure without errors.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	needBinary(t, "haproxy")
	var wg sync.WaitGroup
	files := make([]*results.File, 2)
	errs := make([]error, 2)
	for i := range files {
		sc := shortScenario("direct", "haproxy")
		if i == 1 {
			// Different lengths, so that one run ends in the middle of the
			// other's windows.
			sc.Duration = scenario.Duration(time.Second)
			sc.Trials = 2
		}
		wg.Go(func() { files[i], errs[i] = Run(context.Background(), NewPlan(sc), Env{}, nil) })
	}
	wg.Wait()
	for i, f := range files {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		for _, p := range f.Paths {
			if p.Errors != 0 || p.Requests == 0 {
				t.Errorf("run %d %s round %d: %d requests, %d errors %v", i, p.Name, p.Trial, p.Requests, p.Errors, p.ErrorsByClass)
			}
			if p.Kind == "haproxy" && (p.Proxy == nil || p.Proxy.CPUSeconds <= 0 || p.OverheadMs == nil) {
				t.Errorf("run %d haproxy round %d: usage %+v, overhead %v, warnings %v", i, p.Trial, p.Proxy, p.OverheadMs, p.Warnings)
			}
		}
	}
	if len(files[0].Paths) != 3 || len(files[1].Paths) != 6 {
		t.Errorf("rows: %d and %d, want 3 and 6", len(files[0].Paths), len(files[1].Paths))
	}
}

// cancelAt cancels the run once the load engine reports the measured phase
// of window n.
type cancelAt struct {
	quiet
	n      int
	cancel context.CancelFunc
}

func (c cancelAt) Load(w Window, p load.Progress) {
	if w.N == c.n && p.Phase == load.PhaseMeasure && p.Sent > 0 {
		c.cancel()
	}
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := shortScenario("direct")
	sc.Trials = 3
	plan := NewPlan(sc)
	plan.Window = 0
	// Windows: direct, direct-aa in round 1; cut the third, round 2's first.
	f, err := Run(ctx, plan, Env{}, cancelAt{n: 3, cancel: cancel})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Interrupted || len(f.Paths) != 3 {
		t.Fatalf("interrupted %v with %d rows, want true with 3", f.Interrupted, len(f.Paths))
	}
	if full, cut := f.Paths[0], f.Paths[2]; cut.Trial != 2 || cut.DurationS >= full.DurationS || len(cut.Warnings) == 0 {
		t.Errorf("cut window: round %d, %.2fs (full %.2fs), warnings %v", cut.Trial, cut.DurationS, full.DurationS, cut.Warnings)
	}
}

// childCPUs records, when each row is done, the CPU list of every haproxy
// this process started and of this process itself.
type childCPUs struct {
	quiet
	mu      sync.Mutex
	haproxy []string
	self    string
}

func (c *childCPUs) Done(_ Window, p *results.Path) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The thread this callback runs on stands for the load generator's
	// (the process's main thread may be the one children are forked from).
	runtime.LockOSThread()
	mine, _ := placement.Allowed()
	runtime.UnlockOSThread()
	c.self = placement.Format(mine)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || !strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(os.Getpid())+"\n") || !strings.HasPrefix(string(status), "Name:\thaproxy") {
			continue
		}
		cpus, _ := placement.ProcessCPUs("/proc", pid)
		c.haproxy = append(c.haproxy, cpus)
	}
}

// TestSplitPlacement: with placement split, this process (load generator
// and backend) runs on one CPU set and the proxies it starts on the other,
// as the result records; afterwards every thread has its CPUs back.
func TestSplitPlacement(t *testing.T) {
	needBinary(t, "haproxy")
	cpus, err := placement.Allowed()
	if err != nil || len(cpus) < 2 {
		t.Skipf("a split needs 2 CPUs, this process may use %v (%v)", cpus, err)
	}
	before := placement.Format(cpus)
	sc := shortScenario("direct", "haproxy")
	sc.Placement = placement.Split
	obs := &childCPUs{}
	f, err := Run(context.Background(), NewPlan(sc), Env{}, obs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := placement.Choose(placement.Split, cpus)
	lg, px := placement.Format(want.Loadgen), placement.Format(want.Proxies)
	if f.Placement == nil || f.Placement.Mode != placement.Split || f.Placement.Loadgen != lg || f.Placement.Backend != lg || f.Placement.Proxies != px {
		t.Errorf("result placement %+v, want loadgen %s, proxies %s", f.Placement, lg, px)
	}
	if obs.self != lg || len(obs.haproxy) == 0 {
		t.Fatalf("this process on %q (want %s); haproxy children on %v", obs.self, lg, obs.haproxy)
	}
	for _, c := range obs.haproxy {
		if c != px {
			t.Errorf("a haproxy ran on CPUs %s, want %s", c, px)
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if after, _ := placement.ProcessCPUs("/proc/self/task", mustAtoi(task.Name())); after != before {
			t.Errorf("thread %s on CPUs %s after the run, %s before", task.Name(), after, before)
		}
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// killHAProxy SIGKILLs this process's haproxy children once haproxy's
// first window is measuring.
type killHAProxy struct {
	quiet
	once sync.Once
}

func (k *killHAProxy) Load(w Window, p load.Progress) {
	if w.Path.Name != "haproxy" || p.Phase != load.PhaseMeasure || p.Sent == 0 {
		return
	}
	k.once.Do(func() {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err == nil && strings.HasPrefix(string(status), "Name:\thaproxy") && strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(os.Getpid())+"\n") {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// TestProxyDiesMidWindow: a proxy killed during its window is named as the
// cause in its row and in the run's error, and its later windows are not
// measured (they would only count connection errors against the target).
// Not parallel: it kills every haproxy child of this test process.
func TestProxyDiesMidWindow(t *testing.T) {
	needBinary(t, "haproxy")
	sc := shortScenario("direct", "haproxy")
	sc.Duration = scenario.Duration(2 * time.Second) // two 1 s windows
	f, err := Run(context.Background(), NewPlan(sc), Env{}, &killHAProxy{})
	if err == nil || !strings.Contains(err.Error(), "path haproxy") || !strings.Contains(err.Error(), "ended during the run") {
		t.Fatalf("run error %v, want haproxy's death", err)
	}
	var hap *results.Path
	for i := range f.Paths {
		if f.Paths[i].Name == "haproxy" {
			hap = &f.Paths[i]
		}
	}
	if hap == nil || len(hap.Windows) != 1 || !strings.Contains(strings.Join(hap.Warnings, ";"), "proxy died") {
		t.Fatalf("haproxy row %+v", hap)
	}
	for _, p := range f.Paths {
		if p.Kind == "direct" && (len(p.Windows) != 2 || p.Errors != 0) {
			t.Errorf("%s: %d windows, %d errors; the other paths go on", p.Name, len(p.Windows), p.Errors)
		}
	}
}
