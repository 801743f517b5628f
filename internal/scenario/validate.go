package scenario

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/hoststats"
)

// Kinds are the path kinds meshbench knows (SPEC.md, "Paths").
var Kinds = []string{"direct", "haproxy", "nginx", "linkerd", "linkerd-mtls", "exec"}

// Default is the scenario used when a file or flag does not say otherwise.
func Default() *Scenario {
	return &Scenario{
		Name:        "default",
		Paths:       []PathSpec{{Name: "direct", Kind: "direct"}},
		Rate:        Rate{Shape: "constant", RPS: 1000},
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
	headerRE  = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]{1,128}$`)
	methodRE  = regexp.MustCompile(`^[A-Z]{1,16}$`)
)

// A sweep is bounded: every step measures every path in every round.
const (
	maxSweepSteps = 20
	maxRate       = 1e6
)

// ValidName reports whether s may be used as a path name or setting key.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Validate checks the scenario as it will run. Errors are bad input (exit 2).
func (s *Scenario) Validate() error {
	if err := s.validate(); err != nil {
		return errext.AsBadInput(err)
	}
	return nil
}

func (s *Scenario) validate() error {
	if len(s.Paths) == 0 {
		return fmt.Errorf("no paths to measure")
	}
	seen := map[string]bool{}
	for i := range s.Paths {
		p := &s.Paths[i]
		if p.Kind == "" {
			p.Kind = p.Name
		}
		if p.Name == "" {
			p.Name = p.Kind
		}
		if !nameRE.MatchString(p.Name) {
			return fmt.Errorf("path name %q: use lower-case letters, digits, '.', '_' and '-' (at most 63)", p.Name)
		}
		if !contains(Kinds, p.Kind) {
			return fmt.Errorf("path %q: unknown kind %q (known: %s)", p.Name, p.Kind, strings.Join(Kinds, ", "))
		}
		if seen[p.Name] {
			return fmt.Errorf("path %q is listed twice", p.Name)
		}
		seen[p.Name] = true
		for k, v := range p.Settings {
			if !nameRE.MatchString(k) {
				return fmt.Errorf("path %q: setting name %q is not allowed", p.Name, k)
			}
			if !settingRE.MatchString(v) {
				return fmt.Errorf("path %q: setting %s=%q has characters that are not allowed (letters, digits and _.:/,+- only)", p.Name, k, v)
			}
		}
		if p.Kind == "exec" && (p.Exec == nil || len(p.Exec.Command) == 0) {
			return fmt.Errorf("path %q: kind exec needs exec.command", p.Name)
		}
		if p.Kind != "exec" && p.Exec != nil {
			return fmt.Errorf("path %q: exec settings given for kind %s", p.Name, p.Kind)
		}
	}
	if err := s.Rate.validate(); err != nil {
		return err
	}
	if len(s.Sweep) > 0 {
		if s.Rate.Shape != "" && s.Rate.Shape != "constant" {
			return fmt.Errorf("sweep: its steps are constant rates; it cannot be combined with a %s rate", s.Rate.Shape)
		}
		if len(s.Sweep) > maxSweepSteps {
			return fmt.Errorf("sweep: at most %d steps, got %d", maxSweepSteps, len(s.Sweep))
		}
		for i, r := range s.Sweep {
			if !(r > 0) || r > maxRate {
				return fmt.Errorf("sweep[%d]: rate must be above 0 and at most %g requests/s, got %g", i, maxRate, r)
			}
		}
	}
	if s.Duration <= 0 {
		return fmt.Errorf("duration must be above 0, got %s", s.Duration.D())
	}
	if s.Warmup < 0 {
		return fmt.Errorf("warmup must not be negative, got %s", s.Warmup.D())
	}
	if s.Trials < 1 {
		return fmt.Errorf("trials must be at least 1, got %d", s.Trials)
	}
	if s.Connections < 1 {
		return fmt.Errorf("connections must be at least 1, got %d", s.Connections)
	}
	if s.Timeout <= 0 {
		return fmt.Errorf("timeout must be above 0, got %s", s.Timeout.D())
	}
	if !methodRE.MatchString(s.Request.Method) {
		return fmt.Errorf("request method %q is not an HTTP method", s.Request.Method)
	}
	if !strings.HasPrefix(s.Request.Path, "/") || strings.ContainsAny(s.Request.Path, " \r\n\t") {
		return fmt.Errorf("request path %q must start with / and hold no spaces", s.Request.Path)
	}
	for k, v := range s.Request.Headers {
		if !headerRE.MatchString(k) {
			return fmt.Errorf("request header name %q is not a valid HTTP token", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("request header %s: value holds a line break", k)
		}
	}
	b := s.Backend
	if b.Replicas < 1 || b.Replicas > 64 {
		return fmt.Errorf("backend replicas must be 1 to 64, got %d", b.Replicas)
	}
	if b.Payload < 0 || b.Payload > 64<<20 {
		return fmt.Errorf("backend payload must be 0 to 64 MiB, got %d", b.Payload)
	}
	if b.Delay < 0 {
		return fmt.Errorf("backend delay must not be negative, got %s", b.Delay.D())
	}
	if !contains([]string{"fixed", "exponential", "uniform"}, b.DelayDistribution) {
		return fmt.Errorf("backend delay_distribution %q: want fixed, exponential or uniform", b.DelayDistribution)
	}
	if b.ErrorRate < 0 || b.ErrorRate > 1 {
		return fmt.Errorf("backend error_rate must be within 0 and 1, got %g", b.ErrorRate)
	}
	if s.Target != "" {
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("target %q is not an http:// or https:// URL", s.Target)
		}
		for _, p := range s.Paths {
			if p.Kind != "direct" {
				return fmt.Errorf("--target measures one existing endpoint as the direct path; path %q cannot run with it", p.Name)
			}
		}
	}
	if !s.HostStats.Disabled && s.HostStats.Interval < Duration(100*time.Millisecond) {
		return fmt.Errorf("host_stats interval must be at least 100ms, got %s", s.HostStats.Interval.D())
	}
	for i, f := range s.Faults {
		if s.Target != "" {
			return fmt.Errorf("faults act on meshbench's own backend; they cannot run with --target")
		}
		if f.At < 0 || f.At >= s.Duration {
			return fmt.Errorf("faults[%d]: at %s must fall inside the measured window (duration %s)", i, f.At.D(), s.Duration.D())
		}
		if f.Replica < 0 || f.Replica >= s.Backend.Replicas {
			return fmt.Errorf("faults[%d]: replica %d does not exist (replicas 0 to %d)", i, f.Replica, s.Backend.Replicas-1)
		}
		n := 0
		if f.ErrorRate != nil {
			n++
			if *f.ErrorRate < 0 || *f.ErrorRate > 1 {
				return fmt.Errorf("faults[%d]: error_rate must be within 0 and 1", i)
			}
		}
		if f.Delay != nil {
			n++
			if *f.Delay < 0 {
				return fmt.Errorf("faults[%d]: delay must not be negative", i)
			}
		}
		if f.Kill {
			n++
		}
		if n != 1 {
			return fmt.Errorf("faults[%d]: set exactly one of error_rate, delay and kill", i)
		}
	}
	for _, g := range s.Gates {
		if _, err := gate.Parse(g); err != nil {
			return fmt.Errorf("gates: %w", err)
		}
	}
	if err := hoststats.CheckProbes(s.HostStats.Probes); err != nil {
		return fmt.Errorf("host_stats: %w", err)
	}
	return nil
}

func (r *Rate) validate() error {
	switch r.Shape {
	case "", "constant":
		r.Shape = "constant"
		if r.RPS <= 0 {
			return fmt.Errorf("rate must be above 0 requests/s, got %g", r.RPS)
		}
	case "linear":
		if r.RPS < 0 || r.End < 0 || r.RPS+r.End <= 0 {
			return fmt.Errorf("linear rate: rps (start) and end must be ≥ 0 and not both 0, got %g and %g", r.RPS, r.End)
		}
	case "sine":
		if r.RPS <= 0 || r.Amplitude < 0 || r.Amplitude > r.RPS || r.Period <= 0 {
			return fmt.Errorf("sine rate: need rps > 0, 0 ≤ amplitude ≤ rps and period > 0")
		}
	default:
		return fmt.Errorf("rate shape %q: want constant, linear or sine", r.Shape)
	}
	if r.RPS > maxRate || r.End > maxRate {
		return fmt.Errorf("rate above 1,000,000 requests/s is not supported")
	}
	return nil
}

// Mean is the mean offered rate over a window of length d, requests/s.
func (r Rate) Mean() float64 {
	if r.Shape == "linear" {
		return (r.RPS + r.End) / 2
	}
	return r.RPS
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
