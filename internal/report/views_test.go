package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

func render(t *testing.T, r *report.Report, format string, o report.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r, format, o); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return buf.Bytes()
}

// The interval log reads back with HdrHistogram's own reader: one interval
// per path and trial, tagged host/path, each with the trial's counts, laid
// end to end from the run's start.
func TestHlogReadsBack(t *testing.T) {
	t.Parallel()
	r := build(t, "kvm-nvme.json", "openvz-sata.json", "bare-metal.json")
	log := render(t, r, "hlog", report.Options{})
	rd := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	counts := map[string]int64{}
	intervals := 0
	var lastEnd int64
	for {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		intervals++
		counts[h.Tag()] += h.TotalCount()
		if h.Tag() == "vps-kvm-nvme/direct" && h.EndTimeMs()-h.StartTimeMs() != 10000 {
			t.Errorf("interval %d..%d ms, want 10 s", h.StartTimeMs(), h.EndTimeMs())
		}
		if strings.HasPrefix(h.Tag(), "vps-kvm-nvme/") {
			if lastEnd != 0 && h.StartTimeMs() != lastEnd {
				t.Errorf("%s starts at %d, previous window ended at %d", h.Tag(), h.StartTimeMs(), lastEnd)
			}
			lastEnd = h.EndTimeMs()
		}
	}
	if intervals != 3*3+3+3 {
		t.Errorf("%d intervals, want 15", intervals)
	}
	if counts["vps-kvm-nvme/haproxy"] != 30000 || counts["dedi-ryzen/linkerd"] != 10000 {
		t.Errorf("counts %v", counts)
	}
	if start := r.Files[0].StartedAt.UnixMilli(); lastEnd != start+90000 {
		t.Errorf("kvm windows end at %d, want start+90 s", lastEnd)
	}
	// Interval_Max is in ms (the writer's ns→ms divisor), not ns.
	line := regexp.MustCompile(`(?m)^Tag=vps-openvz-sata/linkerd,[0-9.]+,[0-9.]+,([0-9.]+),HISTF`).FindSubmatch(log)
	wantMax := r.Files[1].Paths[2].LatencyMs.Max
	if line == nil {
		t.Fatal("no openvz linkerd interval")
	}
	if got, _ := strconv.ParseFloat(string(line[1]), 64); math.Abs(got-wantMax) > 0.01*wantMax {
		t.Errorf("openvz linkerd interval max %s, want about %v ms", line[1], wantMax)
	}
	// One file: tags are bare path names.
	single := render(t, build(t, "bare-metal.json"), "hlog", report.Options{})
	if !bytes.Contains(single, []byte("\nTag=haproxy,")) {
		t.Errorf("single-file tags:\n%s", single[:400])
	}
}

func TestCSVRows(t *testing.T) {
	t.Parallel()
	r := build(t, "kvm-nvme.json", "openvz-sata.json", "bare-metal.json")
	rows, err := csv.NewReader(bytes.NewReader(render(t, r, "csv", report.Options{}))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+3*3*8 {
		t.Fatalf("%d rows, want a header and 3 hosts × 3 paths × 8 percentiles", len(rows))
	}
	for _, row := range rows[1:] {
		if row[2] == "direct" && row[8] != "" {
			t.Errorf("direct has an overhead: %v", row)
		}
		if row[2] == "haproxy" && row[5] == "p99" && row[8] == "" {
			t.Errorf("haproxy p99 without overhead: %v", row)
		}
	}
}

// SMP latencies are in milliseconds, as the specification says.
func TestSMPMilliseconds(t *testing.T) {
	t.Parallel()
	r := build(t, "kvm-nvme.json")
	var docs []struct {
		ID          string             `json:"id"`
		LatenciesMs map[string]float64 `json:"latenciesMs"`
		ActualQPS   float64            `json:"actualQPS"`
		StartTime   string             `json:"startTime"`
	}
	if err := json.Unmarshal(render(t, r, "smp", report.Options{}), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d results", len(docs))
	}
	hp := docs[1]
	want := r.Files[0].Paths[1].LatencyMs
	if hp.ID != "vps-kvm-nvme/haproxy" || hp.LatenciesMs["p99"] != want.P99 || hp.LatenciesMs["average"] != want.Mean {
		t.Errorf("haproxy: %+v, want p99 %v", hp, want.P99)
	}
	if hp.LatenciesMs["p50"] > 10 || hp.ActualQPS < 999 || hp.StartTime != "2026-11-20T10:30:00Z" {
		t.Errorf("haproxy: %+v", hp)
	}
}

// The charts are well-formed SVG with labelled axes, a legend entry per path
// and one drawn line per path; markdown links exactly the files written.
func TestPlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := build(t, "kvm-nvme.json", "openvz-sata.json")
	written, err := report.WritePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	// Per file a spectrum and one time chart per path.
	if len(written) != 2*(1+3) {
		t.Fatalf("wrote %v", written)
	}
	for _, p := range written {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		texts := svgTexts(t, data)
		all := strings.Join(texts, "|")
		if !strings.Contains(all, "response time (ms") {
			t.Errorf("%s: no y axis label in %q", p, all)
		}
		if strings.HasSuffix(p, "-spectrum.svg") {
			for _, want := range []string{"percentile", "50%", "99%", "99.9%", "99.99%", "direct", "haproxy", "linkerd"} {
				if !contains(texts, want) {
					t.Errorf("%s: no text %q in %q", p, want, all)
				}
			}
			if n := longLines(data); n != 3 {
				t.Errorf("%s: %d drawn lines, want one per path (3)", p, n)
			}
		} else if !strings.Contains(all, "time in the measured window (s)") || !strings.Contains(all, "p99") {
			t.Errorf("%s: texts %q", p, all)
		}
	}
	md := string(render(t, r, "markdown", report.Options{PlotsDir: "charts"}))
	links := regexp.MustCompile(`!\[[^\]]*\]\(charts/([^)]+)\)`).FindAllStringSubmatch(md, -1)
	if len(links) != len(written) {
		t.Fatalf("markdown links %d charts, %d written", len(links), len(written))
	}
	for i, l := range links {
		if l[1] != filepath.Base(written[i]) {
			t.Errorf("link %q, file %q", l[1], written[i])
		}
	}
}

func svgTexts(t *testing.T, data []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return texts
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			inText = v.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(v)))
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// longLines counts SVG paths with many segments: the data lines, not the
// axes, ticks, grid or legend swatches.
func longLines(data []byte) int {
	n := 0
	for _, m := range regexp.MustCompile(`<path d="([^"]*)"`).FindAllSubmatch(data, -1) {
		if bytes.Count(m[1], []byte("L")) > 100 {
			n++
		}
	}
	return n
}

// With window start times in the file, each interval sits where its window
// really was, warm-ups and path start-ups between them included.
func TestHlogWindowStarts(t *testing.T) {
	t.Parallel()
	files := load(t, "bare-metal.json")
	f := files[0]
	want := map[string]int64{}
	for i := range f.Paths {
		// 12.5 s apart: a 10 s window, a 2 s warm-up and a path start-up.
		f.Paths[i].WindowStart = f.StartedAt.Add(time.Duration(i)*12500*time.Millisecond + 3*time.Second)
		want[f.Paths[i].Name] = f.Paths[i].WindowStart.UnixMilli()
	}
	r, err := report.Build(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := render(t, r, "hlog", report.Options{})
	if bytes.Contains(log, []byte("end to end")) {
		t.Errorf("the log says its windows are laid end to end, but their starts are known")
	}
	rd := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	n := 0
	for {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		n++
		if got := h.StartTimeMs(); got != want[h.Tag()] {
			t.Errorf("%s starts at %d, want %d", h.Tag(), got, want[h.Tag()])
		}
	}
	if n != len(f.Paths) {
		t.Errorf("%d intervals for %d paths", n, len(f.Paths))
	}
}

// In a rate sweep each (path, step) is a row that keeps its own windows:
// their timelines, histograms and host figures.
func TestSweepRows(t *testing.T) {
	t.Parallel()
	f := load(t, "bare-metal.json")[0]
	var ps []results.Path
	for step, rate := range []float64{500, 2000} {
		for _, p := range f.Paths {
			p.Step, p.TargetRate = step+1, rate
			ps = append(ps, p)
		}
	}
	f.Paths = ps
	r, err := report.Build([]*results.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := r.Files[0].Paths
	if len(rows) != len(ps) {
		t.Fatalf("%d rows for %d windows", len(rows), len(ps))
	}
	for _, p := range rows {
		if !strings.Contains(p.Name, "@") || len(p.Runs) != 1 || p.HostStats.Windows != 1 {
			t.Errorf("%s: %d runs, %d host windows", p.Name, len(p.Runs), p.HostStats.Windows)
		}
	}
	if r.Files[0].HostStats.Windows != len(ps) {
		t.Errorf("host summary over %d windows, want %d", r.Files[0].HostStats.Windows, len(ps))
	}
}
