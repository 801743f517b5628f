package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

type reportOptions struct {
	files  []string
	format string
	out    string
	plots  string
	names  []string
}

func newReportCmd(w *World) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report FILE... [--format F] [--out FILE] [--plots DIR]",
		Short: "Render result files as a table, markdown, JSON, CSV or charts",
		Long: `report renders result files without re-running anything. One file gives the
full report of its run: a row per path with response-time percentiles, the
overhead of each hop over direct, the proxies' CPU and memory, and the host
figures that explain them. Several files (from several hosts) give one
side-by-side comparison, with a warning when their scenarios differ.

Trials are merged by merging their HDR histograms; the spread across trials is
shown beside the merged figure.`,
		Example: `  meshbench report results/vps1-20261122T120000Z.json
  meshbench report results/*.json --format markdown --out report.md --plots charts/
  meshbench report run.json --format hlog --out run.hlog
  meshbench report a.json b.json --names "kvm nvme,openvz sata"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runReport(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(report.Formats, "|"))
	f.StringVar(&o.out, "out", "", "write the report to this file (atomically) instead of stdout")
	f.StringVar(&o.plots, "plots", "", "also write SVG charts to this directory (markdown links them)")
	f.StringSliceVar(&o.names, "names", nil, "labels for the files, comma separated, in order (default: each file's host name)")
	return cmd
}

func runReport(_ context.Context, w *World, o reportOptions) error {
	if len(o.names) > 0 && len(o.names) != len(o.files) {
		return errext.BadInputf("--names has %d labels for %d files", len(o.names), len(o.files))
	}
	for _, n := range o.names {
		if strings.TrimSpace(n) == "" || strings.ContainsAny(n, "\n\r|") {
			return errext.BadInputf("--names: label %q must be non-empty, on one line, without '|'", n)
		}
	}
	if !slices.Contains(report.Formats, o.format) {
		return errext.BadInputf("--format %q: want one of %s", o.format, strings.Join(report.Formats, ", "))
	}
	if err := outIsNoInput(o.out, o.files); err != nil {
		return err
	}
	// Every file is read and checked before anything is written, so a bad
	// file leaves no half-made report or charts behind.
	files := make([]*results.File, len(o.files))
	for i, p := range o.files {
		f, err := results.Read(p)
		if err != nil {
			return err
		}
		files[i] = f
	}
	r, err := report.Build(files, o.names)
	if err != nil {
		return errext.AsBadInput(blameFile(files, o.files, err))
	}
	opts := report.Options{}
	if o.plots != "" {
		written, err := report.WritePlots(o.plots, r)
		if err != nil {
			return fmt.Errorf("--plots %s: %w", o.plots, err)
		}
		for _, p := range written {
			fmt.Fprintf(w.Stderr, "wrote %s\n", p)
		}
		opts.PlotsDir = linkDir(o.plots, o.out)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, r, o.format, opts); err != nil {
		return err
	}
	if o.out == "" {
		_, err := w.Stdout.Write(buf.Bytes())
		return err
	}
	if err := results.WriteFileAtomic(o.out, buf.Bytes()); err != nil {
		return fmt.Errorf("--out %s: %w", o.out, err)
	}
	fmt.Fprintf(w.Stderr, "wrote %s\n", o.out)
	return nil
}

// outIsNoInput refuses an --out that is one of the inputs (by any name:
// a link, a relative path): the report would replace the measurement it
// renders.
func outIsNoInput(out string, inputs []string) error {
	if out == "" {
		return nil
	}
	fo, err := os.Stat(out)
	if err != nil {
		return nil // nothing there yet, so nothing to lose
	}
	for _, in := range inputs {
		if fi, err := os.Stat(in); err == nil && os.SameFile(fo, fi) {
			return errext.BadInputf("--out %s is the input %s: the report would replace it", out, in)
		}
	}
	return nil
}

// blameFile finds which file made Build fail (a histogram that does not
// decode, say), so the error names the file rather than its host.
func blameFile(files []*results.File, names []string, err error) error {
	for i, f := range files {
		if _, e := report.Build([]*results.File{f}, nil); e != nil {
			// Build's own prefix is the host label; the path says more.
			if inner := errors.Unwrap(e); inner != nil {
				e = inner
			}
			return fmt.Errorf("%s: %v", names[i], e)
		}
	}
	return err
}

// linkDir is the plots directory as the report should link it: relative to
// the report file when there is one, so the two can be moved together.
func linkDir(plots, out string) string {
	if out == "" {
		return filepath.ToSlash(plots)
	}
	absPlots, err1 := filepath.Abs(plots)
	absOut, err2 := filepath.Abs(filepath.Dir(out))
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(plots)
	}
	rel, err := filepath.Rel(absOut, absPlots)
	if err != nil {
		return filepath.ToSlash(plots)
	}
	return filepath.ToSlash(rel)
}
