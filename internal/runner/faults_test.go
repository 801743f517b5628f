package runner

import (
	"context"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestFaultScenarioResilience runs direct and haproxy through a replica
// killed 1 s into each window and revived 2 s later. Every path gets a
// resilience block with phases 0-1 s, 1-3 s and 3-4 s whose counts add up
// to the row's; nothing fails before the kill; direct passes the refused
// connections on, haproxy retries them elsewhere and says so in its
// counters.
func TestFaultScenarioResilience(t *testing.T) {
	t.Parallel()
	needBinary(t, "haproxy")
	sc := shortScenario("direct", "haproxy")
	sc.Duration = scenario.Duration(4 * time.Second)
	sc.Timeout = scenario.Duration(time.Second)
	sc.HostStats.Disabled = true
	sc.Faults = []scenario.Fault{{At: dur(time.Second), Replica: 0, Kill: true, RestoreAfter: dur(2 * time.Second)}}
	f, err := Run(context.Background(), NewPlan(sc), Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Paths) != 3 || len(f.Summary) != 3 {
		t.Fatalf("%d rows, %d summary entries", len(f.Paths), len(f.Summary))
	}
	during := map[string]int64{}
	for i, p := range f.Paths {
		r, s := p.Resilience, f.Summary[i].Resilience
		if r == nil || s == nil || f.Summary[i].Name != p.Name {
			t.Fatalf("%s: row block %v, summary block %v", p.Name, r, s)
		}
		if s.During.Errors != r.During.Errors || s.Windows != 1 {
			t.Errorf("%s: the summary of one round differs from its row: %+v vs %+v", p.Name, s.During, r.During)
		}
		phases := []results.Phase{r.Before, r.During, r.After}
		bounds := [][2]float64{{0, 1}, {1, 3}, {3, 4}}
		var reqs, errs int64
		for k, ph := range phases {
			if ph.StartS != bounds[k][0] || ph.EndS != bounds[k][1] || ph.Requests == 0 || ph.P99Ms <= 0 {
				t.Errorf("%s phase %d: %+v, want %v with requests", p.Name, k, ph, bounds[k])
			}
			reqs += ph.Requests
			errs += ph.Errors
		}
		if reqs != p.Requests || errs != p.Errors {
			t.Errorf("%s: phases hold %d requests, %d errors; the row %d, %d", p.Name, reqs, errs, p.Requests, p.Errors)
		}
		if r.Before.Errors != 0 {
			t.Errorf("%s: %d errors before the kill", p.Name, r.Before.Errors)
		}
		if len(r.Faults) != 1 || r.Faults[0].Action != "kill" || r.Faults[0].AtS != 1 || r.Faults[0].EndS != 3 || r.ResolutionS != 1 {
			t.Errorf("%s: faults %+v, resolution %g", p.Name, r.Faults, r.ResolutionS)
		}
		if (r.RecoverS == nil) == (r.RecoverNote == "") {
			t.Errorf("%s: recover %v with note %q", p.Name, r.RecoverS, r.RecoverNote)
		}
		during[p.Name] = r.During.Errors
	}
	// Replica 0 of 2 refuses connections for 2 s at 200/s: about 200 of
	// direct's requests fail.
	if during["direct"] < 50 || during[results.AAName] < 50 {
		t.Errorf("direct passed on only %d and %d errors of a killed replica", during["direct"], during[results.AAName])
	}
	hap := f.Paths[1].Resilience
	if during["haproxy"] >= during["direct"] || hap.ProxyCounters["retries"]+hap.ProxyCounters["redispatches"] == 0 {
		t.Errorf("haproxy: %d errors during the kill (direct %d), counters %v", during["haproxy"], during["direct"], hap.ProxyCounters)
	}
	if f.Paths[0].Resilience.ProxyCounters != nil {
		t.Errorf("direct has proxy counters %v", f.Paths[0].Resilience.ProxyCounters)
	}
}
