package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/meshbench/meshbench/internal/results"
)

// plotFile is one chart: which file (and path, for time charts) it draws.
type plotFile struct {
	name, title string
	file        int
	// path is the path of a timeline chart; -1 for a chart of the whole
	// file: the percentile spectrum, or with sweep set the latency
	// against throughput of a rate sweep.
	path  int
	sweep bool
}

// draw makes the chart pf of r.
func (pf plotFile) draw(r *Report) (*plot.Plot, error) {
	f := r.Files[pf.file]
	switch {
	case pf.sweep:
		return sweepPlot(f, pf.title)
	case pf.path < 0:
		return spectrumPlot(f, pf.title)
	}
	return timelinePlot(f.Paths[pf.path], pf.title)
}

// plotFiles lists the charts WritePlots draws, in a fixed order; markdown
// links the same list, so the names agree without a directory listing.
// Names from the file are escaped (termText): a control character is not
// allowed in XML, and would make the SVG unreadable.
func plotFiles(r *Report) []plotFile {
	var out []plotFile
	for fi, f := range r.Files {
		hasHist := false
		for _, p := range f.Paths {
			hasHist = hasHist || p.Histogram != ""
		}
		if hasHist {
			out = append(out, plotFile{
				name:  fileSafe(f.Name) + "-spectrum.svg",
				title: "Response time by percentile, " + termText(f.Name),
				file:  fi, path: -1,
			})
		}
		if names, series := sweepSeries(f); hasSweepLine(names, series) {
			out = append(out, plotFile{
				name:  fileSafe(f.Name) + "-throughput.svg",
				title: "Response time against throughput over the sweep, " + termText(f.Name),
				file:  fi, path: -1, sweep: true,
			})
		}
		for pi, p := range f.Paths {
			if !hasTimeline(p) {
				continue
			}
			out = append(out, plotFile{
				name:  fileSafe(f.Name) + "-" + fileSafe(p.Name) + "-timeline.svg",
				title: "Response time over the measured window, " + termText(p.Name) + " on " + termText(f.Name),
				file:  fi, path: pi,
			})
		}
	}
	return out
}

func hasTimeline(p PathReport) bool {
	for _, run := range p.Runs {
		if len(run.Timeline) > 0 {
			return true
		}
	}
	return false
}

// WritePlots draws the SVG charts of r into dir (created if needed): per
// file a percentile spectrum with one line per path and, for a rate sweep,
// p50 and p99 against the achieved rate; per path its p50 and p99 over
// time. It returns the files written.
func WritePlots(dir string, r *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, pf := range plotFiles(r) {
		p, err := pf.draw(r)
		if err != nil {
			return written, fmt.Errorf("%s: %w", pf.name, err)
		}
		svg, _, err := renderChart(p)
		if err != nil {
			return written, err
		}
		dest := filepath.Join(dir, pf.name)
		if err := results.WriteFileAtomic(dest, svg); err != nil {
			return written, err
		}
		written = append(written, dest)
	}
	return written, nil
}

// spectrumTicks place percentiles on an x axis of 1/(1-p): each further
// nine gets the same width, so the tail is as visible as the median.
var spectrumTicks = plot.ConstantTicks{
	{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
	{Value: 100, Label: "99%"}, {Value: 1000, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"},
	{Value: 1e5, Label: "99.999%"},
}

func spectrumPlot(f FileReport, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "response time (ms)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = spectrumTicks
	p.Add(plotter.NewGrid())
	xMax := 1.0
	var ys []float64
	for i, path := range f.Paths {
		if path.Histogram == "" {
			continue
		}
		h, err := results.DecodeHistogram(path.Histogram)
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", path.Name, err)
		}
		if h.TotalCount() == 0 {
			continue
		}
		// Beyond 1/count the histogram has nothing more to say than its max.
		top := math.Min(1e5, math.Max(10, float64(h.TotalCount())))
		xMax = math.Max(xMax, top)
		const steps = 200
		pts := make(plotter.XYs, 0, steps+1)
		for s := 0; s <= steps; s++ {
			x := math.Pow(top, float64(s)/steps)
			q := 100 * (1 - 1/x)
			pts = append(pts, plotter.XY{X: x, Y: float64(h.ValueAtQuantile(q)) / 1e6})
			ys = append(ys, pts[len(pts)-1].Y)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(termText(path.Name), line)
	}
	p.X.Min, p.X.Max = 1, xMax
	setYScale(p, ys)
	return p, nil
}

func timelinePlot(path PathReport, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time in the measured window (s)"
	p.Y.Label.Text = "response time (ms)"
	p.Add(plotter.NewGrid())
	var ys []float64
	for i, run := range path.Runs {
		suffix := ""
		if len(path.Runs) > 1 {
			suffix = fmt.Sprintf(", trial %d", run.Trial)
		}
		var p50, p99 plotter.XYs
		for _, iv := range run.Timeline {
			// An empty second has no latency; plotting 0 would draw a
			// dip where there was an outage.
			if iv.Requests == 0 {
				continue
			}
			p50 = append(p50, plotter.XY{X: iv.StartS, Y: iv.P50Ms})
			p99 = append(p99, plotter.XY{X: iv.StartS, Y: iv.P99Ms})
		}
		if len(p50) == 0 {
			continue
		}
		for k, series := range []struct {
			name string
			pts  plotter.XYs
		}{{"p99", p99}, {"p50", p50}} {
			line, err := plotter.NewLine(series.pts)
			if err != nil {
				return nil, err
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			if k == 1 {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				line.Width = vg.Points(1)
			}
			p.Add(line)
			p.Legend.Add(series.name+suffix, line)
			for _, pt := range series.pts {
				ys = append(ys, pt.Y)
			}
		}
	}
	setYScale(p, ys)
	return p, nil
}

// fileSafe turns a label into a file name part: letters, digits, dot, dash.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
	if s == "" || s[0] == '.' {
		s = "_" + s
	}
	return s
}
