package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/results"
)

// writeHlog writes every trial of every path as an HdrHistogram interval log
// (format 1.3), the input of HistogramLogProcessor and of the HdrHistogram
// plotters. Each interval is tagged with its path ("Tag=haproxy,"), or with
// host/path when several files are written together; values are in ns and
// the Interval_Max column in ms, as HistogramLogWriter writes them.
func writeHlog(w io.Writer, r *Report, _ Options) error {
	type entry struct {
		tag      string
		file     int
		run      Run
		pathIdx  int
		startSec float64
	}
	var base int64 // ms since the epoch of the earliest file
	for i, f := range r.Files {
		if ms := f.StartedAt.UnixMilli(); i == 0 || ms < base {
			base = ms
		}
	}
	lw := hdrhistogram.NewHistogramLogWriter(w)
	lw.SetBaseTime(base)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if err := lw.OutputComment(fmt.Sprintf("[meshbench report: %d result file(s); response time from the intended send, ns]", len(r.Files))); err != nil {
		return err
	}
	// Files written before window_start was recorded keep each window's
	// length but not its wall-clock start: their intervals are laid end to
	// end from the run's start, in the order they were measured (trial,
	// then position in the round), and the log says so.
	if !windowStartsKnown(r) {
		if err := lw.OutputComment("[intervals are the measured windows laid end to end from each run's start time; warm-up gaps are not kept]"); err != nil {
			return err
		}
	}
	if err := lw.OutputStartTime(base); err != nil {
		return err
	}
	if err := lw.OutputBaseTime(base); err != nil {
		return err
	}
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for fi, f := range r.Files {
		var entries []entry
		for pi, p := range f.Paths {
			tag := hlogTag(p.Name)
			if len(r.Files) > 1 {
				tag = hlogTag(f.Name) + "/" + tag
			}
			for _, run := range p.Runs {
				entries = append(entries, entry{tag: tag, file: fi, run: run, pathIdx: pi})
			}
		}
		slices.SortStableFunc(entries, func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.run.Trial, b.run.Trial), cmp.Compare(a.run.Order, b.run.Order), cmp.Compare(a.pathIdx, b.pathIdx))
		})
		at := f.StartedAt.UnixMilli()
		for _, e := range entries {
			dur := int64(e.run.DurationS * 1000)
			if !e.run.WindowStart.IsZero() {
				at = e.run.WindowStart.UnixMilli()
			}
			if e.run.Histogram == "" {
				if err := lw.OutputComment(fmt.Sprintf("[%s trial %d has no histogram]", e.tag, e.run.Trial)); err != nil {
					return err
				}
				at += dur
				continue
			}
			h, err := results.DecodeHistogram(e.run.Histogram)
			if err != nil {
				return fmt.Errorf("%s: %s trial %d: %w", f.Name, e.tag, e.run.Trial, err)
			}
			h.SetTag(e.tag)
			h.SetStartTimeMs(at)
			h.SetEndTimeMs(at + dur)
			if err := lw.OutputIntervalHistogram(h); err != nil {
				return err
			}
			at += dur
		}
	}
	return nil
}

// windowStartsKnown reports whether every window of every file has its
// start time.
func windowStartsKnown(r *Report) bool {
	for _, f := range r.Files {
		for _, p := range f.Paths {
			for _, run := range p.Runs {
				if run.WindowStart.IsZero() {
					return false
				}
			}
		}
	}
	return true
}

// hlogTag makes a name safe as an interval-log tag, which may not hold
// commas or white space (they end the tag) and should hold nothing a
// terminal would interpret: every such rune, and bytes that are not UTF-8,
// become "_".
func hlogTag(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ',' || r == utf8.RuneError || unicode.IsSpace(r) || unsafeRune(r) {
			return '_'
		}
		return r
	}, s)
}
