// Package results is the meshbench/v1 result file: its schema, an atomic
// writer and a strict reader. Everything that produces or reads results
// (run, report, gate) goes through these types, so the JSON field names here
// are the interface scripts rely on (SPEC.md, "Result file").
package results

import (
	"encoding/json"
	"time"
)

// Schema is the value of the "schema" field of every result file.
const Schema = "meshbench/v1"

// File is one result file: one run of one scenario on one host.
type File struct {
	Schema      string    `json:"schema"`
	Tool        Tool      `json:"tool"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Interrupted bool      `json:"interrupted"`
	// Scenario is the scenario as run, after flags were applied. It is kept as
	// raw JSON so that this package does not depend on the scenario package;
	// DecodeScenario reads the few fields a report compares across files.
	Scenario json.RawMessage `json:"scenario"`
	Host     Host            `json:"host"`
	Paths    []Path          `json:"paths"`
	// HostQuality holds the probes' findings when they ran (meshbench host, or
	// run with probes on); nil otherwise.
	HostQuality *HostQuality `json:"host_quality,omitempty"`
	// Notes are caveats a reader must see beside the numbers, e.g. that the
	// load generator shares its CPUs with what it measures.
	Notes []string `json:"notes,omitempty"`
	// ServerHost is the machine the backend and paths ran on in a two-host
	// run (meshbench serve); Host is then the load generator's.
	ServerHost *Host `json:"server_host,omitempty"`
	// NoiseFloorMs is the A/A overhead of the baseline against itself.
	NoiseFloorMs *NoiseFloor `json:"noise_floor_ms,omitempty"`
	// Placement says where the load generator, backend and proxies ran.
	Placement *Placement `json:"placement,omitempty"`
	// Summary has one entry per path (and sweep step), rounds merged, with
	// overhead intervals.
	Summary []Summary `json:"summary,omitempty"`
	// Agent says which share of a run's load this file holds (run --share);
	// Agents lists the agents a merged file was made from (meshbench merge).
	Agent  *Agent  `json:"agent,omitempty"`
	Agents []Agent `json:"agents,omitempty"`
}

// Tool names the program that wrote the file.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	GoVersion string `json:"go_version,omitempty"`
}

// Path is the measurement of one path in one trial (round).
type Path struct {
	Name  string `json:"name"`  // as named in the scenario, e.g. "haproxy"
	Kind  string `json:"kind"`  // direct, haproxy, haproxy-mtls, nginx, linkerd, linkerd-mtls, exec
	Trial int    `json:"trial"` // 1-based round number
	// Step is the 1-based step of a rate sweep (scenario "sweep"), 0 when
	// the run had none. Trials of one path are merged only within a step.
	Step int `json:"step,omitempty"`
	// Order is the 1-based position of this path within its round (paths are
	// measured in rotated order; see SPEC.md "Measurement method").
	Order int `json:"order,omitempty"`
	// Baseline marks the path the others' overhead is measured against (the
	// scenario's first direct path). Files without it take every direct row.
	Baseline bool `json:"baseline,omitempty"`

	TargetRate   float64 `json:"target_rate"`   // requests/s asked for (mean over the window)
	AchievedRate float64 `json:"achieved_rate"` // requests sent/s over the measured window
	// Throughput is completed responses/s over the measured window.
	Throughput float64 `json:"throughput"`
	DurationS  float64 `json:"duration_s"` // measured window, seconds
	// WindowStart is when the measured window opened (zero in files written
	// before it was recorded), so interval logs and charts can place it.
	WindowStart   time.Time        `json:"window_start,omitzero"`
	Requests      int64            `json:"requests"` // requests sent in the measured window
	Errors        int64            `json:"errors"`
	ErrorsByClass map[string]int64 `json:"errors_by_class"`
	// Unsent counts requests the schedule called for that were never sent
	// because the window closed while they waited (for a connection, or for
	// the scheduler). They are part of the latency record as well.
	Unsent int64 `json:"unsent,omitempty"`
	Late   Late  `json:"late"`

	LatencyMs     Percentiles `json:"latency_ms"`      // response time, from intended send
	ServiceTimeMs Percentiles `json:"service_time_ms"` // from actual send
	OverheadMs    *Overhead   `json:"overhead_ms,omitempty"`

	// Histogram is the response-time HDR histogram (ns), compressed and base64
	// encoded as HdrHistogram's "HISTF..." form.
	Histogram string `json:"histogram"`
	// ServiceHistogram is the same for service time.
	ServiceHistogram string `json:"service_histogram,omitempty"`
	// Timeline holds one entry per second of the measured window, for
	// latency-over-time charts.
	Timeline []Interval `json:"timeline,omitempty"`
	// Windows are the row's measured windows, interleaved with the other
	// paths' in its round; the row's figures are over all of them.
	Windows []Sample `json:"windows,omitempty"`

	Proxy *Proxy `json:"proxy,omitempty"`
	// Settings are the path's effective settings, defaults included: its
	// timeouts, retries and health checks, which decide how it meets a
	// fault.
	Settings  map[string]string `json:"settings,omitempty"`
	HostStats *HostStats        `json:"host_stats,omitempty"`
	// ServerHostStats is what the server host did during the row's windows
	// in a two-host run (host_stats is then the client's).
	ServerHostStats *HostStats `json:"server_host_stats,omitempty"`
	// Resilience is how the row met the scenario's faults (scenarios with
	// faults only); the summary entry merges the rows' blocks.
	Resilience *Resilience `json:"resilience,omitempty"`
	// Warnings say why a figure of this row cannot be fully trusted.
	Warnings []string `json:"warnings,omitempty"`
	// Agents are each load agent's part of a merged row (meshbench merge).
	Agents []AgentRow `json:"agents,omitempty"`
}

// Late describes sends that left after their intended time.
type Late struct {
	Count int64 `json:"count"`
	// LoopCount and ConnWaitCount split Count by cause: the load
	// generator's own lag with a connection free, and waiting for a
	// connection because slow responses held every one the load may open
	// (the target's doing). Both 0 in files written before the split.
	LoopCount     int64   `json:"loop_count,omitempty"`
	ConnWaitCount int64   `json:"conn_wait_count,omitempty"`
	MaxMs         float64 `json:"max_ms"`
	// P99Ms is the 99th percentile of lateness over all sends.
	P99Ms float64 `json:"p99_ms"`
	// Threshold is how late a send must be to count, in ms.
	ThresholdMs float64 `json:"threshold_ms"`
	// TimedWakeups counts the load generator's sleeps until a send that its
	// timer ended, WokeLate those that returned more than the threshold
	// after the send was due: late sends the host's scheduling caused,
	// whatever the load generator's own load. Both 0 in files before them.
	TimedWakeups int64 `json:"timed_wakeups,omitempty"`
	WokeLate     int64 `json:"woke_late,omitempty"`
	// LoopWokeLateCount is the part of LoopCount that was due before one
	// of those late wake-ups returned: late because the host held the load
	// generator back, not because it had too much to do.
	LoopWokeLateCount int64 `json:"loop_woke_late_count,omitempty"`
}

// Percentiles summarises a latency histogram, in milliseconds.
type Percentiles struct {
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	Stdev float64 `json:"stdev"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// Overhead is a path's percentile minus the direct percentile of the same round, in ms.
type Overhead struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Interval is one slice of the measured window.
type Interval struct {
	StartS   float64 `json:"t_s"` // seconds since the window opened
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// Proxy is what the proxy processes of a path used during the measured window.
type Proxy struct {
	Processes  int     `json:"processes"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// MaxRSSBytes is the peak resident set (VmHWM), summed over the path's processes.
	MaxRSSBytes int64 `json:"max_rss_bytes"`
	// MaxProcessRSSBytes is the largest peak resident set of any one of the
	// path's processes: the figure to hold against a per-process memory
	// budget, which the sum hides when a path runs several (the mesh's four
	// sidecars, nginx's master and workers). Zero in files that predate it.
	MaxProcessRSSBytes int64 `json:"max_process_rss_bytes,omitempty"`
	// Counters are path-specific figures, e.g. HAProxy's retries and
	// redispatches, or the sidecar's ejections.
	Counters map[string]float64 `json:"counters,omitempty"`
	Version  string             `json:"version,omitempty"`
}
