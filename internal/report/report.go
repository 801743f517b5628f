// Package report renders meshbench result files. Build folds one or more
// files into a single Report value (trials merged by merging their HDR
// histograms, never by averaging percentiles); every output format — the
// terminal table, markdown, JSON, CSV, HdrHistogram interval logs, the CNCF
// Service Mesh Performance shape and the SVG charts — is a view of that one
// value, so a figure means the same thing in each of them.
//
// The package only reads: it never starts a process or touches the network.
package report

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// Report is everything the views show, for one or more result files.
type Report struct {
	// Files has one entry per result file, in the order they were given.
	Files []FileReport `json:"files"`
	// Paths lists every path name in the order it first appears; it is the
	// column order of the comparison.
	Paths []string `json:"paths"`
	// Warnings concern the set of files as a whole, e.g. that their
	// scenarios differ and the comparison is not like for like.
	Warnings []string `json:"warnings,omitempty"`
}

// FileReport is one result file: one run of one scenario on one host.
type FileReport struct {
	// Name labels the file in comparisons: the caller's name, or the host
	// name (made unique when two files come from the same host).
	Name        string       `json:"name"`
	Tool        results.Tool `json:"tool"`
	StartedAt   time.Time    `json:"started_at"`
	FinishedAt  time.Time    `json:"finished_at"`
	Interrupted bool         `json:"interrupted"`
	Host        results.Host `json:"host"`
	// Scenario is the scenario as run, as the file holds it.
	Scenario json.RawMessage `json:"scenario,omitempty"`
	// Load is the part of the scenario that decides whether two files can
	// be compared.
	Load  Load         `json:"load"`
	Paths []PathReport `json:"paths"`
	// HostStats sums up the host over every path's measured window.
	HostStats   HostSummary          `json:"host_stats"`
	HostQuality *results.HostQuality `json:"host_quality,omitempty"`
	// Notes are the file's caveats (e.g. shared cores), kept verbatim.
	Notes []string `json:"notes,omitempty"`
	// NoiseFloorMs is the run's A/A overhead (nil in files without one).
	NoiseFloorMs *results.NoiseFloor `json:"noise_floor_ms,omitempty"`
	Placement    *results.Placement  `json:"placement,omitempty"`
	// Warnings are this file's reasons for doubt: path warnings and late
	// sends, each prefixed with the path it concerns.
	Warnings []string `json:"warnings,omitempty"`
}

// Load is the offered load and the backend's behaviour, from the scenario.
type Load struct {
	RateShape string  `json:"rate_shape,omitempty"`
	RPS       float64 `json:"rps,omitempty"`
	// Sweep lists a rate sweep's steps (requests/s); RPS is then unused.
	Sweep       []float64 `json:"sweep,omitempty"`
	Duration    string    `json:"duration,omitempty"`
	Trials      int       `json:"trials,omitempty"`
	Connections int       `json:"connections,omitempty"`
	// Payload is the response size in bytes; nil when the scenario does
	// not say (0 is a real, empty payload).
	Payload *int `json:"payload,omitempty"`
	// BackendDelay is the added service time, in Go duration syntax.
	BackendDelay string `json:"backend_delay,omitempty"`
	Replicas     int    `json:"replicas,omitempty"`
	Target       string `json:"target,omitempty"`
}

// PathReport is one path over all trials of a file.
type PathReport struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Trials int    `json:"trials"`

	Requests      int64            `json:"requests"`
	Errors        int64            `json:"errors"`
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	Unsent        int64            `json:"unsent,omitempty"`
	TargetRate    float64          `json:"target_rate"`
	AchievedRate  float64          `json:"achieved_rate"`
	DurationS     float64          `json:"duration_s"`
	Late          results.Late     `json:"late"`

	// LatencyMs is response time (from the intended send) over all trials.
	LatencyMs     results.Percentiles `json:"latency_ms"`
	ServiceTimeMs results.Percentiles `json:"service_time_ms"`
	// OverheadMs is this path minus direct, both merged over all trials;
	// nil for direct and when the file has no direct path.
	OverheadMs *results.Overhead `json:"overhead_ms,omitempty"`
	// Summary is the path's entry in the file's summary: windows, overhead
	// with its 95% interval, verdict (nil in files written without one).
	Summary *results.Summary `json:"summary,omitempty"`
	// P50RangeMs and P99RangeMs are the lowest and highest trial values,
	// set only when there was more than one trial.
	P50RangeMs *[2]float64 `json:"p50_range_ms,omitempty"`
	P99RangeMs *[2]float64 `json:"p99_range_ms,omitempty"`

	Proxy *ProxyUse `json:"proxy,omitempty"`
	// HostStats sums up the host over this path's measured windows.
	HostStats HostSummary `json:"host_stats"`
	// Histogram is the merged response-time histogram (ns, "HISTF...").
	Histogram string `json:"histogram,omitempty"`
	// Runs are the trials as measured, for interval logs and time charts.
	Runs     []Run    `json:"runs"`
	Warnings []string `json:"warnings,omitempty"`
}

// ProxyUse is what the path's proxy processes cost over all trials.
type ProxyUse struct {
	Processes  int     `json:"processes,omitempty"`
	Version    string  `json:"version,omitempty"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUMsPer1k is CPU time per thousand requests sent, the figure that
	// compares proxies run at different rates.
	CPUMsPer1k float64 `json:"cpu_ms_per_1k_requests"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	// PeakProcessRSSMB is the largest single process's peak; absent when
	// the result file predates it.
	PeakProcessRSSMB float64 `json:"peak_process_rss_mb,omitempty"`
}

// Run is one trial of one path.
type Run struct {
	Trial     int     `json:"trial"`
	Order     int     `json:"order,omitempty"`
	DurationS float64 `json:"duration_s"`
	// WindowStart is when the window opened; zero when the file predates it.
	WindowStart time.Time           `json:"window_start,omitzero"`
	LatencyMs   results.Percentiles `json:"latency_ms"`
	Histogram   string              `json:"histogram,omitempty"`
	Timeline    []results.Interval  `json:"timeline,omitempty"`
}

// HostSummary is the host's behaviour over one or more measured windows.
type HostSummary struct {
	// Windows counts the windows that had CPU figures; 0 means the run
	// sampled no host statistics and every field below is unknown.
	Windows int `json:"windows"`
	// StealReported is false when no window could observe steal; StealPct
	// is then not a measurement and must be shown as unreported.
	StealReported bool    `json:"steal_reported"`
	StealPct      float64 `json:"steal_pct"`
	StealMaxPct   float64 `json:"steal_max_pct"`
	StealWhy      string  `json:"steal_why,omitempty"`
	IowaitPct     float64 `json:"iowait_pct"`
	// WorstDisk is the device with the largest average queue (aqu-sz) in
	// any window, or "" when no disk was sampled.
	WorstDisk     string  `json:"worst_disk,omitempty"`
	WorstDiskKind string  `json:"worst_disk_kind,omitempty"`
	WorstAquSz    float64 `json:"worst_aqu_sz"`
}

// Build folds files into one Report. names label the files in the same order;
// nil (or an empty name) uses each file's host name, made unique.
func Build(files []*results.File, names []string) (*Report, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no result files to report")
	}
	if names != nil && len(names) != len(files) {
		return nil, fmt.Errorf("%d names for %d files", len(names), len(files))
	}
	r := &Report{}
	labels := labelFiles(files, names)
	for i, f := range files {
		fr, err := buildFile(f, labels[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", labels[i], err)
		}
		for _, p := range fr.Paths {
			if !slices.Contains(r.Paths, p.Name) {
				r.Paths = append(r.Paths, p.Name)
			}
		}
		r.Files = append(r.Files, fr)
	}
	r.Warnings = scenarioWarnings(r.Files)
	return r, nil
}

// labelFiles names each file: the caller's name when given, else its host
// name, made unique (uniqueLabels).
func labelFiles(files []*results.File, names []string) []string {
	hosts := make([]string, len(files))
	started := make([]time.Time, len(files))
	for i, f := range files {
		hosts[i], started[i] = f.Host.Hostname, f.StartedAt
	}
	return uniqueLabels(hosts, started, names)
}

// uniqueLabels names each of a set of files: the caller's name when given,
// else its host name; a host that appears twice is told apart by its start
// time, then by a number, so every column or row has its own label.
func uniqueLabels(hosts []string, started []time.Time, names []string) []string {
	labels := make([]string, len(hosts))
	count := map[string]int{}
	for i, h := range hosts {
		if names != nil && names[i] != "" {
			labels[i] = names[i]
		} else {
			labels[i] = h
			if labels[i] == "" {
				labels[i] = "host"
			}
		}
		count[labels[i]]++
	}
	seen := map[string]int{}
	for i := range hosts {
		if count[labels[i]] > 1 && (names == nil || names[i] == "") && !started[i].IsZero() {
			labels[i] += "@" + started[i].UTC().Format("2006-01-02T15:04Z")
		}
		seen[labels[i]]++
		if n := seen[labels[i]]; n > 1 {
			labels[i] = fmt.Sprintf("%s#%d", labels[i], n)
		}
	}
	return labels
}

func buildFile(f *results.File, name string) (FileReport, error) {
	fr := FileReport{
		Name: name, Tool: f.Tool, StartedAt: f.StartedAt, FinishedAt: f.FinishedAt,
		Interrupted: f.Interrupted, Host: f.Host, Scenario: f.Scenario,
		Load: decodeLoad(f.Scenario), HostQuality: f.HostQuality, Notes: f.Notes,
		NoiseFloorMs: f.NoiseFloorMs, Placement: f.Placement,
	}
	merged, err := results.MergeTrials(f)
	if err != nil {
		return fr, err
	}
	byName := map[string][]results.Path{}
	for _, p := range f.Paths {
		n := results.MergedName(p)
		byName[n] = append(byName[n], p)
	}
	var all []*results.HostStats
	for _, m := range merged {
		pr := buildPath(m, byName[m.Name])
		for i, sum := range f.Summary {
			if sum.Step == m.Step && results.MergedName(results.Path{Name: sum.Name, Step: sum.Step, TargetRate: m.TargetRate}) == m.Name {
				pr.Summary = &f.Summary[i]
			}
		}
		fr.Paths = append(fr.Paths, pr)
		fr.Warnings = append(fr.Warnings, pathWarnings(pr)...)
		for _, t := range byName[m.Name] {
			all = append(all, t.HostStats)
		}
	}
	fr.HostStats = summarizeHost(all)
	if f.Interrupted {
		fr.Warnings = append([]string{"the run was interrupted: some windows are shorter than planned"}, fr.Warnings...)
	}
	return fr, nil
}

func buildPath(m results.Merged, trials []results.Path) PathReport {
	pr := PathReport{
		Name: m.Name, Kind: m.Kind, Trials: m.Trials,
		Requests: m.Requests, Errors: m.Errors, Unsent: m.Unsent,
		TargetRate: round3(m.TargetRate), AchievedRate: round3(m.AchievedRate),
		DurationS: round3(m.DurationS), Late: m.Late,
		LatencyMs: m.LatencyMs, ServiceTimeMs: m.ServiceTimeMs, OverheadMs: m.OverheadMs,
		Histogram: m.Histogram,
	}
	for k, v := range m.ErrorsByClass {
		if v != 0 {
			if pr.ErrorsByClass == nil {
				pr.ErrorsByClass = map[string]int64{}
			}
			pr.ErrorsByClass[k] = v
		}
	}
	if m.Trials > 1 {
		p50, p99 := m.P50Range, m.P99Range
		pr.P50RangeMs, pr.P99RangeMs = &p50, &p99
	}
	if m.Proxy != nil {
		pu := &ProxyUse{
			Processes: m.Proxy.Processes, Version: m.Proxy.Version,
			CPUSeconds: round3(m.Proxy.CPUSeconds),
			PeakRSSMB:  round3(float64(m.Proxy.MaxRSSBytes) / (1 << 20)),

			PeakProcessRSSMB: round3(float64(m.Proxy.MaxProcessRSSBytes) / (1 << 20)),
		}
		if m.Requests > 0 {
			pu.CPUMsPer1k = round3(m.Proxy.CPUSeconds * 1e6 / float64(m.Requests))
		}
		pr.Proxy = pu
	}
	var stats []*results.HostStats
	for _, t := range trials {
		pr.Runs = append(pr.Runs, Run{
			Trial: t.Trial, Order: t.Order, DurationS: t.DurationS, WindowStart: t.WindowStart,
			LatencyMs: t.LatencyMs, Histogram: t.Histogram, Timeline: t.Timeline,
		})
		stats = append(stats, t.HostStats)
	}
	pr.HostStats = summarizeHost(stats)
	// MergeTrials keeps a warning every trial gave once and labels the
	// others with their trial.
	pr.Warnings = m.Warnings
	return pr
}

// pathWarnings is what a reader of the path's row must be told.
func pathWarnings(p PathReport) []string {
	var out []string
	for _, w := range p.Warnings {
		out = append(out, p.Name+": "+w)
	}
	if p.Late.Count > 0 && !slices.ContainsFunc(p.Warnings, func(w string) bool {
		return strings.Contains(w, "could not keep up") || strings.Contains(w, "woken late by the host")
	}) {
		out = append(out, fmt.Sprintf("%s: %d of %d sends left more than %s ms late (worst %s ms)",
			p.Name, p.Late.Count, p.Requests, num(p.Late.ThresholdMs), num(p.Late.MaxMs)))
	}
	if p.Errors > 0 {
		out = append(out, fmt.Sprintf("%s: %d errors (%s)", p.Name, p.Errors, classes(p.ErrorsByClass)))
	}
	return out
}

func classes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "class unknown"
	}
	return strings.Join(parts, ", ")
}

// summarizeHost folds the host figures of several windows: shares are
// averaged with each window weighted by its samples, the worst steal and the
// longest disk queue are the worst of any window.
func summarizeHost(stats []*results.HostStats) HostSummary {
	var s HostSummary
	var weight, steal, iowait float64
	reported := 0
	for _, hs := range stats {
		if hs == nil {
			continue
		}
		for _, d := range hs.Disks {
			if s.WorstDisk == "" || d.AquSz > s.WorstAquSz {
				s.WorstDisk, s.WorstDiskKind, s.WorstAquSz = d.Name, d.Kind, d.AquSz
			}
		}
		if hs.CPU == nil {
			continue
		}
		s.Windows++
		w := float64(max(hs.Samples, 1))
		weight += w
		iowait += w * hs.CPU.IowaitPct
		if hs.CPU.StealReported {
			reported++
			steal += w * hs.CPU.StealPct
			s.StealMaxPct = max(s.StealMaxPct, hs.CPU.StealMaxPct, hs.CPU.StealPct)
		} else if s.StealWhy == "" {
			s.StealWhy = hs.CPU.StealWhy
		}
	}
	if s.Windows == 0 {
		return s
	}
	s.IowaitPct = round2(iowait / weight)
	// Steal counts as reported only if every window could see it: a mean
	// over some windows would pass for the whole run.
	if reported == s.Windows {
		s.StealReported = true
		s.StealPct = round2(steal / weight)
		s.StealWhy = ""
	}
	s.StealMaxPct = round2(s.StealMaxPct)
	s.WorstAquSz = round2(s.WorstAquSz)
	return s
}

// decodeLoad reads the few scenario fields a comparison checks. A scenario
// it cannot read leaves Load empty: the numbers are still worth showing.
func decodeLoad(raw json.RawMessage) Load {
	var sc struct {
		Rate struct {
			Shape string  `json:"shape"`
			RPS   float64 `json:"rps"`
		} `json:"rate"`
		Sweep       []float64 `json:"sweep"`
		Duration    string    `json:"duration"`
		Trials      int       `json:"trials"`
		Connections int       `json:"connections"`
		Backend     struct {
			Replicas int    `json:"replicas"`
			Payload  *int   `json:"payload"`
			Delay    string `json:"delay"`
		} `json:"backend"`
		Target string `json:"target"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &sc) != nil {
		return Load{}
	}
	return Load{
		RateShape: sc.Rate.Shape, RPS: sc.Rate.RPS, Sweep: sc.Sweep, Duration: sc.Duration, Trials: sc.Trials,
		Connections: sc.Connections, Payload: sc.Backend.Payload, BackendDelay: sc.Backend.Delay,
		Replicas: sc.Backend.Replicas, Target: sc.Target,
	}
}

// rateLabel is the offered load in a few words: "1000/s", "200/s linear",
// "sweep 500, 1000, 2000/s"; "" when the scenario does not say.
func rateLabel(l Load) string {
	if len(l.Sweep) > 0 {
		steps := make([]string, len(l.Sweep))
		for i, r := range l.Sweep {
			steps[i] = num(r)
		}
		return "sweep " + strings.Join(steps, ", ") + "/s"
	}
	if l.RPS == 0 && l.RateShape == "" {
		return ""
	}
	s := num(l.RPS) + "/s"
	if l.RateShape != "" && l.RateShape != "constant" {
		s += " " + l.RateShape
	}
	return s
}

// scenarioWarnings says where files were run with different load, since a
// comparison of hosts is only fair under the same rate, payload and delay.
func scenarioWarnings(files []FileReport) []string {
	if len(files) < 2 {
		return nil
	}
	var out []string
	differ := func(what string, value func(Load) string) {
		first := value(files[0].Load)
		same := true
		for _, f := range files[1:] {
			if value(f.Load) != first {
				same = false
			}
		}
		if same {
			return
		}
		parts := make([]string, len(files))
		for i, f := range files {
			v := value(f.Load)
			if v == "" {
				v = "unknown"
			}
			parts[i] = f.Name + " " + v
		}
		out = append(out, fmt.Sprintf("scenarios differ in %s (%s): the comparison is not like for like", what, strings.Join(parts, ", ")))
	}
	differ("rate", rateLabel)
	differ("payload", func(l Load) string {
		if l.Payload == nil {
			return ""
		}
		return fmt.Sprintf("%d B", *l.Payload)
	})
	differ("backend delay", func(l Load) string { return l.BackendDelay })
	return out
}
