package runner

import (
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func TestUsageDelta(t *testing.T) {
	u0 := &results.Proxy{CPUSeconds: 1.5, MaxRSSBytes: 10 << 20, Counters: map[string]float64{"retries": 4, "servers_up": 3}}
	u1 := &results.Proxy{CPUSeconds: 2.0, MaxRSSBytes: 12 << 20, Counters: map[string]float64{"retries": 10, "servers_up": 2}}
	d := usageDelta(u0, u1)
	if d.CPUSeconds != 0.5 || d.MaxRSSBytes != 12<<20 {
		t.Errorf("cpu %g rss %d", d.CPUSeconds, d.MaxRSSBytes)
	}
	// retries counts up; servers_up is a gauge that haproxy registers.
	if d.Counters["retries"] != 6 || d.Counters["servers_up"] != 2 {
		t.Errorf("counters %v", d.Counters)
	}
	if u1.Counters["retries"] != 10 {
		t.Error("usageDelta changed its input")
	}
}

// TestAddUsage: CPU time and counting counters add up over windows; the
// peaks, summed and per process, and the gauges are the later window's.
func TestAddUsage(t *testing.T) {
	w1 := &results.Proxy{Processes: 4, CPUSeconds: 0.5, MaxRSSBytes: 60 << 20, MaxProcessRSSBytes: 16 << 20,
		Counters: map[string]float64{"retries": 2, "servers_up": 3}}
	w2 := &results.Proxy{Processes: 4, CPUSeconds: 0.25, MaxRSSBytes: 62 << 20, MaxProcessRSSBytes: 17 << 20,
		Counters: map[string]float64{"retries": 1, "servers_up": 2}}
	acc := addUsage(nil, w1)
	acc = addUsage(acc, w2)
	if acc.CPUSeconds != 0.75 || acc.MaxRSSBytes != 62<<20 || acc.MaxProcessRSSBytes != 17<<20 || acc.Processes != 4 {
		t.Errorf("got %+v", acc)
	}
	if acc.Counters["retries"] != 3 || acc.Counters["servers_up"] != 2 {
		t.Errorf("counters %v", acc.Counters)
	}
	if w1.CPUSeconds != 0.5 || w1.Counters["retries"] != 2 {
		t.Error("addUsage changed its first window")
	}
}
