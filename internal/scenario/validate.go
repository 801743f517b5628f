package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/hoststats"
)

// Kinds are the path kinds meshbench knows (SPEC.md, "Paths"). This is the
// one list: package paths implements a kind for each name here.
var Kinds = []string{"direct", "haproxy", "nginx", "linkerd", "linkerd-mtls", "exec"}

// Rate shapes (Rate.Shape).
const (
	ShapeConstant = "constant"
	ShapeLinear   = "linear"
	ShapeSine     = "sine"
)

// Shapes lists the rate shapes.
var Shapes = []string{ShapeConstant, ShapeLinear, ShapeSine}

// DelayDistributions are the shapes of the backend's added service time.
var DelayDistributions = []string{"fixed", "exponential", "uniform"}

// Default is the scenario used when a file or flag does not say otherwise.
func Default() *Scenario {
	return &Scenario{
		Name:        "default",
		Paths:       []PathSpec{{Name: "direct", Kind: "direct"}},
		Rate:        Rate{Shape: ShapeConstant, RPS: 1000},
		Duration:    Duration(10 * time.Second),
		Warmup:      Duration(2 * time.Second),
		Trials:      1,
		Connections: 64,
		Timeout:     Duration(5 * time.Second),
		Request:     Request{Method: "GET", Path: "/"},
		Backend:     Backend{Replicas: 3, Payload: 1024, DelayDistribution: "fixed"},
		HostStats:   HostStats{Interval: Duration(time.Second)},
	}
}

var (
	// Names end up in generated proxy configs, process titles and file names:
	// keep them to characters no config language gives a meaning to.
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	// Setting values may hold durations, numbers, words and host:port lists.
	settingRE = regexp.MustCompile(`^[A-Za-z0-9_.:/,+-]{0,256}$`)
)

// A sweep is bounded: every step measures every path in every round.
const (
	maxSweepSteps = 20
	maxRate       = 1e6
)

// ValidName reports whether s may be used as a path name or setting key.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// fieldError is a validation error about one field, named by its YAML path
// ("backend.replicas", "faults[1].at"), so that Parse can point at the line
// and column that set it.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

func errAt(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Validate checks the scenario as it will run, without changing it. Errors
// are bad input (exit 2). Validate expects a normalised scenario (see
// Normalize): a path without a kind is an error here, not filled in.
func (s *Scenario) Validate() error {
	if err := s.check(); err != nil {
		return errext.AsBadInput(err)
	}
	return nil
}

func (s *Scenario) check() error {
	for _, check := range []func() error{
		s.checkText, s.checkPaths, s.checkLoad, s.Request.validate, s.Backend.validate,
		s.checkTarget, s.checkHostStats, s.checkFaults, s.checkGates,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkText bounds the free text a scenario carries into every result file
// and report, and keeps control characters (terminal escapes) out of it.
func (s *Scenario) checkText() error {
	if len(s.Name) > MaxNameBytes {
		return errAt("name", "name is %d bytes; at most %d (MaxNameBytes)", len(s.Name), MaxNameBytes)
	}
	if i := strings.IndexFunc(s.Name, unicode.IsControl); i >= 0 {
		return errAt("name", "name holds a control character at byte %d", i)
	}
	if len(s.Description) > MaxDescriptionBytes {
		return errAt("description", "description is %d bytes; at most %d (MaxDescriptionBytes)", len(s.Description), MaxDescriptionBytes)
	}
	if i := strings.IndexFunc(s.Description, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
		return errAt("description", "description holds a control character at byte %d (only line breaks and tabs are allowed)", i)
	}
	return nil
}

func (s *Scenario) checkPaths() error {
	if len(s.Paths) == 0 {
		return errAt("paths", "no paths to measure")
	}
	seen := map[string]bool{}
	for i, p := range s.Paths {
		at := fmt.Sprintf("paths[%d]", i)
		if !nameRE.MatchString(p.Name) {
			return errAt(at+".name", "path name %q: use lower-case letters, digits, '.', '_' and '-' (at most 63)", p.Name)
		}
		if !slices.Contains(Kinds, p.Kind) {
			return errAt(at+".kind", "path %q: unknown kind %q (known: %s)", p.Name, p.Kind, strings.Join(Kinds, ", "))
		}
		if seen[p.Name] {
			return errAt(at+".name", "path %q is listed twice", p.Name)
		}
		seen[p.Name] = true
		for k, v := range p.Settings {
			if !nameRE.MatchString(k) {
				return errAt(at+".settings."+k, "path %q: setting name %q is not allowed", p.Name, k)
			}
			if !settingRE.MatchString(v) {
				return errAt(at+".settings."+k, "path %q: setting %s=%q has characters that are not allowed (letters, digits and _.:/,+- only)", p.Name, k, v)
			}
		}
		if p.Kind == "exec" && (p.Exec == nil || len(p.Exec.Command) == 0) {
			return errAt(at+".exec", "path %q: kind exec needs exec.command", p.Name)
		}
		if p.Kind != "exec" && p.Exec != nil {
			return errAt(at+".exec", "path %q: exec settings given for kind %s", p.Name, p.Kind)
		}
	}
	return nil
}

// checkLoad checks the offered load and the windows it is measured in.
func (s *Scenario) checkLoad() error {
	if err := s.Rate.validate(); err != nil {
		return err
	}
	if len(s.Sweep) > 0 {
		if s.Rate.Shape != ShapeConstant {
			return errAt("sweep", "sweep: its steps are constant rates; it cannot be combined with a %s rate", s.Rate.Shape)
		}
		if len(s.Sweep) > maxSweepSteps {
			return errAt("sweep", "sweep: at most %d steps, got %d", maxSweepSteps, len(s.Sweep))
		}
		for i, r := range s.Sweep {
			if !(r > 0) || r > maxRate {
				return errAt(fmt.Sprintf("sweep[%d]", i), "sweep[%d]: rate must be above 0 and at most %g requests/s, got %g", i, maxRate, r)
			}
		}
	}
	if s.Duration <= 0 {
		return errAt("duration", "duration must be above 0, got %s", s.Duration.D())
	}
	if s.Warmup < 0 {
		return errAt("warmup", "warmup must not be negative, got %s", s.Warmup.D())
	}
	if s.Trials < 1 {
		return errAt("trials", "trials must be at least 1, got %d", s.Trials)
	}
	if s.Connections < 1 {
		return errAt("connections", "connections must be at least 1, got %d", s.Connections)
	}
	if s.Timeout <= 0 {
		return errAt("timeout", "timeout must be above 0, got %s", s.Timeout.D())
	}
	return nil
}

func (r Rate) validate() error {
	switch r.Shape {
	case ShapeConstant:
		if !(r.RPS > 0) {
			return errAt("rate.rps", "rate must be above 0 requests/s, got %g", r.RPS)
		}
	case ShapeLinear:
		if !(r.RPS >= 0) || !(r.End >= 0) || r.RPS+r.End <= 0 {
			return errAt("rate", "linear rate: rps (start) and end must be ≥ 0 and not both 0, got %g and %g", r.RPS, r.End)
		}
	case ShapeSine:
		if !(r.RPS > 0) || !(r.Amplitude >= 0) || r.Amplitude > r.RPS || r.Period <= 0 {
			return errAt("rate", "sine rate: need rps > 0, 0 ≤ amplitude ≤ rps and period > 0")
		}
	default:
		return errAt("rate.shape", "rate shape %q: want %s", r.Shape, strings.Join(Shapes, ", "))
	}
	if r.RPS > maxRate || r.End > maxRate {
		return errAt("rate", "rate above %g requests/s is not supported", maxRate)
	}
	return nil
}

func (b Backend) validate() error {
	if b.Replicas < 1 || b.Replicas > 64 {
		return errAt("backend.replicas", "backend replicas must be 1 to 64, got %d", b.Replicas)
	}
	if b.Payload < 0 || b.Payload > 64<<20 {
		return errAt("backend.payload", "backend payload must be 0 to 64 MiB, got %d", b.Payload)
	}
	if b.Delay < 0 {
		return errAt("backend.delay", "backend delay must not be negative, got %s", b.Delay.D())
	}
	if !slices.Contains(DelayDistributions, b.DelayDistribution) {
		return errAt("backend.delay_distribution", "backend delay_distribution %q: want %s", b.DelayDistribution, strings.Join(DelayDistributions, ", "))
	}
	if !(b.ErrorRate >= 0 && b.ErrorRate <= 1) {
		return errAt("backend.error_rate", "backend error_rate must be within 0 and 1, got %g", b.ErrorRate)
	}
	return nil
}

func (s *Scenario) checkTarget() error {
	if s.Target == "" {
		return nil
	}
	if err := checkTarget(s.Target); err != nil {
		return err
	}
	for i, p := range s.Paths {
		if p.Kind != "direct" {
			return errAt(fmt.Sprintf("paths[%d]", i), "target (--target) measures one existing endpoint as the direct path; path %q cannot run with it", p.Name)
		}
	}
	if len(s.Faults) > 0 {
		return errAt("faults", "faults act on meshbench's own backend; they cannot run with a target (--target)")
	}
	return nil
}

func (s *Scenario) checkHostStats() error {
	h := s.HostStats
	if !h.Disabled && h.Interval < Duration(100*time.Millisecond) {
		return errAt("host_stats.interval", "host_stats interval must be at least 100ms, got %s", h.Interval.D())
	}
	if err := hoststats.CheckProbes(h.Probes); err != nil {
		return errAt("host_stats.probes", "host_stats: %v", err)
	}
	return nil
}

func (s *Scenario) checkFaults() error {
	for i, f := range s.Faults {
		at := fmt.Sprintf("faults[%d]", i)
		if f.At < 0 || f.At >= s.Duration {
			return errAt(at+".at", "faults[%d]: at %s must fall inside the measured window (duration %s)", i, f.At.D(), s.Duration.D())
		}
		if f.Replica < 0 || f.Replica >= s.Backend.Replicas {
			return errAt(at+".replica", "faults[%d]: replica %d does not exist (replicas 0 to %d)", i, f.Replica, s.Backend.Replicas-1)
		}
		n := 0
		if f.ErrorRate != nil {
			n++
			if !(*f.ErrorRate >= 0 && *f.ErrorRate <= 1) {
				return errAt(at+".error_rate", "faults[%d]: error_rate must be within 0 and 1", i)
			}
		}
		if f.Delay != nil {
			n++
			if *f.Delay < 0 {
				return errAt(at+".delay", "faults[%d]: delay must not be negative", i)
			}
		}
		if f.Kill {
			n++
		}
		if n != 1 {
			return errAt(at, "faults[%d]: set exactly one of error_rate, delay and kill", i)
		}
	}
	return nil
}

func (s *Scenario) checkGates() error {
	for i, g := range s.Gates {
		if _, err := gate.Parse(g); err != nil {
			return errAt(fmt.Sprintf("gates[%d]", i), "gates: %v", err)
		}
	}
	return nil
}

// Mean is the mean offered rate over a window, requests/s.
func (r Rate) Mean() float64 {
	if r.Shape == ShapeLinear {
		return (r.RPS + r.End) / 2
	}
	return r.RPS
}
