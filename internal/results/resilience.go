package results

import (
	"fmt"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// RecoverErrorShare and RecoverSpanS define recovery: a path has recovered
// from a fault once the requests of one whole timeline slice (a second, for
// windows up to 300 s) at or after the fault's start failed less than this
// share.
const (
	RecoverErrorShare = 0.01
	RecoverSpanS      = 1.0
)

// Resilience is how a path met the scenario's faults, over its measured
// windows (one per round when a scenario has faults). Its phases are cut
// from the first fault's start to the last fault's end: a window's
// timeline slices that end by the first fault's start are "before", those
// that start at or after the last fault's end (its restore_after, or the
// window's end when a fault lasts that long) are "after", and the rest,
// including a slice a phase boundary falls inside, are "during".
type Resilience struct {
	// Faults are the scenario's faults, in its order, each with the time
	// the path took to recover from it.
	Faults []FaultOutcome `json:"faults"`
	Before Phase          `json:"before"`
	During Phase          `json:"during"`
	After  Phase          `json:"after"`
	// RecoverS is the time to recover: the longest of the faults', in
	// seconds; null when the path did not recover from some fault in some
	// window, which RecoverNote then names.
	RecoverS    *float64 `json:"recover_s"`
	RecoverNote string   `json:"recover_note,omitempty"`
	// ResolutionS is the length of the slices the phases and recovery are
	// measured in: a recovery time is the start of the first clean slice,
	// so it is exact to within this much.
	ResolutionS float64 `json:"resolution_s"`
	// Windows counts the measured windows the block covers.
	Windows int `json:"windows"`
	// ProxyCounters are what the path's proxy counted over those windows,
	// whole windows (not per phase): ejections, retries, redispatches,
	// servers marked down, failed connections and responses, as the
	// proxy reports them (see ResilienceCounters).
	ProxyCounters map[string]float64 `json:"proxy_counters,omitempty"`
}

// ResilienceCounters are the proxy counters a resilience block keeps, the
// ones that say how a proxy coped with a fault: the sidecar's ejections,
// retries and retry-budget refusals and failed attempts, HAProxy's retries,
// redispatches, servers marked down by health checks and connection and
// response errors. nginx's stub_status counts none of these.
var ResilienceCounters = []string{"ejections", "retries", "retry_budget_exhausted", "upstream_failures",
	"redispatches", "server_downs", "connect_errors", "response_errors"}

// FaultOutcome is one fault and the path's recovery from it.
type FaultOutcome struct {
	// Action is error_rate, delay, kill, blackhole or reset.
	Action  string `json:"action"`
	Replica int    `json:"replica"`
	// AtS and EndS are when the fault began and ended, in seconds after
	// the window opened; EndS is the window's end when it lasted that long.
	AtS  float64 `json:"at_s"`
	EndS float64 `json:"end_s"`
	// RecoverS is the time from the fault's start to the first timeline
	// slice from then on with under 1% errors, the longest over the
	// windows; null when some window had no such slice.
	RecoverS *float64 `json:"recover_s"`
	// Recovered counts the windows in which the path recovered.
	Recovered int `json:"recovered_windows"`
	// Requests and Errors count the requests of the slices the fault
	// lasted through (from the one it began in), whatever else failed
	// meanwhile: faults that overlap share their slices.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

// Phase is the part of the windows before, during or after the faults,
// by intended send time.
type Phase struct {
	// StartS and EndS bound the phase as measured (whole slices), in
	// seconds after the window opened; equal when the phase is empty.
	StartS   float64 `json:"start_s"`
	EndS     float64 `json:"end_s"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	// ErrorPct is Errors as a percentage of Requests.
	ErrorPct float64 `json:"error_pct"`
	// P99Ms is the phase's p99 response time, from the slices' merged
	// histograms (two significant digits); 0 when it had no requests.
	P99Ms float64 `json:"p99_ms"`
	// Histogram is the phase's response-time histogram, "HISTF..." (ns),
	// so that blocks of several rounds merge exactly.
	Histogram string `json:"histogram,omitempty"`
}

// NewPhase makes the phase [start, end] of counts and histogram h (nil
// when it had no requests).
func NewPhase(start, end float64, requests, errs int64, h *hdrhistogram.Histogram) (Phase, error) {
	p := Phase{StartS: round3(start), EndS: round3(end), Requests: requests, Errors: errs}
	if requests > 0 {
		p.ErrorPct = round3(100 * float64(errs) / float64(requests))
	}
	if h != nil && h.TotalCount() > 0 {
		p.P99Ms = Summarize(h).P99
		var err error
		if p.Histogram, err = EncodeHistogram(h); err != nil {
			return p, err
		}
	}
	return p, nil
}

// MergeResilience folds the blocks of several windows or rows into one:
// counts and proxy counters summed, histograms merged, each fault's
// recovery the longest (null if null in any). Nil blocks are skipped; it
// returns nil when all are. A phase histogram that cannot be read leaves
// that phase's p99 at the worst of the blocks', and says so in the note.
func MergeResilience(blocks []*Resilience) *Resilience {
	var in []*Resilience
	for _, b := range blocks {
		if b != nil {
			in = append(in, b)
		}
	}
	if len(in) == 0 {
		return nil
	}
	out := &Resilience{ResolutionS: in[0].ResolutionS}
	var unreadable bool
	for _, ph := range []func(*Resilience) *Phase{
		func(r *Resilience) *Phase { return &r.Before },
		func(r *Resilience) *Phase { return &r.During },
		func(r *Resilience) *Phase { return &r.After },
	} {
		var phases []Phase
		for _, b := range in {
			phases = append(phases, *ph(b))
		}
		merged, ok := mergePhases(phases)
		unreadable = unreadable || !ok
		*ph(out) = merged
	}
	for _, b := range in {
		out.Windows += b.Windows
		out.ResolutionS = max(out.ResolutionS, b.ResolutionS)
		for k, v := range b.ProxyCounters {
			if out.ProxyCounters == nil {
				out.ProxyCounters = map[string]float64{}
			}
			out.ProxyCounters[k] += v
		}
		for i, f := range b.Faults {
			if i == len(out.Faults) {
				out.Faults = append(out.Faults, FaultOutcome{Action: f.Action, Replica: f.Replica, AtS: f.AtS, EndS: f.EndS, RecoverS: f.RecoverS})
			} else {
				out.Faults[i].RecoverS = worstRecovery(out.Faults[i].RecoverS, f.RecoverS)
			}
			out.Faults[i].Recovered += f.Recovered
			out.Faults[i].Requests += f.Requests
			out.Faults[i].Errors += f.Errors
		}
	}
	out.Settle()
	if unreadable {
		out.RecoverNote = strings.TrimPrefix(out.RecoverNote+"; a phase histogram could not be read, so that phase's p99 is the worst round's", "; ")
	}
	return out
}

// mergePhases sums phases; ok is false when a histogram could not be read.
func mergePhases(ps []Phase) (Phase, bool) {
	h := NewHistogram()
	out := Phase{StartS: ps[0].StartS, EndS: ps[0].EndS}
	ok := true
	var worst float64
	for _, p := range ps {
		out.StartS, out.EndS = min(out.StartS, p.StartS), max(out.EndS, p.EndS)
		out.Requests += p.Requests
		out.Errors += p.Errors
		worst = max(worst, p.P99Ms)
		if p.Histogram == "" {
			continue
		}
		ph, err := DecodeHistogram(p.Histogram)
		if err != nil {
			ok = false
			continue
		}
		h.Merge(ph)
	}
	merged, err := NewPhase(out.StartS, out.EndS, out.Requests, out.Errors, h)
	if err != nil || !ok {
		merged.Histogram = ""
		merged.P99Ms = worst
		return merged, false
	}
	return merged, true
}

// worstRecovery is the longer of two recovery times, nil (never) beating
// any.
func worstRecovery(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	v := max(*a, *b)
	return &v
}

// Settle sets the block's RecoverS and RecoverNote from its faults'.
func (r *Resilience) Settle() {
	r.RecoverS, r.RecoverNote = nil, ""
	var never []string
	worst := 0.0
	for _, f := range r.Faults {
		if f.RecoverS == nil {
			s := fmt.Sprintf("%s on replica %d at %s s", f.Action, f.Replica, num(f.AtS))
			if f.Recovered > 0 {
				s += fmt.Sprintf(" (in %d of %d windows)", r.Windows-f.Recovered, r.Windows)
			}
			never = append(never, s)
			continue
		}
		worst = max(worst, *f.RecoverS)
	}
	if len(never) > 0 {
		r.RecoverNote = fmt.Sprintf("never under %g%% errors for a whole %g s slice after %s", 100*RecoverErrorShare, max(RecoverSpanS, r.ResolutionS), strings.Join(never, " or "))
		return
	}
	if len(r.Faults) > 0 {
		r.RecoverS = &worst
	}
}

// num prints a figure without trailing zeros.
func num(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
