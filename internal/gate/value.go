package gate

import (
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// value reads metric from a merged path; ok is false when the file has no
// such figure (no direct path for overhead, no samples).
func value(p results.Merged, metric string) (float64, bool) {
	pct := func(x results.Percentiles, k string) (float64, bool) {
		if x.Count == 0 {
			return 0, false
		}
		switch k {
		case "p50":
			return x.P50, true
		case "p90":
			return x.P90, true
		case "p99":
			return x.P99, true
		case "p999":
			return x.P999, true
		case "p9999":
			return x.P9999, true
		case "max":
			return x.Max, true
		case "mean":
			return x.Mean, true
		}
		return 0, false
	}
	switch {
	case strings.HasPrefix(metric, "service."):
		return pct(p.ServiceTimeMs, strings.TrimPrefix(metric, "service."))
	case strings.HasPrefix(metric, "overhead."):
		if p.OverheadMs == nil {
			return 0, false
		}
		switch strings.TrimPrefix(metric, "overhead.") {
		case "p50":
			return p.OverheadMs.P50, true
		case "p90":
			return p.OverheadMs.P90, true
		case "p99":
			return p.OverheadMs.P99, true
		case "p999":
			return p.OverheadMs.P999, true
		}
		return 0, false
	}
	switch metric {
	case "errors":
		return float64(p.Errors), true
	case "error_rate":
		if p.Requests == 0 {
			return 0, false
		}
		return 100 * float64(p.Errors) / float64(p.Requests), true
	case "late":
		return float64(p.Late.Count), true
	case "achieved_rate":
		return p.AchievedRate, p.DurationS > 0
	case "rate_ratio":
		if p.TargetRate == 0 {
			return 0, false
		}
		return 100 * p.AchievedRate / p.TargetRate, true
	}
	return pct(p.LatencyMs, metric)
}

func holds(v float64, op string, limit float64) bool {
	switch op {
	case "<=":
		return v <= limit
	case "<":
		return v < limit
	case ">=":
		return v >= limit
	case ">":
		return v > limit
	}
	return false
}
