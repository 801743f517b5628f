package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/errext"
)

// Agent is one load agent's share of a run: agent Index (from 1) of Count,
// each driving 1/Count of the rate at the same server, window by window.
type Agent struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// Host is the agent's machine, in a merged file's list of agents.
	Host *Host `json:"host,omitempty"`
}

// AgentRow is what one agent measured of a merged row: its own counts,
// lateness (a late agent is a load-generator problem of that machine, which
// the summed count would hide) and its own host's figures.
type AgentRow struct {
	Index        int         `json:"index"`
	Requests     int64       `json:"requests"`
	Errors       int64       `json:"errors"`
	AchievedRate float64     `json:"achieved_rate"`
	Late         Late        `json:"late"`
	LatencyMs    Percentiles `json:"latency_ms"`
	HostStats    *HostStats  `json:"host_stats,omitempty"`
}

// MergeAgents combines the files of every agent of one run (run --share
// I/N, for I from 1 to N) into one result, as if one load generator had
// driven the whole rate: each row's histograms are merged exactly, counts
// and rates summed, and overhead and summary computed anew. The proxies'
// usage and the server's host figures are the same server's in every file,
// so they are taken once, from agent 1, as are host and host_stats (agent
// 1's machine; every agent's is kept in agents). names label the files in
// errors. Every problem is bad input (exit 2).
func MergeAgents(names []string, fs []*File) (*File, error) {
	fs, err := sortAgents(names, fs)
	if err != nil {
		return nil, err
	}
	first := fs[0]
	out := &File{
		Schema: Schema, Tool: first.Tool, StartedAt: first.StartedAt, FinishedAt: first.FinishedAt,
		Scenario: first.Scenario, Host: first.Host, HostQuality: first.HostQuality,
		ServerHost: first.ServerHost, Placement: first.Placement,
	}
	for _, f := range fs {
		if f.StartedAt.Before(out.StartedAt) {
			out.StartedAt = f.StartedAt
		}
		if f.FinishedAt.After(out.FinishedAt) {
			out.FinishedAt = f.FinishedAt
		}
		out.Interrupted = out.Interrupted || f.Interrupted
		h := f.Host
		out.Agents = append(out.Agents, Agent{Index: f.Agent.Index, Count: f.Agent.Count, Host: &h})
		for _, n := range f.Notes {
			if !slices.Contains(out.Notes, n) {
				out.Notes = append(out.Notes, n)
			}
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("merged from %d load agents: histograms merged, counts and rates summed; host and host_stats are agent 1's, every agent's are under agents; proxy usage and server figures are counted once", len(fs)))
	for i := range first.Paths {
		rows := make([]Path, len(fs))
		for j, f := range fs {
			rows[j] = f.Paths[i]
		}
		p, err := mergeAgentRow(rows, fs)
		if err != nil {
			return nil, errext.BadInputf("row %d (%s, trial %d): %v", i+1, first.Paths[i].Name, first.Paths[i].Trial, err)
		}
		out.Paths = append(out.Paths, p)
	}
	SetOverhead(out.Paths)
	out.Summary, out.NoiseFloorMs = SummarizePaths(out)
	return out, nil
}

// sortAgents checks that fs are the N agents of one run, each once, and
// returns them in agent order.
func sortAgents(names []string, fs []*File) ([]*File, error) {
	if len(fs) == 0 {
		return nil, errext.BadInputf("no result files to merge")
	}
	byIndex := map[int]int{}
	for i, f := range fs {
		switch {
		case f.Agent == nil:
			return nil, errext.BadInputf("%s: not a load agent's result (run with --share I/N writes one)", names[i])
		case f.Agent.Count != len(fs):
			return nil, errext.BadInputf("%s is agent %d of %d: merge the files of all %d agents, once each (%d given)", names[i], f.Agent.Index, f.Agent.Count, f.Agent.Count, len(fs))
		case f.Agent.Index < 1 || f.Agent.Index > f.Agent.Count:
			return nil, errext.BadInputf("%s: agent index %d is outside 1 to %d", names[i], f.Agent.Index, f.Agent.Count)
		}
		if j, dup := byIndex[f.Agent.Index]; dup {
			return nil, errext.BadInputf("%s and %s are both agent %d", names[j], names[i], f.Agent.Index)
		}
		byIndex[f.Agent.Index] = i
	}
	out := make([]*File, len(fs))
	for idx, i := range byIndex {
		out[idx-1] = fs[i]
	}
	first := out[0]
	for k, f := range out[1:] {
		name := names[byIndex[k+2]]
		switch {
		case !sameJSON(f.Scenario, first.Scenario):
			return nil, errext.BadInputf("%s: its scenario differs from agent 1's: these are not agents of one run", name)
		case (f.ServerHost == nil) != (first.ServerHost == nil) || (f.ServerHost != nil && f.ServerHost.Hostname != first.ServerHost.Hostname):
			return nil, errext.BadInputf("%s: measured another server than agent 1", name)
		case len(f.Paths) != len(first.Paths):
			return nil, errext.BadInputf("%s: %d rows, agent 1 has %d", name, len(f.Paths), len(first.Paths))
		}
		for i, p := range f.Paths {
			q := first.Paths[i]
			if p.Name != q.Name || p.Kind != q.Kind || p.Trial != q.Trial || p.Step != q.Step {
				return nil, errext.BadInputf("%s: row %d is %s trial %d, agent 1's is %s trial %d", name, i+1, p.Name, p.Trial, q.Name, q.Trial)
			}
		}
	}
	return out, nil
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// mergeAgentRow merges one row as measured by every agent (rows[i] from fs[i]).
func mergeAgentRow(rows []Path, fs []*File) (Path, error) {
	first := rows[0]
	p := Path{
		Name: first.Name, Kind: first.Kind, Trial: first.Trial, Step: first.Step, Order: first.Order,
		Baseline: first.Baseline, WindowStart: first.WindowStart, ErrorsByClass: map[string]int64{},
		Proxy: first.Proxy, HostStats: first.HostStats, ServerHostStats: first.ServerHostStats,
	}
	p.Late.ThresholdMs = first.Late.ThresholdMs
	for i, r := range rows {
		p.TargetRate += r.TargetRate
		p.AchievedRate += r.AchievedRate
		p.Throughput += r.Throughput
		p.DurationS = max(p.DurationS, r.DurationS)
		p.Requests += r.Requests
		p.Errors += r.Errors
		p.Unsent += r.Unsent
		for k, v := range r.ErrorsByClass {
			p.ErrorsByClass[k] += v
		}
		p.Late.Count += r.Late.Count
		p.Late.MaxMs = max(p.Late.MaxMs, r.Late.MaxMs)
		p.Late.P99Ms = max(p.Late.P99Ms, r.Late.P99Ms)
		for _, w := range r.Warnings {
			if !slices.Contains(p.Warnings, w) {
				p.Warnings = append(p.Warnings, w)
			}
		}
		p.Agents = append(p.Agents, AgentRow{
			Index: fs[i].Agent.Index, Requests: r.Requests, Errors: r.Errors, AchievedRate: r.AchievedRate,
			Late: r.Late, LatencyMs: r.LatencyMs, HostStats: r.HostStats,
		})
	}
	p.TargetRate, p.AchievedRate, p.Throughput = round3(p.TargetRate), round3(p.AchievedRate), round3(p.Throughput)
	resp, err := mergeHistograms(rows, func(r Path) string { return r.Histogram })
	if err != nil {
		return p, fmt.Errorf("response-time histogram: %w", err)
	}
	p.LatencyMs = Summarize(resp)
	if p.Histogram, err = EncodeHistogram(resp); err != nil {
		return p, err
	}
	svc, err := mergeHistograms(rows, func(r Path) string { return r.ServiceHistogram })
	if err != nil {
		return p, fmt.Errorf("service-time histogram: %w", err)
	}
	p.ServiceTimeMs = Summarize(svc)
	if p.ServiceHistogram, err = EncodeHistogram(svc); err != nil {
		return p, err
	}
	p.Timeline = mergeTimelines(rows)
	p.Windows = mergeSamples(rows)
	return p, nil
}

// mergeHistograms merges every row's histogram exactly: they must share
// their bounds and precision, and no recorded value may be dropped.
func mergeHistograms(rows []Path, get func(Path) string) (*hdrhistogram.Histogram, error) {
	var acc *hdrhistogram.Histogram
	for i, r := range rows {
		if get(r) == "" {
			return nil, fmt.Errorf("agent %d's row has none, so the rows cannot be merged exactly", i+1)
		}
		h, err := DecodeHistogram(get(r))
		if err != nil {
			return nil, fmt.Errorf("agent %d: %w", i+1, err)
		}
		if acc == nil {
			acc = h
			continue
		}
		if h.LowestTrackableValue() != acc.LowestTrackableValue() || h.HighestTrackableValue() != acc.HighestTrackableValue() || h.SignificantFigures() != acc.SignificantFigures() {
			return nil, fmt.Errorf("agent %d's bounds (%d to %d ns, %d digits) differ from agent 1's (%d to %d ns, %d digits)", i+1,
				h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(),
				acc.LowestTrackableValue(), acc.HighestTrackableValue(), acc.SignificantFigures())
		}
		if dropped := acc.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("merging agent %d would drop %d values", i+1, dropped)
		}
	}
	return acc, nil
}

// mergeTimelines adds the agents' seconds of the window together: counts
// summed, max the largest. A second's p50 and p99 cannot be merged exactly
// from percentiles, so they are the worst agent's.
func mergeTimelines(rows []Path) []Interval {
	var out []Interval
	for _, r := range rows {
		for i, iv := range r.Timeline {
			if i >= len(out) {
				out = append(out, iv)
				continue
			}
			o := &out[i]
			o.Requests += iv.Requests
			o.Errors += iv.Errors
			o.P50Ms, o.P99Ms, o.MaxMs = max(o.P50Ms, iv.P50Ms), max(o.P99Ms, iv.P99Ms), max(o.MaxMs, iv.MaxMs)
		}
	}
	return out
}

// mergeSamples adds the agents' windows together, window by window (the
// server opened each for all agents at once). Counts are summed; a window's
// percentiles are the agents' weighted by their requests, since the files
// keep no histogram per window. With equal shares of one rate the agents
// measure the same distribution, so the weighted mean is close to the
// merged percentile, and the summary pairs windows on it as for one agent.
func mergeSamples(rows []Path) []Sample {
	var out []Sample
	var weight []float64
	for _, r := range rows {
		for i, s := range r.Windows {
			if i >= len(out) {
				out = append(out, Sample{StartS: s.StartS, DurationS: s.DurationS})
				weight = append(weight, 0)
			}
			o, w := &out[i], float64(s.Requests)
			o.Requests += s.Requests
			o.Errors += s.Errors
			o.Late += s.Late
			o.P50Ms += s.P50Ms * w
			o.P90Ms += s.P90Ms * w
			o.P99Ms += s.P99Ms * w
			o.P999Ms += s.P999Ms * w
			weight[i] += w
		}
	}
	for i := range out {
		if w := weight[i]; w > 0 {
			o := &out[i]
			o.P50Ms, o.P90Ms, o.P99Ms, o.P999Ms = round3(o.P50Ms/w), round3(o.P90Ms/w), round3(o.P99Ms/w), round3(o.P999Ms/w)
		}
	}
	return out
}
