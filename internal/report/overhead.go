package report

import (
	"fmt"

	"github.com/meshbench/meshbench/internal/results"
)

// overheadCell is a path's overhead at p50, p90 or p99 as a reader should
// take it: with its 95% interval when the file has one, and as "within
// noise" when that interval holds 0, since its sign then means nothing.
// Files without intervals show the bare difference of merged percentiles.
func overheadCell(p *PathReport, pct string) string {
	if p == nil {
		return "-"
	}
	if s := p.Summary; s != nil && s.OverheadMs != nil {
		e := s.OverheadMs.P50
		switch pct {
		case "p90":
			e = s.OverheadMs.P90
		case "p99":
			e = s.OverheadMs.P99
		}
		if s.Verdict == results.VerdictFewWindows {
			return fmt.Sprintf("%s (n=%d)", signedMs(e.Value), s.Pairs)
		}
		return estimateText(e)
	}
	if o := p.OverheadMs; o != nil {
		switch pct {
		case "p90":
			return signedMs(o.P90)
		case "p99":
			return signedMs(o.P99)
		}
		return signedMs(o.P50)
	}
	return "-"
}

// estimateText writes "+0.081 [0.072, 0.093]", or "within noise [-0.004,
// 0.006]" when the interval holds 0.
func estimateText(e results.Estimate) string {
	iv := fmt.Sprintf("[%s, %s]", ms(e.Lo), ms(e.Hi))
	if e.Contains(0) {
		return "within noise " + iv
	}
	return signedMs(e.Value) + " " + iv
}

// hasOverheadCell reports whether a path has an overhead to show.
func hasOverheadCell(p *PathReport) bool {
	return p != nil && (p.OverheadMs != nil || (p.Summary != nil && p.Summary.OverheadMs != nil))
}

// noiseLine says how far the run's figures can be told apart: its A/A
// noise floor and how its intervals were made.
func noiseLine(f FileReport) string {
	nf := f.NoiseFloorMs
	if nf == nil {
		return ""
	}
	pairs, conf := 0, 0.0
	for _, p := range f.Paths {
		if p.Summary != nil && p.Summary.Name == results.AAName {
			pairs, conf = p.Summary.Pairs, p.Summary.Confidence
		}
	}
	return fmt.Sprintf("noise floor (direct against itself, A/A): ±%s ms at p50, ±%s ms at p99; intervals are %.0f%% sign-test intervals over %d paired windows",
		ms(nf.P50), ms(nf.P99), 100*conf, pairs)
}
