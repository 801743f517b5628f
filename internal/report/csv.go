package report

import (
	"encoding/csv"
	"fmt"
	"io"

	"github.com/meshbench/meshbench/internal/results"
)

// csvPercentiles are the rows of each host × path, in the order a reader
// scans a latency distribution.
var csvPercentiles = []struct {
	name string
	get  func(p *PathReport) (resp, svc float64, over *float64)
}{
	{"min", func(p *PathReport) (float64, float64, *float64) { return p.LatencyMs.Min, p.ServiceTimeMs.Min, nil }},
	{"mean", func(p *PathReport) (float64, float64, *float64) { return p.LatencyMs.Mean, p.ServiceTimeMs.Mean, nil }},
	{"p50", func(p *PathReport) (float64, float64, *float64) {
		return p.LatencyMs.P50, p.ServiceTimeMs.P50, overhead(p, func(o *results.Overhead) float64 { return o.P50 })
	}},
	{"p90", func(p *PathReport) (float64, float64, *float64) {
		return p.LatencyMs.P90, p.ServiceTimeMs.P90, overhead(p, func(o *results.Overhead) float64 { return o.P90 })
	}},
	{"p99", func(p *PathReport) (float64, float64, *float64) {
		return p.LatencyMs.P99, p.ServiceTimeMs.P99, overhead(p, func(o *results.Overhead) float64 { return o.P99 })
	}},
	{"p99.9", func(p *PathReport) (float64, float64, *float64) {
		return p.LatencyMs.P999, p.ServiceTimeMs.P999, overhead(p, func(o *results.Overhead) float64 { return o.P999 })
	}},
	{"p99.99", func(p *PathReport) (float64, float64, *float64) { return p.LatencyMs.P9999, p.ServiceTimeMs.P9999, nil }},
	{"max", func(p *PathReport) (float64, float64, *float64) { return p.LatencyMs.Max, p.ServiceTimeMs.Max, nil }},
}

func overhead(p *PathReport, get func(*results.Overhead) float64) *float64 {
	if p.OverheadMs == nil {
		return nil
	}
	v := get(p.OverheadMs)
	return &v
}

// writeCSV is one row per host × path × percentile: the long form that
// spreadsheets and data frames pivot as they like. Empty cells are unknown
// or not applicable (no overhead for direct), never zero. Names from the
// file go through csvText.
func writeCSV(w io.Writer, r *Report, _ Options) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"host", "hostname", "path", "kind", "trials", "percentile",
		"latency_ms", "service_time_ms", "overhead_ms",
		"requests", "errors", "achieved_rate", "target_rate"})
	for _, f := range r.Files {
		for i := range f.Paths {
			p := &f.Paths[i]
			if p.LatencyMs.Count == 0 {
				continue
			}
			for _, pc := range csvPercentiles {
				resp, svc, over := pc.get(p)
				svcCell, overCell := "", ""
				if p.ServiceTimeMs.Count > 0 {
					svcCell = num(svc)
				}
				if over != nil {
					overCell = num(*over)
				}
				cw.Write([]string{csvText(f.Name), csvText(f.Host.Hostname), csvText(p.Name), csvText(p.Kind), fmt.Sprint(p.Trials), pc.name,
					num(resp), svcCell, overCell,
					fmt.Sprint(p.Requests), fmt.Sprint(p.Errors), num(p.AchievedRate), num(p.TargetRate)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
