package runner

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// The resilience block of a row is cut from the load engine's timeline:
// slices of the measured window by intended send time, each with its
// request and error counts and a response-time histogram. Slices are one
// second long for windows up to load.MaxTimeline seconds (longer beyond),
// so phases are whole seconds and a recovery time is the start of the
// first clean second: exact to within one second (ResolutionS).

// windowResilience is one measured window's block: its slices sorted into
// the phases before, during and after faults (see results.Resilience), and
// the recovery from each fault. Nil when there are no faults or no
// timeline.
func windowResilience(faults []scenario.Fault, res *load.Result) (*results.Resilience, error) {
	if len(faults) == 0 || res == nil || len(res.Timeline) == 0 {
		return nil, nil
	}
	win := res.Window()
	first, last := win, time.Duration(0)
	out := &results.Resilience{Windows: 1, ResolutionS: res.Timeline[0].Length.Seconds()}
	for _, f := range faults {
		at := min(f.At.D(), win)
		end, ok := f.End()
		if !ok || end > win {
			end = win
		}
		first, last = min(first, at), max(last, end)
		fo := results.FaultOutcome{Action: f.Action(), Replica: f.Replica, AtS: at.Seconds(), EndS: end.Seconds()}
		for _, iv := range res.Timeline {
			if iv.Start+iv.Length > at && iv.Start < end {
				fo.Requests += iv.Requests
				fo.Errors += iv.Errors
			}
		}
		if rec, ok := recovery(res.Timeline, at, win); ok {
			s := rec.Seconds()
			fo.RecoverS, fo.Recovered = &s, 1
		}
		out.Faults = append(out.Faults, fo)
	}
	var ph [3]phaseSum
	for i := range ph {
		ph[i].h = results.NewHistogram()
	}
	bounds := [3][2]time.Duration{{0, first}, {first, last}, {last, win}}
	for _, iv := range res.Timeline {
		start, end := iv.Start, min(iv.Start+iv.Length, win)
		k := 1
		switch {
		case end <= first:
			k = 0
		case start >= last:
			k = 2
		}
		ph[k].add(iv, start, end)
	}
	for k, p := range []*results.Phase{&out.Before, &out.During, &out.After} {
		var err error
		if *p, err = ph[k].phase(bounds[k]); err != nil {
			return nil, err
		}
	}
	out.Settle()
	return out, nil
}

// phaseSum gathers the slices of one phase.
type phaseSum struct {
	start, end       time.Duration
	any              bool
	requests, errors int64
	h                *hdrhistogram.Histogram
}

func (p *phaseSum) add(iv load.Interval, start, end time.Duration) {
	if !p.any {
		p.start, p.any = start, true
	}
	p.end = end
	p.requests += iv.Requests
	p.errors += iv.Errors
	if iv.Response != nil {
		p.h.Merge(iv.Response)
	}
}

// phase is the sum as a result; an empty phase sits where it was planned
// to start.
func (p *phaseSum) phase(planned [2]time.Duration) (results.Phase, error) {
	if !p.any {
		p.start, p.end = planned[0], planned[0]
	}
	return results.NewPhase(p.start.Seconds(), p.end.Seconds(), p.requests, p.errors, p.h)
}

// recovery is the time from at to the start of the first whole slice, from
// the one at is in, whose requests failed less than
// results.RecoverErrorShare (a slice without requests shows nothing and
// does not count); ok is false when no slice of the window qualifies.
func recovery(tl []load.Interval, at, win time.Duration) (time.Duration, bool) {
	for _, iv := range tl {
		if iv.Start+iv.Length <= at || iv.Start+iv.Length > win || iv.Requests == 0 {
			continue
		}
		if float64(iv.Errors) < results.RecoverErrorShare*float64(iv.Requests) {
			return max(iv.Start-at, 0), true
		}
	}
	return 0, false
}

// rowResilience is a row's block: its windows' blocks merged, with the
// proxy counters that tell how the path coped, over the row's windows.
func rowResilience(blocks []*results.Resilience, usage *results.Proxy) *results.Resilience {
	out := results.MergeResilience(blocks)
	if out == nil || usage == nil {
		return out
	}
	for _, k := range results.ResilienceCounters {
		if v, ok := usage.Counters[k]; ok {
			if out.ProxyCounters == nil {
				out.ProxyCounters = map[string]float64{}
			}
			out.ProxyCounters[k] = v
		}
	}
	return out
}
