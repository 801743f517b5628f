package results

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Merged is one path over all the trials of a file: counts summed, latency
// from the trials' HDR histograms merged (not percentiles averaged, which
// would be meaningless), and the spread of p50 and p99 across trials.
type Merged struct {
	Path
	Trials int `json:"trials"`
	// P50Range and P99Range are the lowest and highest trial values, in ms.
	P50Range [2]float64 `json:"p50_range_ms"`
	P99Range [2]float64 `json:"p99_range_ms"`
}

// MergeTrials folds the per-trial entries of f.Paths into one entry per path
// name, in the order paths first appear. Overhead is recomputed against the
// merged direct path. The merged entry keeps no histogram string of its own
// but Histogram holds the merged histogram, encoded, when all trials had one.
//
// A rate sweep's steps are never merged together: each (path, step) is one
// entry, named PATH@RATErps (for example haproxy@2000rps), and its overhead
// is against the direct path of the same step.
func MergeTrials(f *File) ([]Merged, error) {
	type key struct {
		name string
		step int
	}
	var order []key
	byKey := map[key][]Path{}
	for _, p := range f.Paths {
		k := key{p.Name, p.Step}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], p)
	}
	out := make([]Merged, 0, len(order))
	for _, k := range order {
		m, err := mergeOne(byKey[k])
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", k.name, err)
		}
		m.Name = MergedName(byKey[k][0])
		out = append(out, m)
	}
	setOverhead(out, func(m *Merged) *Path { return &m.Path }, func(m *Merged) int { return m.Step })
	return out, nil
}

// MergedName is the name MergeTrials gives the entry p is merged into: the
// path's name, or in a rate sweep the path at its step's rate,
// "haproxy@2000rps".
func MergedName(p Path) string {
	if p.Step == 0 {
		return p.Name
	}
	return p.Name + "@" + strconv.FormatFloat(math.Round(p.TargetRate*1000)/1000, 'f', -1, 64) + "rps"
}

// mergeWarnings keeps once a warning every trial gave, and says which
// trial gave any other: two trials' late-send warnings differ in their
// figures, and side by side without their trial they read as one trial's
// contradicting lines.
func mergeWarnings(trials []Path) []string {
	inEvery := func(w string) bool {
		return !slices.ContainsFunc(trials, func(o Path) bool { return !slices.Contains(o.Warnings, w) })
	}
	var out []string
	for _, t := range trials {
		for _, w := range t.Warnings {
			switch {
			case !inEvery(w):
				out = append(out, fmt.Sprintf("trial %d: %s", t.Trial, w))
			case !slices.Contains(out, w):
				out = append(out, w)
			}
		}
	}
	return out
}

func mergeOne(trials []Path) (Merged, error) {
	first := trials[0]
	m := Merged{Trials: len(trials)}
	m.Name, m.Kind, m.Step, m.Baseline = first.Name, first.Kind, first.Step, first.Baseline
	m.ErrorsByClass = map[string]int64{}
	m.P50Range = [2]float64{first.LatencyMs.P50, first.LatencyMs.P50}
	m.P99Range = [2]float64{first.LatencyMs.P99, first.LatencyMs.P99}
	resp, svc := NewHistogram(), NewHistogram()
	haveResp, haveSvc := true, true
	var proxyCPU float64
	var proxyRSS, proxyProcRSS int64
	haveProxy := false
	m.Warnings = mergeWarnings(trials)
	for _, t := range trials {
		m.Requests += t.Requests
		m.Errors += t.Errors
		m.Unsent += t.Unsent
		m.DurationS += t.DurationS
		m.TargetRate += t.TargetRate * t.DurationS
		m.AchievedRate += t.AchievedRate * t.DurationS
		m.Throughput += t.Throughput * t.DurationS
		for k, v := range t.ErrorsByClass {
			m.ErrorsByClass[k] += v
		}
		m.Late.Count += t.Late.Count
		m.Late.LoopCount += t.Late.LoopCount
		m.Late.ConnWaitCount += t.Late.ConnWaitCount
		m.Late.TimedWakeups += t.Late.TimedWakeups
		m.Late.WokeLate += t.Late.WokeLate
		m.Late.LoopWokeLateCount += t.Late.LoopWokeLateCount
		m.Late.MaxMs = max(m.Late.MaxMs, t.Late.MaxMs)
		m.Late.P99Ms = max(m.Late.P99Ms, t.Late.P99Ms)
		m.Late.ThresholdMs = t.Late.ThresholdMs
		m.P50Range = [2]float64{min(m.P50Range[0], t.LatencyMs.P50), max(m.P50Range[1], t.LatencyMs.P50)}
		m.P99Range = [2]float64{min(m.P99Range[0], t.LatencyMs.P99), max(m.P99Range[1], t.LatencyMs.P99)}
		if t.Proxy != nil {
			haveProxy = true
			proxyCPU += t.Proxy.CPUSeconds
			proxyRSS = max(proxyRSS, t.Proxy.MaxRSSBytes)
			proxyProcRSS = max(proxyProcRSS, t.Proxy.MaxProcessRSSBytes)
		}
		if haveResp = haveResp && t.Histogram != ""; haveResp {
			h, err := DecodeHistogram(t.Histogram)
			if err != nil {
				return m, fmt.Errorf("trial %d: %w", t.Trial, err)
			}
			resp.Merge(h)
		}
		if haveSvc = haveSvc && t.ServiceHistogram != ""; haveSvc {
			h, err := DecodeHistogram(t.ServiceHistogram)
			if err != nil {
				return m, fmt.Errorf("trial %d: %w", t.Trial, err)
			}
			svc.Merge(h)
		}
	}
	if m.DurationS > 0 {
		m.TargetRate /= m.DurationS
		m.AchievedRate /= m.DurationS
		m.Throughput /= m.DurationS
	}
	if haveProxy {
		m.Proxy = &Proxy{CPUSeconds: proxyCPU, MaxRSSBytes: proxyRSS, MaxProcessRSSBytes: proxyProcRSS}
		if first.Proxy != nil {
			m.Proxy.Processes, m.Proxy.Version = first.Proxy.Processes, first.Proxy.Version
		}
	}
	if len(trials) == 1 {
		// One trial: keep its own summary (and its histograms) as written.
		m.LatencyMs, m.ServiceTimeMs = first.LatencyMs, first.ServiceTimeMs
		m.Histogram, m.ServiceHistogram = first.Histogram, first.ServiceHistogram
		m.Timeline, m.HostStats, m.Proxy = first.Timeline, first.HostStats, first.Proxy
		return m, nil
	}
	if haveResp {
		m.LatencyMs = Summarize(resp)
		enc, err := EncodeHistogram(resp)
		if err != nil {
			return m, err
		}
		m.Histogram = enc
	} else {
		// Without histograms the only honest merge is the worst trial.
		m.LatencyMs = worst(trials, func(p Path) Percentiles { return p.LatencyMs })
		m.Warnings = append(m.Warnings, "trials merged without histograms: percentiles are the worst trial's")
	}
	if haveSvc {
		m.ServiceTimeMs = Summarize(svc)
	} else {
		m.ServiceTimeMs = worst(trials, func(p Path) Percentiles { return p.ServiceTimeMs })
	}
	return m, nil
}

func worst(trials []Path, get func(Path) Percentiles) Percentiles {
	w := get(trials[0])
	for _, t := range trials[1:] {
		if p := get(t); p.P99 > w.P99 {
			w = p
		}
	}
	return w
}

// SetOverhead sets the overhead of each row of a run against the direct row
// of the same round (SPEC.md: overhead = percentile − direct percentile, same
// round); rows without a direct row in their round get none.
func SetOverhead(ps []Path) {
	setOverhead(ps, func(p *Path) *Path { return p }, func(p *Path) int { return p.Trial })
}

// setOverhead is the one overhead rule: every row that is not the baseline
// gets its latency minus the latency of the baseline row with the same key,
// when there is one and both measured something. The baseline is the row
// marked so; in files written before rows were marked, every direct row.
func setOverhead[T any](rows []T, path func(*T) *Path, key func(*T) int) {
	marked := false
	for i := range rows {
		marked = marked || path(&rows[i]).Baseline
	}
	isBase := func(p *Path) bool { return p.Baseline || (!marked && p.Kind == "direct") }
	base := map[int]Percentiles{}
	for i := range rows {
		if p := path(&rows[i]); isBase(p) && p.LatencyMs.Count > 0 {
			base[key(&rows[i])] = p.LatencyMs
		}
	}
	for i := range rows {
		p := path(&rows[i])
		p.OverheadMs = nil
		d, ok := base[key(&rows[i])]
		if ok && !isBase(p) && p.LatencyMs.Count > 0 {
			p.OverheadMs = OverheadOf(p.LatencyMs, d)
		}
	}
}
