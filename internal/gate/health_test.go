package gate_test

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/results"
)

// pair is a baseline and a result drawn from one distribution, so that
// every latency rule between them passes unless run health says otherwise.
func pair(seed uint64) (cur, base *results.File) {
	s := synth{seed: seed, rounds: 5, windows: 2, noise: 0.05}
	paths := []spec{{"direct", "direct", 0.5}, {"haproxy", "haproxy", 1}}
	base = s.file(paths...)
	s.seed++
	return s.file(paths...), base
}

func TestHealthy(t *testing.T) {
	t.Parallel()
	cur, _ := pair(20)
	h := gate.CheckHealth("result", cur)
	if !h.OK() || !strings.Contains(h.String(), "result: healthy") {
		t.Errorf("%s", h)
	}
}

// TestLateSendsSpoilThatPath: 2% late sends on haproxy make its latency
// rules inconclusive (not for want of samples: more rounds are not asked
// for), leave direct's alone, and do not touch a rule on errors.
func TestLateSendsSpoilThatPath(t *testing.T) {
	t.Parallel()
	cur, base := pair(22)
	for i := range cur.Paths {
		if cur.Paths[i].Name == "haproxy" {
			cur.Paths[i].Late.Count = cur.Paths[i].Requests / 50
		}
	}
	h := gate.CheckHealth("result", cur)
	if h.OK() || !strings.Contains(h.String(), "haproxy: 2.00% of sends left late (more than 1%): the load generator could not keep up") {
		t.Fatalf("%s", h)
	}
	// The same sends, most of them due while the host had not woken the
	// load generator: the run is as unhealthy, the cause named differently.
	host := *cur
	host.Paths = append([]results.Path(nil), cur.Paths...)
	for i := range host.Paths {
		if host.Paths[i].Name == "haproxy" {
			host.Paths[i].Late.LoopWokeLateCount = host.Paths[i].Late.Count * 3 / 4
		}
	}
	if h := gate.CheckHealth("result", &host); h.OK() || !strings.Contains(h.String(), "2.00% of sends left late (more than 1%): most were due while the host had not woken the load generator") {
		t.Errorf("%s", h)
	}
	out := decide(t, cur, base, gate.Options{}, "haproxy.p99<=+10%", "direct.p99<=+10%", "haproxy.errors<=0", "haproxy.overhead.p50<=5ms")
	if o := out[0]; o.Decision != gate.Inconclusive || o.Pass || o.MoreSamples || o.Why != "run unhealthy (result: haproxy 2.00% late sends)" {
		t.Errorf("haproxy: %s", o)
	}
	if out[1].Decision != gate.NoChange || out[2].Decision != gate.Holds || out[3].Decision != gate.Inconclusive {
		t.Errorf("direct, errors, overhead: %v", out[1:])
	}
	// A baseline with the same problem spoils comparisons with it only.
	out = decide(t, base, cur, gate.Options{}, "haproxy.p99<=+10%", "haproxy.p99<=5ms")
	if out[0].Decision != gate.Inconclusive || !strings.Contains(out[0].Why, "(baseline: haproxy 2.00% late sends)") || out[1].Decision != gate.Holds {
		t.Errorf("unhealthy baseline: %v", out)
	}
}

// TestStealSpoilsTheRun: steal above 5% in any row's windows spoils every
// latency rule; steal the kernel does not report is no finding.
func TestStealSpoilsTheRun(t *testing.T) {
	t.Parallel()
	cur, base := pair(24)
	cur.Paths[3].HostStats = &results.HostStats{CPU: &results.CPUStats{StealPct: 1.2, StealMaxPct: 7.5, StealReported: true}}
	h := gate.CheckHealth("result", cur)
	if h.OK() || !strings.Contains(h.String(), "CPU steal reached 7.5% (during haproxy round 2") {
		t.Fatalf("%s", h)
	}
	o := one(t, cur, base, "direct.p99<=+10%")
	if o.Decision != gate.Inconclusive || !strings.Contains(o.Why, "steal") {
		t.Errorf("%s", o)
	}
	cur.Paths[3].HostStats.CPU.StealReported = false
	if h := gate.CheckHealth("result", cur); !h.OK() {
		t.Errorf("unreported steal: %s", h)
	}
}

// TestShortRateAndRegression: a rate 5% short is a problem; a regression
// on an unhealthy run stays a regression, with the reason beside it.
func TestShortRateAndRegression(t *testing.T) {
	t.Parallel()
	s := synth{seed: 26, rounds: 5, windows: 2, noise: 0.05}
	base := s.file(spec{"haproxy", "haproxy", 1})
	s.seed++
	cur := s.file(spec{"haproxy", "haproxy", 1.5})
	for i := range cur.Paths {
		cur.Paths[i].AchievedRate = 950
	}
	if h := gate.CheckHealth("result", cur); !strings.Contains(h.String(), "haproxy: sent 950 of 1000 requests/s (5.00% short, more than 1%)") {
		t.Errorf("%s", h)
	}
	o := one(t, cur, base, "haproxy.p99<=+10%")
	if o.Decision != gate.Regressed || o.Why != "run unhealthy (result: haproxy rate 5.00% short)" {
		t.Errorf("%s", o)
	}
}
