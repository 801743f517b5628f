package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/hoststats"
)

// Kinds are the path kinds meshbench knows (SPEC.md, "Paths"). This is the
// one list: package paths implements a kind for each name here.
var Kinds = []string{"direct", "haproxy", "haproxy-mtls", "nginx", "linkerd", "linkerd-mtls", "exec"}

// Rate shapes (Rate.Shape).
const (
	ShapeConstant = "constant"
	ShapeLinear   = "linear"
	ShapeSine     = "sine"
)

// Shapes lists the rate shapes.
var Shapes = []string{ShapeConstant, ShapeLinear, ShapeSine}

// DelayDistributions are the shapes of the backend's added service time.
var DelayDistributions = []string{backend.Fixed, backend.Exponential, backend.Uniform}

// Placements (Scenario.Placement).
const (
	PlacementShared = "shared"
	PlacementSplit  = "split"
	PlacementAuto   = "auto"
)

// Placements lists the placements.
var Placements = []string{PlacementShared, PlacementSplit, PlacementAuto}

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
		Placement:   PlacementAuto,
	}
}

var (
	// Names end up in generated proxy configs, process titles and file names:
	// keep them to characters no config language gives a meaning to.
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	// Setting values may hold durations, numbers, words and host:port lists.
	settingRE = regexp.MustCompile(`^[A-Za-z0-9_.:/,+-]{0,256}$`)
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
		s.checkText, s.checkPaths, s.Request.validate, s.Backend.validate, s.checkLoad,
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
	if len(s.Paths) > MaxPaths {
		return errAt("paths", "at most %d paths (MaxPaths), got %d", MaxPaths, len(s.Paths))
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
		if len(p.Settings) > MaxSettings {
			return errAt(at+".settings", "path %q: at most %d settings (MaxSettings), got %d", p.Name, MaxSettings, len(p.Settings))
		}
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
		if p.Exec != nil {
			if err := checkCount(at+".exec.command", fmt.Sprintf("path %q: the arguments of exec.command", p.Name), len(p.Exec.Command), 1, MaxExecArgs, "MaxExecArgs"); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks the backend. The values it shares with the backend
// command are backend.Config's to judge, one at a time so that an error
// points at its own key; the rest are bounds of a run.
func (b Backend) validate() error {
	if err := checkCount("backend.replicas", "backend replicas", b.Replicas, 1, MaxReplicas, "MaxReplicas"); err != nil {
		return err
	}
	for _, c := range []struct {
		field string
		cfg   backend.Config
	}{
		{"backend.payload", backend.Config{Payload: b.Payload}},
		{"backend.delay", backend.Config{Delay: b.Delay.D()}},
		{"backend.delay_distribution", backend.Config{Distribution: b.DelayDistribution}},
		{"backend.error_rate", backend.Config{ErrorRate: b.ErrorRate}},
	} {
		if err := c.cfg.Validate(); err != nil {
			return errAt(c.field, "backend: %v", err)
		}
	}
	if b.DelayDistribution == "" {
		return errAt("backend.delay_distribution", "backend delay_distribution is empty: want %s", strings.Join(DelayDistributions, ", "))
	}
	return checkDuration("backend.delay", "backend delay", b.Delay.D(), 0, MaxDelay, "", "MaxDelay")
}

// checkCount refuses v outside [lo, hi], naming the bound hiName.
func checkCount(field, what string, v, lo, hi int, hiName string) error {
	if v < lo {
		return errAt(field, "%s must be at least %d, got %d", what, lo, v)
	}
	if v > hi {
		return errAt(field, "%s must be at most %d (%s), got %d", what, hi, hiName, v)
	}
	return nil
}

// checkDuration refuses d outside [lo, hi], naming the bound loName (if
// any) or hiName. Below a lower bound of 0 it says "negative"; a zero
// below a positive bound is "must be above 0", the plainer message.
func checkDuration(field, what string, d, lo, hi time.Duration, loName, hiName string) error {
	switch {
	case d < 0 && lo == 0:
		return errAt(field, "%s must not be negative, got %s", what, d)
	case d <= 0 && lo > 0:
		return errAt(field, "%s must be above 0, got %s", what, d)
	case d < lo:
		return errAt(field, "%s must be at least %s (%s), got %s", what, lo, loName, d)
	case d > hi:
		return errAt(field, "%s must be at most %s (%s), got %s", what, hi, hiName, d)
	}
	return nil
}

func (s *Scenario) checkTarget() error {
	if s.Insecure && !strings.HasPrefix(s.Target, "https://") {
		return errAt("insecure", "insecure skips the certificate check of an https target; this scenario has none")
	}
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
	if !h.Disabled {
		if err := checkDuration("host_stats.interval", "host_stats interval", h.Interval.D(), MinInterval, MaxInterval, "MinInterval", "MaxInterval"); err != nil {
			return err
		}
	}
	for i, p := range h.Probes {
		if slices.Index(h.Probes, p) < i {
			return errAt(fmt.Sprintf("host_stats.probes[%d]", i), "host_stats: probe %q is listed twice", p)
		}
	}
	if err := hoststats.CheckProbes(h.Probes); err != nil {
		return errAt("host_stats.probes", "host_stats: %v", err)
	}
	return nil
}

func (s *Scenario) checkGates() error {
	if len(s.Gates) > MaxGates {
		return errAt("gates", "at most %d gates (MaxGates), got %d", MaxGates, len(s.Gates))
	}
	for i, g := range s.Gates {
		if len(g) > MaxGateBytes {
			return errAt(fmt.Sprintf("gates[%d]", i), "gates[%d] is %d bytes; at most %d (MaxGateBytes)", i, len(g), MaxGateBytes)
		}
		if _, err := gate.Parse(g); err != nil {
			return errAt(fmt.Sprintf("gates[%d]", i), "gates: %v", err)
		}
	}
	return nil
}
