package gate

import (
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// Run health thresholds: beyond them the latency figures of a run say as
// much about the load generator or the host as about the paths.
const (
	// LateMaxPct is the share of sends that may leave late.
	LateMaxPct = 1.0
	// RateShortMaxPct is how far the achieved rate may fall short of the
	// target, in percent.
	RateShortMaxPct = 1.0
	// StealMaxPct is the CPU steal any window may show, in percent.
	StealMaxPct = 5.0
)

// Health is what a result says about the conditions it was measured in,
// checked before any rule: latency rules of an unhealthy run do not pass.
type Health struct {
	// Role is "result" or "baseline".
	Role string
	// Problems say what is wrong, each with the threshold it broke.
	Problems []Problem
}

// Problem is one reason a run is unhealthy.
type Problem struct {
	// Path is the path (merged name) whose figures it spoils; "" for the
	// whole run (host steal).
	Path string
	Text string
	// Short is Text in a few words, for beside a rule's outcome.
	Short string
}

// OK reports whether the run had no problem.
func (h Health) OK() bool { return len(h.Problems) == 0 }

// String is one line: "result: healthy", or the problems.
func (h Health) String() string {
	if h.OK() {
		return h.Role + ": healthy (late sends, achieved rate and steal within bounds)"
	}
	var ps []string
	for _, p := range h.Problems {
		ps = append(ps, p.Text)
	}
	return h.Role + ": unhealthy: " + strings.Join(ps, "; ")
}

// spoils lists, in short, the problems that touch any of the paths.
func (h Health) spoils(names ...string) []string {
	var out []string
	for _, p := range h.Problems {
		hit := p.Path == ""
		for _, n := range names {
			hit = hit || p.Path == n
		}
		if hit {
			out = append(out, p.Short)
		}
	}
	return out
}

// CheckHealth reads a result's run health: per path, the share of late
// sends and the achieved rate against the target; per row, the worst steal
// of its windows (on the server host too, in a two-host run).
func CheckHealth(role string, f *results.File) Health {
	h := Health{Role: role}
	merged, err := results.MergeTrials(f)
	if err == nil {
		for _, m := range merged {
			if m.Requests > 0 {
				if pct := 100 * float64(m.Late.Count) / float64(m.Requests); pct > LateMaxPct {
					cause := "the load generator could not keep up"
					if 2*m.Late.LoopWokeLateCount >= m.Late.Count {
						cause = "most were due while the host had not woken the load generator (its scheduling, not the load generator's CPU)"
					}
					h.Problems = append(h.Problems, Problem{m.Name,
						fmt.Sprintf("%s: %.2f%% of sends left late (more than %g%%): %s", m.Name, pct, LateMaxPct, cause),
						fmt.Sprintf("%s %.2f%% late sends", m.Name, pct)})
				}
			}
			if m.TargetRate > 0 && m.DurationS > 0 {
				if short := 100 * (1 - m.AchievedRate/m.TargetRate); short > RateShortMaxPct {
					h.Problems = append(h.Problems, Problem{m.Name,
						fmt.Sprintf("%s: sent %.0f of %.0f requests/s (%.2f%% short, more than %g%%)", m.Name, m.AchievedRate, m.TargetRate, short, RateShortMaxPct),
						fmt.Sprintf("%s rate %.2f%% short", m.Name, short)})
				}
			}
		}
	}
	worst, where := 0.0, ""
	for _, p := range f.Paths {
		for _, hs := range []*results.HostStats{p.HostStats, p.ServerHostStats} {
			if hs == nil || hs.CPU == nil || !hs.CPU.StealReported {
				continue
			}
			if s := max(hs.CPU.StealPct, hs.CPU.StealMaxPct); s > worst {
				worst, where = s, fmt.Sprintf("%s round %d", results.MergedName(p), p.Trial)
			}
		}
	}
	if worst > StealMaxPct {
		h.Problems = append(h.Problems, Problem{
			Text:  fmt.Sprintf("CPU steal reached %.1f%% (during %s; more than %g%% in a window): the host's CPUs were taken by its neighbours", worst, where, StealMaxPct),
			Short: fmt.Sprintf("steal %.1f%%", worst)})
	}
	return h
}
