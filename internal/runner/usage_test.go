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
