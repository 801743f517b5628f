package gate_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// spec is one path of a synthetic result: the median p99 of its windows, in
// ms (p50 is a third of it, p90 a half, p999 one and a half times).
type spec struct {
	name, kind string
	ms         float64
}

// synth describes a synthetic result: rounds × windows per path, each
// window's figures drawn around the path's median with log-normal noise,
// times a per-round drift every path of the round shares (a noisy host).
// Windows interleave as the runner lays them out: in each round, window w
// of path i opens at i + w·len(paths) seconds.
type synth struct {
	seed            uint64
	rounds, windows int
	noise, drift    float64
	floor           *results.NoiseFloor
}

func (o synth) file(paths ...spec) *results.File {
	rng := rand.New(rand.NewPCG(o.seed, 0x9e3779b9))
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f := &results.File{Schema: results.Schema, NoiseFloorMs: o.floor}
	for r := 0; r < o.rounds; r++ {
		drift := math.Exp(rng.NormFloat64() * o.drift)
		start := t0.Add(time.Duration(r) * time.Hour)
		for i, sp := range paths {
			row := results.Path{Name: sp.name, Kind: sp.kind, Trial: r + 1, Order: i + 1,
				Baseline:    sp.name == "direct",
				WindowStart: start.Add(time.Duration(i) * time.Second),
				TargetRate:  1000, AchievedRate: 1000, DurationS: float64(o.windows),
				Requests: int64(1000 * o.windows), ErrorsByClass: map[string]int64{}}
			var p99s []float64
			for w := 0; w < o.windows; w++ {
				v := round3(sp.ms * drift * math.Exp(rng.NormFloat64()*o.noise))
				p99s = append(p99s, v)
				row.Windows = append(row.Windows, results.Sample{
					StartS: float64(w * len(paths)), DurationS: 1, Requests: 1000,
					P50Ms: round3(v / 3), P90Ms: round3(v / 2), P99Ms: v, P999Ms: round3(v * 1.5),
				})
			}
			slices.Sort(p99s)
			m := p99s[len(p99s)/2]
			row.LatencyMs = results.Percentiles{Count: row.Requests, Min: m / 10, Mean: m / 2.5,
				P50: round3(m / 3), P90: round3(m / 2), P99: m, P999: round3(m * 1.5), P9999: m * 2, Max: m * 3}
			row.ServiceTimeMs = row.LatencyMs
			f.Paths = append(f.Paths, row)
		}
	}
	results.SetOverhead(f.Paths)
	return f
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
