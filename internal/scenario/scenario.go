// Package scenario is what a run measures: the paths, the load, the backend
// and the host sampling, as read from a YAML file and adjusted by flags.
//
// A file is decoded on top of Default(), so a key the file leaves out keeps its
// default and a key it sets, even to 0, means what it says. Load and Parse
// decode strictly, normalise (Normalize) and validate: an unknown key or a
// bad value is an error that names file, line and column. Overrides.Apply
// lays flags over a scenario without changing it, and Validate, which never
// changes what it checks, is the one pass every rule lives in. The bounds it
// enforces are in limits.go; scenarios/schema.json describes the same rules
// for editors.
package scenario

import (
	"fmt"
	"strings"
	"time"
)

// Scenario is one benchmark as run. Its JSON form is kept in the result file.
type Scenario struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Paths are measured in this order in round 1, rotated in later rounds.
	Paths []PathSpec `yaml:"paths" json:"paths"`
	// Rate is the offered load. A bare number means constant requests/s.
	Rate Rate `yaml:"rate" json:"rate"`
	// Sweep, when set, replaces Rate with a list of constant rates
	// (requests/s) measured one after another: at each step every path is
	// measured in every round, so each path gets a row per rate and the
	// rate at which its latency bends shows.
	Sweep []float64 `yaml:"sweep" json:"sweep,omitempty"`
	// Duration is the measured window per path per trial (default 10s).
	Duration Duration `yaml:"duration" json:"duration"`
	// Warmup is sent before each measured window and not recorded (default 2s).
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// Trials is the number of rounds (default 1).
	Trials int `yaml:"trials" json:"trials"`
	// Connections caps open connections per path (default 64).
	Connections int `yaml:"connections" json:"connections"`
	// Timeout bounds every request, waiting for a connection included (default 5s).
	Timeout Duration `yaml:"timeout" json:"timeout"`
	Request Request  `yaml:"request" json:"request"`
	Backend Backend  `yaml:"backend" json:"backend"`
	// Target, when set, is an existing HTTP endpoint measured as the direct
	// path; no backend is started and only the direct path may run.
	Target string `yaml:"target" json:"target,omitempty"`
	// Insecure skips the verification of an https target's certificate,
	// for self-signed test endpoints (--insecure). The usual trust store,
	// with SSL_CERT_FILE honoured, is the better way to trust one.
	Insecure  bool      `yaml:"insecure" json:"insecure,omitempty"`
	HostStats HostStats `yaml:"host_stats" json:"host_stats"`
	// Faults change backend replicas at set times of every measured window,
	// to see how each path copes (ejection, retries). Replicas are restored
	// between windows.
	Faults []Fault `yaml:"faults" json:"faults,omitempty"`
	// Knee bounds the p99 a sweep step may show and still count as carried
	// (see Knee); it applies only with Sweep.
	Knee Knee `yaml:"knee" json:"knee,omitzero"`
	// Window is the length of one measured window: every path stays up, and
	// the load moves from path to path in windows this long until each has
	// had Duration per trial. 0 (unset) is DefaultWindow where paths can be
	// interleaved and Duration where they cannot (see WindowLength); the
	// duration itself measures each path in one window per trial.
	Window Duration `yaml:"window" json:"window,omitempty"`
	// Placement is where processes run: shared (every process on every
	// CPU), split (load generator and backend on one CPU set, proxies on
	// another) or auto (split where the host has CPUs to spare; the
	// default).
	Placement string `yaml:"placement" json:"placement"`
	// SendBatch is how the load generator groups sends (see Batch): auto
	// (the default), off, or a slot length up to MaxSendBatch.
	SendBatch Batch `yaml:"send_batch" json:"send_batch,omitempty"`
	// MaxRounds caps the rounds a run with gates may add, beyond Trials,
	// until every gate is decided. 0 means Trials: no rounds are added.
	MaxRounds int `yaml:"max_rounds" json:"max_rounds,omitempty"`
	// Gates are performance rules checked after the run (see package gate);
	// a rule that fails makes run exit 3. `meshbench gate` reads them too.
	Gates []string `yaml:"gates" json:"gates,omitempty"`
}

// PathSpec names one path to measure. In YAML a bare string is a path of that
// kind with that name ("haproxy").
type PathSpec struct {
	Name string `yaml:"name" json:"name"`
	// Kind is direct, haproxy, haproxy-mtls, nginx, linkerd, linkerd-mtls or exec (default: Name).
	Kind string `yaml:"kind" json:"kind"`
	// Settings are kind-specific knobs (e.g. the sidecar's balancer). Each
	// path kind validates the keys and values it accepts.
	Settings map[string]string `yaml:"settings" json:"settings,omitempty"`
	// Exec describes a proxy binary for kind exec.
	Exec *Exec `yaml:"exec" json:"exec,omitempty"`
}

// Exec is a proxy started from a command and a config template. Both are Go
// text/templates given {{.Listen}}, {{.Upstreams}}, {{.TempDir}} and {{.Config}}
// (the rendered config file's path).
type Exec struct {
	Command []string `yaml:"command" json:"command"`
	// Config is the config template; it is rendered to ConfigName in the temp dir.
	Config     string `yaml:"config" json:"config,omitempty"`
	ConfigName string `yaml:"config_name" json:"config_name,omitempty"`
	// Package is named in the error when the binary is missing.
	Package string `yaml:"package" json:"package,omitempty"`
	// Ready is the HTTP path polled until the proxy answers (default "/").
	Ready string `yaml:"ready" json:"ready,omitempty"`
}

// Rate is the shape of the offered load over one measured window.
type Rate struct {
	// Shape is constant (default), linear or sine.
	Shape string `yaml:"shape" json:"shape"`
	// RPS is the constant rate, the start of a linear ramp, or the mean of a sine.
	RPS float64 `yaml:"rps" json:"rps"`
	// End is where a linear ramp ends, in requests/s.
	End float64 `yaml:"end" json:"end,omitempty"`
	// Amplitude and Period shape a sine around RPS.
	Amplitude float64  `yaml:"amplitude" json:"amplitude,omitempty"`
	Period    Duration `yaml:"period" json:"period,omitempty"`
}

// Request is what every request sends.
type Request struct {
	Method  string            `yaml:"method" json:"method"`
	Path    string            `yaml:"path" json:"path"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
}

// Backend is the test backend meshbench starts behind every path.
type Backend struct {
	Replicas int `yaml:"replicas" json:"replicas"`
	// Payload is the response body size in bytes (default 1024).
	Payload int `yaml:"payload" json:"payload"`
	// Delay is added service time; DelayDistribution is fixed (default),
	// exponential or uniform, with Delay as its mean.
	Delay             Duration `yaml:"delay" json:"delay"`
	DelayDistribution string   `yaml:"delay_distribution" json:"delay_distribution"`
	// ErrorRate is the share of requests answered 500, in [0,1].
	ErrorRate float64 `yaml:"error_rate" json:"error_rate"`
}

// HostStats controls host sampling during runs.
type HostStats struct {
	// Disabled turns sampling off (--no-host-stats).
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Interval between samples (default 1s).
	Interval Duration `yaml:"interval" json:"interval"`
	// Probes lists probes run once before the first round (jitter, fsync,
	// audit); none by default.
	Probes []string `yaml:"probes" json:"probes,omitempty"`
}

// Batch is send_batch: whether the load generator sends the requests due
// within one short slot together, at the slot's start, from which their
// response times count (load.Config.SendBatch). Grouped, the load
// generator wakes once per slot instead of once per request, which is most
// of its CPU at high rates; the load arrives in small bursts instead of
// evenly. The zero value is BatchAuto.
type Batch time.Duration

// The Batch settings that are not a slot length.
const (
	// BatchAuto groups sends in slots of MaxSendBatch at rates of
	// AutoBatchRate and above, and sends each request at its own time below.
	BatchAuto Batch = 0
	// BatchOff sends each request at its own time whatever the rate.
	BatchOff Batch = -1
)

// AutoBatchRate is the peak rate, in requests/s, from which BatchAuto
// groups sends: one request per slot of MaxSendBatch on average. Below it
// most slots would hold one request and grouping would save nothing.
const AutoBatchRate = float64(time.Second / MaxSendBatch)

// Slot is the slot length for a load whose peak rate is peak requests/s;
// 0 means each request at its own time.
func (b Batch) Slot(peak float64) time.Duration {
	switch {
	case b == BatchOff:
		return 0
	case b == BatchAuto && peak >= AutoBatchRate:
		return MaxSendBatch
	case b == BatchAuto:
		return 0
	}
	return time.Duration(b)
}

// String writes b as send_batch takes it: auto, off or a duration.
func (b Batch) String() string {
	switch b {
	case BatchAuto:
		return "auto"
	case BatchOff:
		return "off"
	}
	return time.Duration(b).String()
}

// Set reads a --send-batch flag (flag.Value): as UnmarshalText.
func (b *Batch) Set(v string) error { return b.UnmarshalText([]byte(v)) }

// Type names the flag's values in help text (pflag.Value).
func (b *Batch) Type() string { return "auto|off|duration" }

// MarshalText writes b as String does.
func (b Batch) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads auto, off (or 0), or a duration above 0.
func (b *Batch) UnmarshalText(t []byte) error {
	switch v := strings.TrimSpace(string(t)); v {
	case "auto", "":
		*b = BatchAuto
	case "off", "0":
		*b = BatchOff
	default:
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return fmt.Errorf("send_batch %q is not auto, off or a duration (e.g. 250us)", v)
		case d < 0:
			return fmt.Errorf("send_batch %q must not be negative", v)
		case d == 0:
			*b = BatchOff
		default:
			*b = Batch(d)
		}
	}
	return nil
}

// Duration is a time.Duration written as "10s" in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes d in Go's duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go's duration syntax ("250ms", "1m30s").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 500ms, 10s, 1m)", string(b))
	}
	*d = Duration(v)
	return nil
}
