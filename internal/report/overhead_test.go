package report

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/results"
)

func TestOverheadCell(t *testing.T) {
	est := func(v, lo, hi float64) results.Estimate { return results.Estimate{Value: v, Lo: lo, Hi: hi} }
	above := &PathReport{Summary: &results.Summary{Pairs: 12, Verdict: results.VerdictAbove,
		OverheadMs: &results.OverheadEstimate{P50: est(0.081, 0.072, 0.093), P90: est(0.1, 0.09, 0.2), P99: est(0.5, -0.1, 1.2)}}}
	few := &PathReport{Summary: &results.Summary{Pairs: 3, Verdict: results.VerdictFewWindows,
		OverheadMs: &results.OverheadEstimate{P50: est(0.05, 0.01, 0.09)}}}
	old := &PathReport{OverheadMs: &results.Overhead{P50: -0.004, P99: 0.2}}
	for _, c := range []struct {
		p    *PathReport
		pct  string
		want string
	}{
		{above, "p50", "+0.081 [0.072, 0.093]"},
		{above, "p90", "+0.100 [0.090, 0.200]"},
		{above, "p99", "within noise [-0.100, 1.200]"},
		{few, "p50", "+0.050 (n=3)"},
		{old, "p50", "-0.004"},
		{old, "p99", "+0.200"},
		{&PathReport{}, "p50", "-"},
		{nil, "p50", "-"},
	} {
		if got := overheadCell(c.p, c.pct); got != c.want {
			t.Errorf("%s: %q, want %q", c.pct, got, c.want)
		}
	}
}

func TestNoiseLine(t *testing.T) {
	f := FileReport{NoiseFloorMs: &results.NoiseFloor{P50: 0.012, P99: 0.4},
		Paths: []PathReport{{Name: results.AAName, Summary: &results.Summary{Name: results.AAName, Pairs: 20, Confidence: 0.959}}}}
	got := noiseLine(f)
	for _, want := range []string{"±0.012 ms at p50", "±0.400 ms at p99", "96% sign-test intervals over 20 paired windows"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if noiseLine(FileReport{}) != "" {
		t.Error("a file without a noise floor got a line")
	}
}
