package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/meshbench/meshbench/internal/results"
)

// grid is a table before rendering: text and markdown draw the same cells.
type grid struct {
	header []string
	rows   [][]string
	// left is how many leading columns hold names (left aligned); the
	// rest are figures, right aligned so that digits line up, unless
	// textLast makes the last one free text, left aligned too.
	left     int
	textLast bool
	// noHeader leaves the header row out (it still sets the column
	// count), for "name value" tables whose header would only repeat that.
	noHeader bool
}

// runGrid is the full table of one file: a row per path.
func runGrid(f FileReport) grid {
	g := grid{left: 1, header: []string{
		"path", "requests", "rate/target", "errors", "late",
		"p50", "p90", "p99", "p99.9", "max",
		"+p50", "+p99",
		"proxy cpu s", "cpu ms/1k req", "peak rss MB",
	}}
	spread := false
	for _, p := range f.Paths {
		spread = spread || p.P99RangeMs != nil
	}
	if spread {
		g.header = append(g.header[:10:10], append([]string{"p99 trials"}, g.header[10:]...)...)
	}
	for _, p := range f.Paths {
		l := p.LatencyMs
		row := []string{p.Name, fmt.Sprint(p.Requests), num(p.AchievedRate) + "/" + num(p.TargetRate),
			fmt.Sprint(p.Errors), fmt.Sprint(p.Late.Count)}
		if l.Count == 0 {
			row = append(row, "-", "-", "-", "-", "-")
		} else {
			row = append(row, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
		}
		if spread {
			row = append(row, rangeCell(p.P99RangeMs))
		}
		row = append(row, overheadCell(&p, "p50"), overheadCell(&p, "p99"))
		if pu := p.Proxy; pu != nil {
			row = append(row, num(pu.CPUSeconds), one(pu.CPUMsPer1k), one(pu.PeakRSSMB))
		} else {
			row = append(row, "-", "-", "-")
		}
		g.rows = append(g.rows, row)
	}
	return g
}

func rangeCell(r *[2]float64) string {
	if r == nil {
		return "-"
	}
	return ms(r[0]) + "–" + ms(r[1])
}

// comparisonGrid puts hosts in rows and paths in column groups: p50 and p99
// of each path, and for proxied paths their overhead over direct, then the
// host figures that explain a slow row.
func comparisonGrid(r *Report) grid {
	g := grid{left: 2, header: []string{"host", "virtualization"}}
	hasOverhead := map[string]bool{}
	for _, f := range r.Files {
		for _, p := range f.Paths {
			hasOverhead[p.Name] = hasOverhead[p.Name] || hasOverheadCell(&p)
		}
	}
	for _, name := range r.Paths {
		g.header = append(g.header, name+" p50", name+" p99")
		if hasOverhead[name] {
			g.header = append(g.header, name+" +p50", name+" +p99")
		}
	}
	g.header = append(g.header, "steal", "iowait", "worst disk aqu-sz")
	for _, f := range r.Files {
		row := []string{f.Name, virtLabel(f.Host.Virtualization)}
		for _, name := range r.Paths {
			p := findPath(f, name)
			switch {
			case p == nil || p.LatencyMs.Count == 0:
				row = append(row, "-", "-")
			default:
				row = append(row, ms(p.LatencyMs.P50), ms(p.LatencyMs.P99))
			}
			if hasOverhead[name] {
				row = append(row, overheadCell(p, "p50"), overheadCell(p, "p99"))
			}
		}
		h := f.HostStats
		row = append(row, stealCell(h), iowaitCell(h), diskCell(h))
		g.rows = append(g.rows, row)
	}
	return g
}

func findPath(f FileReport, name string) *PathReport {
	for i := range f.Paths {
		if f.Paths[i].Name == name {
			return &f.Paths[i]
		}
	}
	return nil
}

// virtLabel reads the two virtualization layers as a reader would say them.
func virtLabel(v results.Virtualization) string {
	layer := func(s string) string {
		if s == "none" {
			return ""
		}
		return s
	}
	c, h := layer(v.Container), layer(v.Hypervisor)
	switch {
	case c != "" && h != "":
		return c + " on " + h
	case c != "":
		return c
	case h != "":
		return h
	case v.Container == "none" && v.Hypervisor == "none":
		return "bare metal"
	}
	return "unknown"
}

// stealCell never shows an unobservable steal as 0%: a container or a
// kernel without a steal clock would otherwise pass for a quiet host.
func stealCell(h HostSummary) string {
	switch {
	case h.Windows == 0:
		return "not sampled"
	case !h.StealReported:
		return "unreported"
	case h.StealMaxPct > h.StealPct:
		return pct(h.StealPct) + " (max " + pct(h.StealMaxPct) + ")"
	}
	return pct(h.StealPct)
}

func iowaitCell(h HostSummary) string {
	if h.Windows == 0 {
		return "not sampled"
	}
	return pct(h.IowaitPct)
}

func diskCell(h HostSummary) string {
	if h.WorstDisk == "" {
		return "-"
	}
	return fmt.Sprintf("%s %s", h.WorstDisk, num(h.WorstAquSz))
}

// hostLine is the one-line account of the host under a run's table.
func hostLine(f FileReport) string {
	h := f.HostStats
	parts := []string{"virtualization " + virtLabel(f.Host.Virtualization)}
	if h.Windows == 0 {
		parts = append(parts, "host statistics not sampled")
	} else {
		steal := "steal unreported"
		switch {
		case !h.StealReported && h.StealWhy != "":
			steal += " (" + h.StealWhy + ")"
		case h.StealReported:
			steal = "steal " + pct(h.StealPct) + " (worst interval " + pct(h.StealMaxPct) + ")"
		}
		parts = append(parts, steal, "iowait "+pct(h.IowaitPct))
	}
	if h.WorstDisk != "" {
		kind := ""
		if h.WorstDiskKind != "" {
			kind = " (" + h.WorstDiskKind + ")"
		}
		parts = append(parts, fmt.Sprintf("worst disk %s%s aqu-sz %s", h.WorstDisk, kind, num(h.WorstAquSz)))
	}
	return strings.Join(parts, " · ")
}

// runTitle names the run: host, tool, when, and the load it was under.
func runTitle(f FileReport) string {
	parts := []string{f.Name}
	if f.Host.Cores > 0 {
		parts = append(parts, fmt.Sprintf("%d cores", f.Host.Cores))
	}
	if f.Host.CPUModel != "" {
		parts = append(parts, f.Host.CPUModel)
	}
	if !f.StartedAt.IsZero() {
		parts = append(parts, f.StartedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if l := loadLabel(f.Load); l != "" {
		parts = append(parts, l)
	}
	return strings.Join(parts, " · ")
}

func loadLabel(l Load) string {
	var parts []string
	if len(l.Sweep) > 0 || l.RPS > 0 {
		parts = append(parts, strings.Replace(rateLabel(l), "/s", " req/s", 1))
	}
	if l.Duration != "" {
		s := l.Duration + " per path"
		if l.Trials > 1 {
			s += fmt.Sprintf(" × %d trials", l.Trials)
		}
		parts = append(parts, s)
	}
	if l.Payload != nil {
		parts = append(parts, fmt.Sprintf("%d B payload", *l.Payload))
	}
	if l.BackendDelay != "" && l.BackendDelay != "0s" {
		parts = append(parts, l.BackendDelay+" backend delay")
	}
	return strings.Join(parts, ", ")
}

const legend = "latency: response time from the intended send, ms; +pNN: overhead over direct at that percentile, ms, with its 95% interval [lo, hi] from paired windows ((n=N): too few windows for one)"

// writeTable is the terminal view: the run table for one file, the
// comparison for several.
func writeTable(w io.Writer, r *Report, _ Options) error {
	var b strings.Builder
	if len(r.Files) == 1 {
		f := r.Files[0]
		fmt.Fprintln(&b, termText(runTitle(f)))
		fmt.Fprintln(&b)
		if err := renderText(&b, runGrid(f)); err != nil {
			return err
		}
		fmt.Fprintln(&b, legend)
		if nl := noiseLine(f); nl != "" {
			fmt.Fprintln(&b, nl)
		}
		if err := writeSectionsText(&b, r); err != nil {
			return err
		}
		fmt.Fprintln(&b, "host: "+termText(hostLine(f)))
		writeList(&b, "warnings", f.Warnings)
		writeList(&b, "notes", f.Notes)
	} else {
		for _, wn := range r.Warnings {
			fmt.Fprintln(&b, "warning: "+termText(wn))
		}
		if err := renderText(&b, comparisonGrid(r)); err != nil {
			return err
		}
		fmt.Fprintln(&b, legend)
		if err := writeSectionsText(&b, r); err != nil {
			return err
		}
		var warns, notes []string
		for _, f := range r.Files {
			if nl := noiseLine(f); nl != "" {
				notes = append(notes, f.Name+": "+nl)
			}
			for _, wn := range f.Warnings {
				warns = append(warns, f.Name+": "+wn)
			}
			for _, n := range f.Notes {
				notes = append(notes, f.Name+": "+n)
			}
		}
		writeList(&b, "warnings", warns)
		writeList(&b, "notes", notes)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintln(b, title+":")
	for _, it := range items {
		fmt.Fprintln(b, "  - "+termText(it))
	}
}

func aligns(g grid) []tw.Align {
	a := make([]tw.Align, len(g.header))
	for i := range a {
		a[i] = tw.AlignRight
		if i < g.left || (g.textLast && i == len(a)-1) {
			a[i] = tw.AlignLeft
		}
	}
	return a
}

// renderText draws g without borders, the way ps and kubectl print: it
// copies and greps better than box drawing. Cells are escaped for the
// terminal (termText).
func renderText(b *strings.Builder, g grid) error {
	g.header = escapeAll(g.header, termText)
	rows := make([][]string, len(g.rows))
	for i, row := range g.rows {
		rows[i] = escapeAll(row, termText)
	}
	g.rows = rows
	var out strings.Builder
	t := tablewriter.NewTable(&out,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithAlignment(aligns(g)),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	var plain strings.Builder
	if err := renderGrid(t, g, &out, &plain); err != nil {
		return err
	}
	// tablewriter pads the first column on the left too; drop that margin.
	for _, line := range strings.SplitAfter(plain.String(), "\n") {
		b.WriteString(strings.TrimPrefix(line, " "))
	}
	return nil
}

func renderGrid(t *tablewriter.Table, g grid, out *strings.Builder, b *strings.Builder) error {
	if !g.noHeader {
		t.Header(toAny(g.header)...)
	}
	for _, row := range g.rows {
		if err := t.Append(toAny(row)...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	b.WriteString(trimLines(out.String()))
	return nil
}

// escapeAll is esc applied to a copy of cells.
func escapeAll(cells []string, esc func(string) string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = esc(c)
	}
	return out
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
