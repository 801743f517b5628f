package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
)

// TestPathRow runs real load against a backend failing half its requests
// and checks the row built from it.
func TestPathRow(t *testing.T) {
	b, err := backend.Start(context.Background(), "127.0.0.1:0", backend.Config{ErrorRate: 0.5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := load.Run(context.Background(), load.Config{
		Targets: []string{b.URL()}, Rate: load.Rate{RPS: 200}, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var p results.Path
	if err := pathRow(&p, res); err != nil {
		t.Fatal(err)
	}
	if p.Requests != 100 || p.TargetRate != 200 || p.Late.ThresholdMs != 1 {
		t.Errorf("requests %d target %g threshold %g", p.Requests, p.TargetRate, p.Late.ThresholdMs)
	}
	if p.ErrorsByClass[load.Class5xx] != p.Errors || p.Errors < 30 || p.Errors > 70 {
		t.Errorf("errors %d by class %v, want about half as 5xx", p.Errors, p.ErrorsByClass)
	}
	h, err := results.DecodeHistogram(p.Histogram)
	if err != nil || h.TotalCount() != 100 {
		t.Errorf("histogram round trip: %v, %v", h, err)
	}
	if p.LatencyMs.Count != 100 || p.ServiceTimeMs.Count != 100 || len(p.Timeline) != 1 || p.Timeline[0].Requests != 100 {
		t.Errorf("latency %+v service %+v timeline %+v", p.LatencyMs, p.ServiceTimeMs, p.Timeline)
	}
	if p.Timeline[0].P50Ms <= 0 || p.Timeline[0].MaxMs < p.Timeline[0].P99Ms {
		t.Errorf("timeline percentiles %+v", p.Timeline[0])
	}
	if p.Throughput >= p.AchievedRate {
		t.Errorf("throughput %g counts failed requests (achieved %g)", p.Throughput, p.AchievedRate)
	}
}

// TestStallWarnings: each cause of a stall gets its own warning, naming the
// side that stalled.
func TestStallWarnings(t *testing.T) {
	base := load.Result{Sent: 1000, Late: load.Lateness{Threshold: time.Millisecond}}
	cases := map[string]struct {
		mutate func(*load.Result)
		want   []string
	}{
		"clean":       {func(*load.Result) {}, nil},
		"few late":    {func(r *load.Result) { r.Late.Loop = 5 }, nil},
		"loop lagged": {func(r *load.Result) { r.Late.Loop = 50 }, []string{"load generator could not keep up: 5.0%"}},
		"loop lagged, mostly awake": {func(r *load.Result) {
			r.Late.Loop, r.Late.TimedWakeups, r.Late.WokeLate, r.Late.LoopWokeLate = 50, 1000, 2, 20
		}, []string{"load generator could not keep up: 5.0%"}},
		"woken late by the host": {func(r *load.Result) {
			r.Late.Loop, r.Late.TimedWakeups, r.Late.WokeLate, r.Late.LoopWokeLate = 20, 800, 3, 15
		}, []string{"load generator woken late by the host: 2.0% of sends left more than 1ms late with a connection free (worst 0s), 15 of those 20 after one of its timer wake-ups (0.38% of them) came more than 1ms late: the host's scheduling"}},
		"target slow": {func(r *load.Result) { r.Late.ConnWait = 200 }, []string{"slow responses held every connection"}},
		"never answered": {func(r *load.Result) {
			r.Requests, r.Unsent = 1000, 7
			r.ErrorsByClass = map[string]int64{load.ClassTimeout: 10, load.ClassUnfinished: 7}
		}, []string{"target stalled: 1.7% of requests got no response (10 timed out, 7 unfinished", "7 requests were still waiting"}},
	}
	for name, c := range cases {
		r := base
		c.mutate(&r)
		got := stallWarnings(&r)
		if len(got) != len(c.want) {
			t.Errorf("%s: warnings %q, want %d", name, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %q, want it to contain %q", name, got[i], w)
			}
		}
	}
}

// TestMergeInto: a row's counts are the sums of its windows', lateness and
// its causes included, and its worst lateness the worst window's.
func TestMergeInto(t *testing.T) {
	window := func(n, loop, wait, timed, wokeLate int64, worst time.Duration) *load.Result {
		return &load.Result{Requests: n, Sent: n, ErrorsByClass: map[string]int64{},
			Late: load.Lateness{Count: loop + wait, Loop: loop, ConnWait: wait, Max: worst,
				TimedWakeups: timed, WokeLate: wokeLate, LoopWokeLate: wokeLate}}
	}
	row := &load.Result{ErrorsByClass: map[string]int64{}}
	mergeInto(row, window(1000, 12, 3, 990, 10, 4*time.Millisecond))
	mergeInto(row, window(1000, 5, 0, 995, 5, 2*time.Millisecond))
	want := load.Lateness{Count: 20, Loop: 17, ConnWait: 3, Max: 4 * time.Millisecond, TimedWakeups: 1985, WokeLate: 15, LoopWokeLate: 15}
	if row.Requests != 2000 || row.Sent != 2000 || row.Late != want {
		t.Errorf("merged %d requests, %d sent, late %+v; want 2000, 2000, %+v", row.Requests, row.Sent, row.Late, want)
	}
}
