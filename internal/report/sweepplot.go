package report

import (
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/meshbench/meshbench/internal/results"
)

// sweepPoint is one step of a path in a rate sweep.
type sweepPoint struct {
	target, achieved, p50, p99 float64
	// knee marks the step at the path's knee.
	knee bool
}

// sweepSeries groups a file's sweep entries by path, in the order paths
// first appear, each path's steps by target rate. A path's entries are
// known by their summary (name and step), or in files without one by
// their PATH@RATErps name. The A/A path is left out: it is direct again.
func sweepSeries(f FileReport) ([]string, map[string][]sweepPoint) {
	var names []string
	series := map[string][]sweepPoint{}
	for _, p := range f.Paths {
		name := ""
		switch {
		case p.Summary != nil && p.Summary.Step > 0:
			name = p.Summary.Name
		case len(f.Load.Sweep) > 0 && strings.Contains(p.Name, "@"):
			name = p.Name[:strings.LastIndex(p.Name, "@")]
		}
		if name == "" || name == results.AAName || p.LatencyMs.Count == 0 {
			continue
		}
		if _, ok := series[name]; !ok {
			names = append(names, name)
		}
		pt := sweepPoint{target: p.TargetRate, achieved: p.AchievedRate, p50: p.LatencyMs.P50, p99: p.LatencyMs.P99}
		if s := p.Summary; s != nil && s.Knee != nil && s.Knee.Rate > 0 && s.Knee.Rate == p.TargetRate {
			pt.knee = true
		}
		series[name] = append(series[name], pt)
	}
	for _, pts := range series {
		slices.SortFunc(pts, func(a, b sweepPoint) int {
			switch {
			case a.target < b.target:
				return -1
			case a.target > b.target:
				return 1
			}
			return 0
		})
	}
	return names, series
}

// hasSweepLine reports whether some path has two steps or more: a line.
func hasSweepLine(names []string, series map[string][]sweepPoint) bool {
	for _, n := range names {
		if len(series[n]) > 1 {
			return true
		}
	}
	return false
}

// sweepPlot draws each path's p99 (solid) and p50 (dashed) against the
// rate it achieved at each step of the sweep, with a ring on the p99 line
// at its knee. Both axes go logarithmic when their values span decades.
func sweepPlot(f FileReport, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "achieved rate (requests/s)"
	p.Y.Label.Text = "response time (ms)"
	p.Add(plotter.NewGrid())
	names, series := sweepSeries(f)
	var xs, ys []float64
	for i, name := range names {
		pts := series[name]
		var p50, p99, knee plotter.XYs
		for _, pt := range pts {
			p50 = append(p50, plotter.XY{X: pt.achieved, Y: pt.p50})
			p99 = append(p99, plotter.XY{X: pt.achieved, Y: pt.p99})
			xs = append(xs, pt.achieved)
			ys = append(ys, pt.p50, pt.p99)
			if pt.knee {
				knee = append(knee, plotter.XY{X: pt.achieved, Y: pt.p99})
			}
		}
		label := termText(name)
		for k, line := range []struct {
			name string
			pts  plotter.XYs
		}{{"p99", p99}, {"p50", p50}} {
			l, s, err := plotter.NewLinePoints(line.pts)
			if err != nil {
				return nil, err
			}
			l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
			l.Width = vg.Points(1.5)
			s.Shape = draw.CircleGlyph{}
			s.Radius = vg.Points(1.5)
			if k == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				l.Width = vg.Points(1)
			}
			p.Add(l, s)
			p.Legend.Add(label+" "+line.name, l, s)
		}
		if len(knee) > 0 {
			sc, err := plotter.NewScatter(knee)
			if err != nil {
				return nil, err
			}
			sc.Color = plotutil.Color(i)
			sc.Shape = draw.RingGlyph{}
			sc.Radius = vg.Points(5)
			p.Add(sc)
			p.Legend.Add(fmt.Sprintf("%s knee %s/s", label, num(pointTarget(pts))), sc)
		}
	}
	setScale(&p.X, xs)
	setYScale(p, ys)
	return p, nil
}

// pointTarget is the target rate of the knee's step.
func pointTarget(pts []sweepPoint) float64 {
	for _, pt := range pts {
		if pt.knee {
			return pt.target
		}
	}
	return 0
}
