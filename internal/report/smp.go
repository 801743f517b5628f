package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// smpResult is the PerformanceTestResult message of the CNCF Service Mesh
// Performance specification (protos/service_mesh_performance.proto), in the
// proto3 JSON mapping (lowerCamelCase names, RFC 3339 timestamps).
type smpResult struct {
	ID           string            `json:"id"`
	Labels       map[string]string `json:"labels"`
	StartTime    string            `json:"startTime,omitempty"`
	EndTime      string            `json:"endTime,omitempty"`
	LatenciesMs  smpLatency        `json:"latenciesMs"`
	ActualQPS    float64           `json:"actualQPS"`
	TestID       string            `json:"testId,omitempty"`
	MeshConfigID string            `json:"meshConfigId,omitempty"`
	EnvID        string            `json:"envId,omitempty"`
}

// smpLatency is PerformanceTestResult.Latency: milliseconds, as the
// specification says; meshbench's figures are already in ms.
type smpLatency struct {
	Min     float64 `json:"min"`
	Average float64 `json:"average"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// writeSMP gives one PerformanceTestResult per host × path. SMP has no
// place for overhead or host quality; those go in labels, as strings, so a
// reader of the SMP document still sees that a path was measured against
// direct on a given host.
func writeSMP(w io.Writer, r *Report, _ Options) error {
	var out []smpResult
	for _, f := range r.Files {
		for _, p := range f.Paths {
			if p.LatencyMs.Count == 0 {
				continue
			}
			l := p.LatencyMs
			res := smpResult{
				ID: f.Name + "/" + p.Name,
				Labels: map[string]string{
					"tool": "meshbench " + f.Tool.Version, "host": f.Name, "hostname": f.Host.Hostname,
					"path": p.Name, "kind": p.Kind, "trials": fmt.Sprint(p.Trials),
					"requests": fmt.Sprint(p.Requests), "errors": fmt.Sprint(p.Errors),
					"target_rps":     num(p.TargetRate),
					"latency":        "response time from the intended send (open model)",
					"virtualization": virtLabel(f.Host.Virtualization),
				},
				LatenciesMs: smpLatency{Min: l.Min, Average: l.Mean, P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max},
				ActualQPS:   p.AchievedRate,
				TestID:      f.Name, MeshConfigID: p.Name, EnvID: f.Host.Hostname,
			}
			if o := p.OverheadMs; o != nil {
				res.Labels["overhead_p50_ms"] = num(o.P50)
				res.Labels["overhead_p99_ms"] = num(o.P99)
			}
			if !f.StartedAt.IsZero() {
				res.StartTime = f.StartedAt.UTC().Format(time.RFC3339Nano)
			}
			if !f.FinishedAt.IsZero() {
				res.EndTime = f.FinishedAt.UTC().Format(time.RFC3339Nano)
			}
			out = append(out, res)
		}
	}
	if out == nil {
		out = []smpResult{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
