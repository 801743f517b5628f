package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/meshbench/meshbench/internal/results"
)

// writeMarkdown is the report meant to be read: a summary in sentences, the
// comparison or run table, percentile tables per run, the hosts and their
// verdicts, warnings, charts when they were drawn, and the scenarios as run,
// so that the document alone is enough to reproduce the measurement.
func writeMarkdown(w io.Writer, r *Report, o Options) error {
	var b strings.Builder
	single := len(r.Files) == 1
	if single {
		fmt.Fprintf(&b, "# meshbench report: %s\n\n", mdText(r.Files[0].Name))
	} else {
		fmt.Fprintf(&b, "# meshbench comparison: %d hosts\n\n", len(r.Files))
	}

	b.WriteString("## Summary\n\n")
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "> **Warning:** %s\n\n", mdText(wn))
	}
	for _, f := range r.Files {
		for _, s := range summaryLines(f, single) {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	b.WriteString("\n")

	if single {
		f := r.Files[0]
		b.WriteString("## Results\n\n")
		fmt.Fprintf(&b, "%s.\n\n", mdText(runTitle(f)))
		if err := renderMarkdown(&b, runGrid(f)); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n%s. Rate is achieved/target requests per second; proxy CPU is over all trials.\n\n", capitalize(legend))
		fmt.Fprintf(&b, "Host: %s.\n\n", mdText(hostLine(f)))
	} else {
		b.WriteString("## Comparison\n\n")
		if err := renderMarkdown(&b, comparisonGrid(r)); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n%s. Steal and iowait are averaged over every measured window; the disk is the one with the longest average queue.\n\n", capitalize(legend))
	}

	if err := writeSectionsMarkdown(&b, r); err != nil {
		return err
	}

	b.WriteString("## Percentiles\n\n")
	b.WriteString("Response time in ms over all trials (HDR histograms merged); `+` columns are the overhead over direct.\n\n")
	for _, f := range r.Files {
		if !single {
			fmt.Fprintf(&b, "### %s\n\n", mdText(f.Name))
		}
		if err := renderMarkdown(&b, percentileGrid(f)); err != nil {
			return err
		}
		b.WriteString("\n")
	}

	if o.PlotsDir != "" {
		b.WriteString("## Charts\n\n")
		for _, pl := range plotFiles(r) {
			fmt.Fprintf(&b, "![%s](%s)\n\n", mdText(pl.title), path.Join(o.PlotsDir, pl.name))
		}
	}

	b.WriteString("## Host quality\n\n")
	for _, f := range r.Files {
		if err := writeHostSection(&b, f, single); err != nil {
			return err
		}
	}

	if warnings := allWarnings(r); len(warnings) > 0 {
		b.WriteString("## Warnings and notes\n\n")
		for _, wn := range warnings {
			fmt.Fprintf(&b, "- %s\n", mdText(wn))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Scenario as run\n\n")
	for _, f := range r.Files {
		if !single {
			fmt.Fprintf(&b, "### %s\n\n", mdText(f.Name))
		}
		if len(f.Scenario) == 0 {
			b.WriteString("The result file holds no scenario.\n\n")
			continue
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, f.Scenario, "", "  "); err != nil {
			pretty.Reset()
			pretty.Write(f.Scenario)
		}
		text := string(jsonSafe([]byte(strings.TrimSpace(pretty.String()))))
		fence := mdFence(text)
		fmt.Fprintf(&b, "%sjson\n%s\n%s\n\n", fence, text, fence)
	}

	b.WriteString("---\n\n")
	for _, f := range r.Files {
		tool := f.Tool.Name
		if tool == "" {
			tool = "meshbench"
		}
		line := fmt.Sprintf("%s: measured with %s %s", f.Name, tool, f.Tool.Version)
		if f.Tool.GoVersion != "" {
			line += " (" + f.Tool.GoVersion + ")"
		}
		if !f.StartedAt.IsZero() {
			line += ", " + f.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		fmt.Fprintf(&b, "%s.  \n", mdText(line))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summaryLines says in words what the tables show: per proxied path, what it
// adds over direct, and whether the host can be trusted.
func summaryLines(f FileReport, single bool) []string {
	var out []string
	prefix := ""
	if !single {
		prefix = "**" + mdText(f.Name) + "** — "
	}
	for _, p := range f.Paths {
		if !hasOverheadCell(&p) {
			continue
		}
		// With intervals, an overhead whose interval holds 0 reads "within
		// noise"; without, signed: a proxy that comes out faster than direct
		// at some percentile is noise, and the reader should see it as such.
		s := fmt.Sprintf("%s%s: %s ms at p50 and %s ms at p99 over direct",
			prefix, mdCode(p.Name), overheadCell(&p, "p50"), overheadCell(&p, "p99"))
		if p.Proxy != nil && p.Proxy.CPUMsPer1k > 0 {
			s += fmt.Sprintf(", for %s ms of proxy CPU per 1000 requests", one(p.Proxy.CPUMsPer1k))
		}
		out = append(out, s+".")
	}
	h := f.HostStats
	switch {
	case h.Windows == 0:
		out = append(out, prefix+"host statistics were not sampled during the run.")
	case !h.StealReported:
		out = append(out, prefix+"CPU steal is **unreported** on this host: a noisy neighbour would go unseen.")
	case h.StealPct > 5:
		out = append(out, fmt.Sprintf("%sCPU steal averaged **%s**: neighbours took CPU time during the measurement.", prefix, pct(h.StealPct)))
	}
	if nl := noiseLine(f); nl != "" {
		out = append(out, prefix+mdText(nl)+".")
	}
	if n := len(f.Warnings); n > 0 {
		out = append(out, fmt.Sprintf("%s%d warning(s), listed under Warnings and notes.", prefix, n))
	}
	return out
}

// percentileGrid has a row per percentile and a column per path, with each
// proxied path's overhead beside it.
func percentileGrid(f FileReport) grid {
	g := grid{left: 1, header: []string{"percentile"}}
	for _, p := range f.Paths {
		g.header = append(g.header, p.Name)
		if p.OverheadMs != nil {
			g.header = append(g.header, p.Name+" +")
		}
	}
	type row struct {
		name string
		lat  func(results.Percentiles) float64
		over func(*results.Overhead) float64
	}
	rows := []row{
		{"min", func(p results.Percentiles) float64 { return p.Min }, nil},
		{"p50", func(p results.Percentiles) float64 { return p.P50 }, func(o *results.Overhead) float64 { return o.P50 }},
		{"p90", func(p results.Percentiles) float64 { return p.P90 }, func(o *results.Overhead) float64 { return o.P90 }},
		{"p99", func(p results.Percentiles) float64 { return p.P99 }, func(o *results.Overhead) float64 { return o.P99 }},
		{"p99.9", func(p results.Percentiles) float64 { return p.P999 }, func(o *results.Overhead) float64 { return o.P999 }},
		{"p99.99", func(p results.Percentiles) float64 { return p.P9999 }, nil},
		{"max", func(p results.Percentiles) float64 { return p.Max }, nil},
		{"mean", func(p results.Percentiles) float64 { return p.Mean }, nil},
	}
	for _, rw := range rows {
		cells := []string{rw.name}
		for _, p := range f.Paths {
			if p.LatencyMs.Count == 0 {
				cells = append(cells, "-")
			} else {
				cells = append(cells, ms(rw.lat(p.LatencyMs)))
			}
			if p.OverheadMs != nil {
				if rw.over == nil {
					cells = append(cells, "")
				} else {
					cells = append(cells, signedMs(rw.over(p.OverheadMs)))
				}
			}
		}
		g.rows = append(g.rows, cells)
	}
	spread := false
	for _, p := range f.Paths {
		spread = spread || p.P99RangeMs != nil
	}
	if spread {
		for _, name := range []string{"p50 across trials", "p99 across trials"} {
			cells := []string{name}
			for _, p := range f.Paths {
				rg := p.P50RangeMs
				if name[:3] == "p99" {
					rg = p.P99RangeMs
				}
				cells = append(cells, rangeCell(rg))
				if p.OverheadMs != nil {
					cells = append(cells, "")
				}
			}
			g.rows = append(g.rows, cells)
		}
	}
	return g
}

func writeHostSection(b *strings.Builder, f FileReport, single bool) error {
	if !single {
		fmt.Fprintf(b, "### %s\n\n", mdText(f.Name))
	}
	h := f.Host
	facts := []string{}
	if h.Hostname != "" {
		facts = append(facts, "host "+mdCode(h.Hostname))
	}
	if h.CPUModel != "" || h.Cores > 0 {
		facts = append(facts, fmt.Sprintf("%d cores of %s", h.Cores, mdText(h.CPUModel)))
	}
	if h.MemoryBytes > 0 {
		facts = append(facts, fmt.Sprintf("%.1f GiB memory", float64(h.MemoryBytes)/(1<<30)))
	}
	if h.Kernel != "" {
		facts = append(facts, "kernel "+mdCode(h.Kernel))
	}
	facts = append(facts, "virtualization "+virtLabel(h.Virtualization))
	for _, d := range h.Disks {
		facts = append(facts, fmt.Sprintf("disk %s (%s)", mdCode(d.Name), mdText(d.Kind)))
	}
	fmt.Fprintf(b, "%s.\n\n", strings.Join(facts, ", "))
	fmt.Fprintf(b, "During the run: %s.\n\n", mdText(hostLine(f)))
	if f.HostQuality == nil || len(f.HostQuality.Verdicts) == 0 {
		b.WriteString("The host probes did not run (run `meshbench host` for verdicts).\n\n")
		return nil
	}
	g := grid{left: 5, header: []string{"check", "status", "value", "threshold", "fix"}}
	for _, v := range f.HostQuality.Verdicts {
		// Capitals rather than bold: the cells are escaped as plain text.
		status := v.Status
		if status == "warn" || status == "fail" {
			status = strings.ToUpper(status)
		}
		g.rows = append(g.rows, []string{v.Check, status, v.Value, v.Threshold, v.Fix})
	}
	if err := renderMarkdown(b, g); err != nil {
		return err
	}
	b.WriteString("\n")
	return nil
}

// allWarnings are the file warnings and notes, each labelled with its host
// when there are several.
func allWarnings(r *Report) []string {
	var out []string
	for _, f := range r.Files {
		prefix := ""
		if len(r.Files) > 1 {
			prefix = f.Name + ": "
		}
		for _, wn := range f.Warnings {
			out = append(out, prefix+wn)
		}
		for _, n := range f.Notes {
			out = append(out, prefix+"note: "+n)
		}
	}
	return out
}

// renderMarkdown draws g as a GitHub-flavoured markdown table. Cells are
// plain text: anything markdown would read as markup is escaped.
func renderMarkdown(b *strings.Builder, g grid) error {
	esc := grid{left: g.left, textLast: g.textLast, header: escapeCells(g.header)}
	for _, row := range g.rows {
		esc.rows = append(esc.rows, escapeCells(row))
	}
	var out strings.Builder
	t := tablewriter.NewTable(&out,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithAlignment(aligns(g)),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	return renderGrid(t, esc, &out, b)
}

// escapeCells keeps a "|" in a cell from splitting it (tablewriter's
// markdown renderer writes cells as they are) and markup from applying.
func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(mdText(c), "|", `\|`)
	}
	return out
}

// mdEscaper escapes what would turn free text into markup: emphasis,
// code, links, HTML and entities, strikethrough.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", "&", "&amp;",
	"[", `\[`, "]", `\]`, "~", `\~`)

// mdText makes free text from a file (host names, warnings) plain markdown
// text: control characters and line breaks are escaped as for a terminal
// (a line break could start a heading or end a table row) and markup
// characters are escaped. Cells also need "|" escaped (escapeCells).
func mdText(s string) string { return mdEscaper.Replace(termText(s)) }

// mdCode shows s as inline code, where backslash escapes do not work: a
// backtick, which would end the span, becomes a quote.
func mdCode(s string) string { return "`" + strings.ReplaceAll(termText(s), "`", "'") + "`" }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
