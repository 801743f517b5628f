package runner

import (
	"math"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// synthetic is a window of one-second slices, slice i holding reqs[i]
// requests of which errs[i] failed, each answered in lat[i].
func synthetic(reqs, errs []int64, lat []time.Duration) *load.Result {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &load.Result{Start: start, End: start.Add(time.Duration(len(reqs)) * time.Second)}
	for i := range reqs {
		h := hdrhistogram.New(results.HistMin, results.HistMax, 2)
		for range reqs[i] {
			h.RecordValue(int64(lat[i]))
		}
		r.Timeline = append(r.Timeline, load.Interval{
			Start: time.Duration(i) * time.Second, Length: time.Second,
			Requests: reqs[i], Errors: errs[i], Response: h,
		})
	}
	return r
}

func dur(d time.Duration) scenario.Duration { return scenario.Duration(d) }

// TestWindowResilience: phases run from the first fault's start to the last
// one's end, their counts add up to the window's, their p99 comes from the
// merged slices, and each fault's recovery is the start of the first clean
// second from it on.
func TestWindowResilience(t *testing.T) {
	ms := time.Millisecond
	// 8 s: clean, clean, 50% errors, 10% errors, clean (kill ends at 4 s),
	// 5/400 errors (over 1%), 3/400 (under), clean.
	reqs := []int64{400, 400, 400, 400, 400, 400, 400, 400}
	errs := []int64{0, 0, 200, 40, 0, 5, 3, 0}
	lat := []time.Duration{ms, ms, 50 * ms, 20 * ms, 2 * ms, 3 * ms, 3 * ms, ms}
	half := 0.5
	faults := []scenario.Fault{
		{At: dur(2 * time.Second), Replica: 0, Kill: true, RestoreAfter: dur(2 * time.Second)},
		{At: dur(5 * time.Second), Replica: 1, ErrorRate: &half, RestoreAfter: dur(time.Second)},
	}
	r, err := windowResilience(faults, synthetic(reqs, errs, lat))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start, end     float64
		requests, errs int64
		p99            float64
	}{{0, 2, 800, 0, 1}, {2, 6, 1600, 245, 50}, {6, 8, 800, 3, 3}}
	for i, ph := range []results.Phase{r.Before, r.During, r.After} {
		w := want[i]
		if ph.StartS != w.start || ph.EndS != w.end || ph.Requests != w.requests || ph.Errors != w.errs {
			t.Errorf("phase %d: %+v, want %+v", i, ph, w)
		}
		// Two-digit slices: the p99 is within 1% of the recorded value.
		if math.Abs(ph.P99Ms-w.p99) > w.p99/100 || ph.Histogram == "" {
			t.Errorf("phase %d: p99 %g ms, want %g (histogram %q)", i, ph.P99Ms, w.p99, ph.Histogram)
		}
	}
	if r.Before.ErrorPct != 0 || r.During.ErrorPct != 15.313 {
		t.Errorf("error shares %g, %g", r.Before.ErrorPct, r.During.ErrorPct)
	}
	// The kill at 2 s: first clean slice [4,5) → 2 s. The error rate at
	// 5 s: [5,6) has 1.25%, [6,7) 0.75% → 1 s.
	if len(r.Faults) != 2 || *r.Faults[0].RecoverS != 2 || *r.Faults[1].RecoverS != 1 || r.Faults[0].Recovered != 1 {
		t.Fatalf("faults %+v", r.Faults)
	}
	if f := r.Faults[0]; f.Action != "kill" || f.AtS != 2 || f.EndS != 4 || f.Requests != 800 || f.Errors != 240 {
		t.Errorf("kill %+v", f)
	}
	if f := r.Faults[1]; f.Requests != 400 || f.Errors != 5 {
		t.Errorf("error rate %+v", f)
	}
	if r.RecoverS == nil || *r.RecoverS != 2 || r.RecoverNote != "" || r.ResolutionS != 1 || r.Windows != 1 {
		t.Errorf("block: recover %v %q, resolution %g, windows %d", r.RecoverS, r.RecoverNote, r.ResolutionS, r.Windows)
	}

	// A fault that lasts to the window's end leaves "after" empty; one
	// whose errors never drop under 1% has no recovery, and the block
	// says so.
	errs = []int64{0, 0, 200, 200, 200, 200, 200, 200}
	r, err = windowResilience([]scenario.Fault{{At: dur(2 * time.Second), Replica: 1, ErrorRate: &half}}, synthetic(reqs, errs, lat))
	if err != nil {
		t.Fatal(err)
	}
	if r.After.Requests != 0 || r.After.StartS != 8 || r.After.EndS != 8 || r.During.EndS != 8 || r.Faults[0].EndS != 8 {
		t.Errorf("after %+v, during %+v, fault %+v", r.After, r.During, r.Faults[0])
	}
	if r.RecoverS != nil || r.Faults[0].RecoverS != nil || r.RecoverNote == "" {
		t.Errorf("never recovered, yet recover %v, note %q", r.RecoverS, r.RecoverNote)
	}

	// Two rounds merge: counts add, recovery is the worse, and one round
	// that never recovered makes the whole null.
	clean, err := windowResilience([]scenario.Fault{{At: dur(2 * time.Second), Replica: 1, ErrorRate: &half}}, synthetic(reqs, make([]int64, 8), lat))
	if err != nil {
		t.Fatal(err)
	}
	m := results.MergeResilience([]*results.Resilience{clean, nil, r})
	if m.Windows != 2 || m.During.Requests != 2*r.During.Requests || m.RecoverS != nil || m.Faults[0].Recovered != 1 {
		t.Errorf("merged: windows %d, during %+v, recover %v, fault %+v", m.Windows, m.During, m.RecoverS, m.Faults[0])
	}
	if m.During.P99Ms != r.During.P99Ms {
		t.Errorf("merged during p99 %g, rounds had %g and %g", m.During.P99Ms, clean.During.P99Ms, r.During.P99Ms)
	}
}

// TestRecoveryNeedsAWholeCleanSlice: a slice without requests, or cut
// short by the window's end, shows no recovery.
func TestRecoveryNeedsAWholeCleanSlice(t *testing.T) {
	r := synthetic([]int64{100, 100, 0, 100}, []int64{0, 50, 0, 0}, []time.Duration{1e6, 1e6, 1e6, 1e6})
	r.End = r.Start.Add(3500 * time.Millisecond)
	if d, ok := recovery(r.Timeline, time.Second, r.Window()); ok {
		t.Errorf("recovered after %s in an empty slice or a cut one", d)
	}
	if d, ok := recovery(r.Timeline, 1500*time.Millisecond, 4*time.Second); !ok || d != 1500*time.Millisecond {
		t.Errorf("recovery %s %v, want 1.5s (slice [3,4) after a fault at 1.5s)", d, ok)
	}
	if d, ok := recovery(r.Timeline, 300*time.Millisecond, 4*time.Second); !ok || d != 0 {
		t.Errorf("a fault hidden in its own slice: recovery %s %v, want 0", d, ok)
	}
}
