package report

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart size and the room around the legend.
const (
	chartWidth  = 18 * vg.Centimeter
	chartHeight = 10 * vg.Centimeter
	legendGap   = 4 * vg.Millimeter
	// logSpan is how many times the largest value must exceed the smallest
	// for the y axis to go logarithmic: beyond it a linear axis squashes
	// the low values (the median, under a tail ten times higher) into a
	// flat line at the bottom.
	logSpan = 20
)

// chartLayout is where renderChart puts the parts of a chart.
type chartLayout struct {
	// data is the area the lines are drawn in, legend the legend's box;
	// they do not overlap.
	data, legend vg.Rectangle
}

// renderChart draws p as SVG: the title wrapped to the plot's width, the
// legend in a column right of the axes, never over the data. p.Legend
// holds the entries; it is emptied and drawn separately, as is the y
// label (p.Y.Label).
//
// Text is measured with the chart's font, Liberation Serif, but a viewer
// without it draws a wider one (DejaVu Serif on most Linux desktops), so
// the legend gets a quarter more room than measured and the title wraps
// at 85% of the width.
func renderChart(p *plot.Plot) ([]byte, chartLayout, error) {
	c := vgsvg.New(chartWidth, chartHeight)
	dc := draw.New(c)
	leg := p.Legend
	p.Legend = plot.NewLegend()
	leg.TextStyle.Font.Size = vg.Points(10)
	// Entries are spaced by their text's height above the baseline; a
	// third of the font size more keeps the lines from touching.
	leg.Padding = vg.Points(3.5)
	leg.Top, leg.Left = true, true

	plotArea := dc
	legendWidth := leg.Rectangle(dc).Size().X * 5 / 4
	if legendWidth > 0 {
		plotArea = draw.Crop(dc, 0, -(legendWidth + legendGap), 0, 0)
	}
	// gonum reserves room for the y label around the arithmetic middle of
	// the axis range, which on a log axis lies near the top, and shrinks
	// the plot to fit it there: the label is drawn here instead, beside
	// the middle of the data area.
	ylabel, lsty := p.Y.Label.Text, p.Y.Label.TextStyle
	p.Y.Label.Text = ""
	descent := lsty.FontExtents().Descent
	if ylabel != "" {
		plotArea = draw.Crop(plotArea, lsty.Height(ylabel)+descent+p.Y.Label.Padding, 0, 0, 0)
	}
	p.Title.Text = wrapText(p.Title.Text, p.Title.TextStyle.Width, plotArea.Size().X*85/100)

	data := p.DataCanvas(plotArea)
	lay := chartLayout{data: data.Rectangle}
	if legendWidth > 0 {
		legC := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: plotArea.Max.X + legendGap, Y: data.Min.Y},
			Max: vg.Point{X: dc.Max.X, Y: data.Max.Y},
		}}
		leg.Draw(legC)
		// Rectangle puts a left legend at the right end of its canvas;
		// Draw starts it at the left, which is where it is.
		r := leg.Rectangle(legC)
		lay.legend = r.Add(vg.Point{X: legC.Min.X - r.Min.X})
	}
	if ylabel != "" {
		sty := lsty
		sty.Rotation += math.Pi / 2
		dc.FillText(sty, vg.Point{X: dc.Min.X + lsty.Height(ylabel) - descent, Y: (data.Min.Y + data.Max.Y) / 2}, ylabel)
	}
	p.Draw(plotArea)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, lay, err
	}
	return buf.Bytes(), lay, nil
}

// wrapText breaks text into lines no wider than width (as measured by
// measure), at spaces, keeping any one word whole.
func wrapText(text string, measure func(string) vg.Length, width vg.Length) string {
	if measure(text) <= width {
		return text
	}
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case measure(line+" "+w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return strings.Join(append(lines, line), "\n")
}

// setYScale picks the y axis for values: logarithmic with 1-2-5 ticks when
// the positive values span more than logSpan, so that a median and a tail
// ten times higher both read; otherwise linear from zero with a little
// headroom over the highest value.
func setYScale(p *plot.Plot, values []float64) { setScale(&p.Y, values) }

// setScale picks ax's scale for values, as setYScale says.
func setScale(ax *plot.Axis, values []float64) {
	lo, hi := math.Inf(1), 0.0
	for _, v := range values {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		ax.Min = 0
		return
	}
	if hi/lo <= logSpan {
		ax.Min, ax.Max = 0, hi*1.05
		return
	}
	ax.Scale = plot.LogScale{}
	ax.Tick.Marker = logTicks{}
	ax.Min = niceBelow(lo)
	ax.Max = hi * 1.2
	if !strings.Contains(ax.Label.Text, "log scale") {
		ax.Label.Text = strings.TrimSuffix(ax.Label.Text, ")") + ", log scale)"
	}
}

// niceBelow is the largest 1, 2 or 5 times a power of ten at or below v
// (v > 0): where a log axis starts, so that it wastes no decade.
func niceBelow(v float64) float64 {
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*base <= v {
			return m * base
		}
	}
	return base
}

// logTicks label 1, 2 and 5 of each decade (only 1 when the axis spans
// more than four decades, so labels do not crowd) and mark the rest.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	decades := math.Log10(hi / lo)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * base
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades <= 4 && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
