package report

import (
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/meshbench/meshbench/internal/results"
)

func TestWrapText(t *testing.T) {
	t.Parallel()
	sty := plot.New().Title.TextStyle
	title := "Response time over the measured window, linkerd-mtls on a-rather-long-host-name@2026-11-23T03:20Z"
	wrapped := wrapText(title, sty.Width, 8*vg.Centimeter)
	lines := strings.Split(wrapped, "\n")
	if len(lines) < 2 || strings.Join(strings.Fields(wrapped), " ") != title {
		t.Fatalf("wrapped %q", wrapped)
	}
	for _, l := range lines {
		if w := sty.Width(l); w > 8*vg.Centimeter && strings.Contains(l, " ") {
			t.Errorf("line %q is %v wide", l, w)
		}
	}
	if got := wrapText("short", sty.Width, 8*vg.Centimeter); got != "short" {
		t.Errorf("short title changed: %q", got)
	}
}

// TestChartLayout draws every chart of two real runs, one with a long
// name, and checks that the legend sits beside the data, not on it, that
// every title line fits the chart, and that nothing leaves the canvas.
func TestChartLayout(t *testing.T) {
	t.Parallel()
	var files []*results.File
	for _, n := range []string{"kvm-nvme.json", "openvz-sata.json"} {
		f, err := results.Read("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	r, err := Build(files, []string{"kvm", "a-very-long-name-for-an-openvz-container-host-in-frankfurt"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range plotFiles(r) {
		p, err := pf.draw(r)
		if err != nil {
			t.Fatal(err)
		}
		_, lay, err := renderChart(p)
		if err != nil {
			t.Fatal(err)
		}
		d, l := lay.data, lay.legend
		if l.Size().X <= 0 || l.Min.X < d.Max.X || l.Max.X > chartWidth || d.Min.X < 0 {
			t.Errorf("%s: legend %v, data %v", pf.name, l, d)
		}
		for _, line := range strings.Split(p.Title.Text, "\n") {
			if w := p.Title.TextStyle.Width(line); w > d.Max.X {
				t.Errorf("%s: title line %q is %v wide, the plot %v", pf.name, line, w, d.Max.X)
			}
		}
	}
}

func TestYScale(t *testing.T) {
	t.Parallel()
	// A median of 0.05 ms under a 9 ms tail: logarithmic, from 0.05.
	p := plot.New()
	p.Y.Label.Text = "response time (ms)"
	setYScale(p, []float64{0.05, 0.08, 0.4, 9})
	if _, ok := p.Y.Scale.(plot.LogScale); !ok || p.Y.Min != 0.05 || p.Y.Label.Text != "response time (ms, log scale)" {
		t.Errorf("wide range: scale %T min %v label %q", p.Y.Scale, p.Y.Min, p.Y.Label.Text)
	}
	var labels []string
	for _, tk := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "0.05 0.1 0.2 0.5 1 2 5 10" {
		t.Errorf("ticks %q", got)
	}
	// Within a factor of 20: linear from zero.
	p = plot.New()
	setYScale(p, []float64{0.3, 1.2, 4})
	if _, ok := p.Y.Scale.(plot.LogScale); ok || p.Y.Min != 0 || p.Y.Max < 4 {
		t.Errorf("narrow range: scale %T min %v max %v", p.Y.Scale, p.Y.Min, p.Y.Max)
	}
	for v, want := range map[float64]float64{0.095: 0.05, 0.022: 0.02, 7: 5, 1: 1, 300: 200} {
		if got := niceBelow(v); got != want {
			t.Errorf("niceBelow(%v) = %v, want %v", v, got, want)
		}
	}
}
