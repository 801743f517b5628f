package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// section is a table shown after a run's main table when the run has
// something to show in it: how the paths met faults, or where a sweep's
// paths stopped carrying the load. The terminal and markdown views draw
// the same sections.
type section struct {
	title string
	grid  grid
	// legend explains the columns, under the table.
	legend string
}

// runSections are the extra tables of one file.
func runSections(f FileReport) []section {
	var out []section
	if g, ok := faultsGrid(f); ok {
		out = append(out, section{title: "faults", grid: g, legend: faultsLegend(f)})
	}
	if g, ok := kneeGrid(f); ok {
		out = append(out, section{title: "knee", grid: g, legend: kneeLegend})
	}
	return out
}

// proxyColumns are the proxy counters the faults table shows, by header.
var proxyColumns = []struct{ header, counter string }{
	{"ejections", "ejections"}, {"retries", "retries"}, {"redispatches", "redispatches"}, {"servers down", "server_downs"},
}

// faultsGrid has a row per path with a resilience block: errors and p99
// before, during and after the faults, the time to recover and the
// proxy's own counters.
func faultsGrid(f FileReport) (grid, bool) {
	g := grid{left: 1, header: []string{"path", "errors before", "errors during", "errors after", "p99 before", "p99 during", "p99 after", "errors in each fault", "recover"}}
	for _, c := range proxyColumns {
		g.header = append(g.header, c.header)
	}
	for _, p := range f.Paths {
		if p.Summary == nil || p.Summary.Resilience == nil {
			continue
		}
		r := p.Summary.Resilience
		row := []string{p.Name}
		for _, ph := range []results.Phase{r.Before, r.During, r.After} {
			row = append(row, errorsCell(ph))
		}
		for _, ph := range []results.Phase{r.Before, r.During, r.After} {
			if ph.Requests == 0 {
				row = append(row, "-")
			} else {
				row = append(row, ms(ph.P99Ms))
			}
		}
		var each []string
		for _, fo := range r.Faults {
			each = append(each, errorsCell(results.Phase{Requests: fo.Requests, Errors: fo.Errors, ErrorPct: share(fo.Errors, fo.Requests)}))
		}
		row = append(row, strings.Join(each, ", "), recoverCell(r))
		for _, c := range proxyColumns {
			if v, ok := r.ProxyCounters[c.counter]; ok {
				row = append(row, num(v))
			} else {
				row = append(row, "-")
			}
		}
		g.rows = append(g.rows, row)
	}
	return g, len(g.rows) > 0
}

// errorsCell is "12 (0.51%)", or "-" for a phase without requests.
func errorsCell(ph results.Phase) string {
	if ph.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (%s)", ph.Errors, pct(ph.ErrorPct))
}

// share is n as a percentage of of.
func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return round3(100 * float64(n) / float64(of))
}

// recoverCell is the time to recover in seconds, or "never".
func recoverCell(r *results.Resilience) string {
	if r.RecoverS == nil {
		return "never"
	}
	return num(*r.RecoverS) + " s"
}

// faultsLegend says what the faults were and how the table's figures are
// cut, and names the paths that never recovered and from what.
func faultsLegend(f FileReport) string {
	var r *results.Resilience
	// Paths that never recovered, grouped by what their note says.
	var notes []string
	byNote := map[string][]string{}
	for _, p := range f.Paths {
		if p.Summary == nil || p.Summary.Resilience == nil {
			continue
		}
		if r == nil {
			r = p.Summary.Resilience
		}
		if n := p.Summary.Resilience.RecoverNote; n != "" {
			if byNote[n] == nil {
				notes = append(notes, n)
			}
			byNote[n] = append(byNote[n], p.Name)
		}
	}
	var never []string
	for _, n := range notes {
		never = append(never, strings.Join(byNote[n], ", ")+": "+n)
	}
	var faults []string
	for _, fo := range r.Faults {
		faults = append(faults, faultText(fo))
	}
	res := num(r.ResolutionS)
	s := fmt.Sprintf("faults, in every window (%d per path): %s. "+
		"Before, during and after are cut at the first fault's start (%s s) and the last one's end (%s s) in whole %s s slices of the window, by intended send time; "+
		"errors in each fault count the slices it lasted through. "+
		"Recover: from each fault's start to the first whole %s s slice with under %g%% errors, the longest over the faults, exact to %s s. "+
		"Proxy counters are the proxy's own over the whole window (-: the path has no such counter; nginx's stub_status counts none of them)",
		r.Windows, strings.Join(faults, "; "), num(r.During.StartS), num(r.During.EndS), res, res, 100*results.RecoverErrorShare, res)
	if len(never) > 0 {
		s += ". Never recovered: " + strings.Join(never, "; ")
	}
	return s
}

// faultText is "kill replica 0 at 5 s, until 8 s".
func faultText(fo results.FaultOutcome) string {
	return fmt.Sprintf("%s replica %d at %s s until %s s", strings.ReplaceAll(fo.Action, "_", " "), fo.Replica, num(fo.AtS), num(fo.EndS))
}

const kneeLegend = "knee: the highest rate up to which every sweep step was carried: target rate met within 1%, under 1% of sends late for want of a connection (the load generator's own lag is not the path's), under 1% errors, p99 within the bound (10 times the path's p99 at the lowest rate unless the scenario names one); a path that clearly saturated (target missed, sends late for want of a connection or errors, each over 10%, or p99 past the bound) was not measured at higher rates"

// kneeGrid has a row per path of a sweep: its knee, the p99 bound and why
// the knee is where it is. The A/A path is left out: it is direct again.
func kneeGrid(f FileReport) (grid, bool) {
	g := grid{left: 1, textLast: true, header: []string{"path", "knee req/s", "p99 bound", "steps carried", "reason"}}
	seen := map[string]bool{}
	for _, p := range f.Paths {
		s := p.Summary
		if s == nil || s.Knee == nil || seen[s.Name] || s.Name == results.AAName {
			continue
		}
		seen[s.Name] = true
		k := s.Knee
		g.rows = append(g.rows, []string{s.Name, num(k.Rate), ms(k.P99BoundMs), stepsCarried(f, s.Name), k.Reason})
	}
	return g, len(g.rows) > 0
}

// stepsCarried lists a path's steps with a mark: "1000 ok, 4000 no,
// 16000 skipped" (skipped: not measured, the path having saturated below).
func stepsCarried(f FileReport, name string) string {
	var parts []string
	skippedAbove := 0.0
	for _, p := range f.Paths {
		s := p.Summary
		if s == nil || s.Knee == nil || s.Name != name {
			continue
		}
		mark := "ok"
		if !s.Knee.Carried {
			mark = "no"
		}
		parts = append(parts, strconv.FormatFloat(p.TargetRate, 'f', -1, 64)+" "+mark)
		skippedAbove = s.Knee.SkippedAbove
	}
	for _, rate := range f.Load.Sweep {
		if skippedAbove > 0 && rate > skippedAbove {
			parts = append(parts, strconv.FormatFloat(rate, 'f', -1, 64)+" skipped")
		}
	}
	return strings.Join(parts, ", ")
}

// writeSectionsText draws the files' extra tables for the terminal.
func writeSectionsText(b *strings.Builder, r *Report) error {
	for _, f := range r.Files {
		for _, sec := range runSections(f) {
			title := sec.title
			if len(r.Files) > 1 {
				title += ", " + f.Name
			}
			fmt.Fprintln(b)
			fmt.Fprintln(b, termText(title)+":")
			if err := renderText(b, sec.grid); err != nil {
				return err
			}
			fmt.Fprintln(b, termText(sec.legend))
		}
	}
	return nil
}

// writeSectionsMarkdown draws the files' extra tables as markdown
// sections.
func writeSectionsMarkdown(b *strings.Builder, r *Report) error {
	for _, f := range r.Files {
		for _, sec := range runSections(f) {
			title := capitalize(sec.title)
			if len(r.Files) > 1 {
				title += ", " + f.Name
			}
			fmt.Fprintf(b, "## %s\n\n", mdText(title))
			if err := renderMarkdown(b, sec.grid); err != nil {
				return err
			}
			fmt.Fprintf(b, "\n%s.\n\n", mdText(capitalize(sec.legend)))
		}
	}
	return nil
}
