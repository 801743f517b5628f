package results_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// agentFile is agent i of n: a direct and a haproxy row, each value of ms
// recorded reps times, with one window sample per row.
func agentFile(t *testing.T, i, n, reps int, ms ...float64) *results.File {
	t.Helper()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f := &results.File{
		Schema: results.Schema, Scenario: json.RawMessage(`{"name":"s","rate":{"rps":1000}}`),
		Host:       results.Host{Hostname: "agent" + string(rune('0'+i))},
		ServerHost: &results.Host{Hostname: "server"},
		StartedAt:  start.Add(time.Duration(i) * time.Millisecond),
		Agent:      &results.Agent{Index: i, Count: n},
	}
	for k, name := range []string{"direct", "haproxy"} {
		p := trial(t, name, name, reps, ms...)
		p.Trial, p.Baseline = 1, name == "direct"
		p.ServiceHistogram = p.Histogram
		p.TargetRate = 1000 / float64(n)
		p.Late = results.Late{Count: int64(i), MaxMs: float64(i)}
		p.WindowStart = start.Add(time.Duration(k) * time.Second)
		p.Windows = []results.Sample{{DurationS: 1, Requests: p.Requests, P50Ms: p.LatencyMs.P50, P99Ms: p.LatencyMs.P99}}
		p.Timeline = []results.Interval{{Requests: p.Requests, P50Ms: p.LatencyMs.P50, MaxMs: p.LatencyMs.Max}}
		if name == "haproxy" {
			p.Proxy = &results.Proxy{Processes: 1, CPUSeconds: 0.5}
		}
		f.Paths = append(f.Paths, p)
	}
	return f
}

func TestMergeAgents(t *testing.T) {
	t.Parallel()
	a := agentFile(t, 1, 2, 100, 1, 2)
	b := agentFile(t, 2, 2, 50, 1, 4)
	// Given out of order: the merge sorts by agent.
	m, err := results.MergeAgents([]string{"b.json", "a.json"}, []*results.File{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Paths) != 2 || len(m.Agents) != 2 || m.Agent != nil || m.Host.Hostname != "agent1" || !m.StartedAt.Equal(a.StartedAt) {
		t.Fatalf("merged file: %d rows, agents %+v, agent %v, host %q, started %s", len(m.Paths), m.Agents, m.Agent, m.Host.Hostname, m.StartedAt)
	}
	for i, p := range m.Paths {
		pa, pb := a.Paths[i], b.Paths[i]
		h, err := results.DecodeHistogram(p.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		if h.TotalCount() != pa.Requests+pb.Requests || p.Requests != 300 || p.LatencyMs.Count != 300 {
			t.Errorf("%s: histogram holds %d, requests %d, want %d", p.Name, h.TotalCount(), p.Requests, pa.Requests+pb.Requests)
		}
		// a: 100 at 1 ms and 100 at 2 ms; b: 50 at 1 ms and 50 at 4 ms.
		if p.LatencyMs.P50 != 1 || p.LatencyMs.Max < 3.99 || p.LatencyMs.Max > 4.01 {
			t.Errorf("%s: p50 %.3f max %.3f, want 1 and 4 from the merged histogram", p.Name, p.LatencyMs.P50, p.LatencyMs.Max)
		}
		if p.TargetRate != 1000 || p.Late.Count != 3 || p.Late.MaxMs != 2 || len(p.Agents) != 2 || p.Agents[1].Late.Count != 2 {
			t.Errorf("%s: target %g, late %+v, agents %+v", p.Name, p.TargetRate, p.Late, p.Agents)
		}
		if len(p.Windows) != 1 || p.Windows[0].Requests != 300 || len(p.Timeline) != 1 || p.Timeline[0].Requests != 300 {
			t.Errorf("%s: windows %+v, timeline %+v", p.Name, p.Windows, p.Timeline)
		}
	}
	if hp := m.Paths[1]; hp.Proxy == nil || hp.Proxy.CPUSeconds != 0.5 || hp.OverheadMs == nil {
		t.Errorf("haproxy: proxy %+v (counted once: 0.5 CPU s), overhead %v", hp.Proxy, hp.OverheadMs)
	}
	if len(m.Summary) != 2 || m.Summary[0].Verdict != results.VerdictBaseline {
		t.Errorf("summary %+v", m.Summary)
	}
}

func TestMergeAgentsRefuses(t *testing.T) {
	t.Parallel()
	wide := func(f *results.File) {
		// A histogram with other bounds: merging it into the shared ones
		// could not keep its values exactly.
		h := hdrhistogram.New(1, 10*results.HistMax, 3)
		h.RecordValue(results.HistMax * 5)
		s, _ := results.EncodeHistogram(h)
		f.Paths[0].Histogram = s
	}
	cases := map[string]struct {
		files []*results.File
		want  string
	}{
		"missing agent":  {[]*results.File{agentFile(t, 1, 3, 1, 1), agentFile(t, 2, 3, 1, 1)}, "agent 1 of 3: merge the files of all 3 agents"},
		"twice":          {[]*results.File{agentFile(t, 1, 2, 1, 1), agentFile(t, 1, 2, 1, 1)}, "both agent 1"},
		"not an agent":   {[]*results.File{{Schema: results.Schema}, agentFile(t, 2, 2, 1, 1)}, "not a load agent's result"},
		"other scenario": {[]*results.File{agentFile(t, 1, 2, 1, 1), with(agentFile(t, 2, 2, 1, 1), func(f *results.File) { f.Scenario = json.RawMessage(`{"name":"x"}`) })}, "scenario differs"},
		"other rows":     {[]*results.File{agentFile(t, 1, 2, 1, 1), with(agentFile(t, 2, 2, 1, 1), func(f *results.File) { f.Paths[1].Name = "nginx" })}, "row 2 is nginx"},
		"other server":   {[]*results.File{agentFile(t, 1, 2, 1, 1), with(agentFile(t, 2, 2, 1, 1), func(f *results.File) { f.ServerHost.Hostname = "y" })}, "another server"},
		"bounds":         {[]*results.File{agentFile(t, 1, 2, 1, 1), with(agentFile(t, 2, 2, 1, 1), wide)}, "bounds"},
		"no histogram":   {[]*results.File{agentFile(t, 1, 2, 1, 1), with(agentFile(t, 2, 2, 1, 1), func(f *results.File) { f.Paths[0].Histogram = "" })}, "cannot be merged exactly"},
	}
	for name, c := range cases {
		names := make([]string, len(c.files))
		for i := range names {
			names[i] = "f" + string(rune('1'+i))
		}
		_, err := results.MergeAgents(names, c.files)
		if err == nil || errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v (exit %d), want exit 2 naming %q", name, err, errext.Code(err), c.want)
		}
	}
}

func with(f *results.File, change func(*results.File)) *results.File {
	change(f)
	return f
}
