package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

Files written by 'meshbench host --format json' (one per candidate host or
cluster node) give one table of hosts instead, a row each, to show which one
is noisy: steal, iowait, pressure, the busiest disk, jitter, fsync and the
verdicts that warn or fail (table or markdown).

Trials are merged by merging their HDR histograms; the spread across trials is
shown beside the merged figure.`,
		Example: `  meshbench report results/vps1-20261122T120000Z.json
  meshbench report results/*.json --format markdown --out report.md --plots charts/
  meshbench report run.json --format hlog --out run.hlog
  meshbench report a.json b.json --names "kvm nvme,openvz sata"
  meshbench report nodes/*.json --format markdown        # files from meshbench host --format json`,
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
	var files []*results.File
	var hosts []*report.HostReport
	var aHost, aResult string
	for _, p := range o.files {
		f, err := results.Read(p)
		if err != nil {
			h, isHost, herr := readHostFile(p)
			if !isHost {
				return err
			}
			if herr != nil {
				return herr
			}
			hosts, aHost = append(hosts, h), p
			continue
		}
		files, aResult = append(files, f), p
	}
	switch {
	case len(hosts) > 0 && len(files) > 0:
		return errext.BadInputf("%s is `meshbench host` output and %s a result file: report each kind on its own", aHost, aResult)
	case len(hosts) > 0:
		return reportHosts(w, o, hosts)
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
	return writeReport(w, o.out, buf.Bytes())
}

// maxHostFileBytes bounds what is read of a file to see whether it is a
// host file: `meshbench host` writes a few kilobytes.
const maxHostFileBytes = 4 << 20

// readHostFile reads path as the JSON of `meshbench host` when it is one;
// isHost is false, and the file left to the result reader's error, when
// it is not.
func readHostFile(path string) (h *report.HostReport, isHost bool, err error) {
	// Only a regular file: opening a FIFO would block until a writer came.
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, false, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, false, nil
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxHostFileBytes+1))
	if err != nil || len(data) > maxHostFileBytes || !report.IsHostFile(data) {
		return nil, false, nil
	}
	if h, err = report.DecodeHost(data); err != nil {
		return nil, true, errext.BadInputf("%s: %v", path, err)
	}
	return h, true, nil
}

// reportHosts renders `meshbench host` files as one table of hosts.
func reportHosts(w *World, o reportOptions, hosts []*report.HostReport) error {
	if !slices.Contains(report.NodeFormats, o.format) {
		return errext.BadInputf("--format %s: host files render as %s", o.format, strings.Join(report.NodeFormats, " or "))
	}
	if o.plots != "" {
		return errext.BadInputf("--plots: host files have no charts")
	}
	var buf bytes.Buffer
	if err := report.WriteNodes(&buf, hosts, o.names, o.format); err != nil {
		return err
	}
	return writeReport(w, o.out, buf.Bytes())
}

// writeReport puts a rendered report on stdout or, atomically, in out.
func writeReport(w *World, out string, data []byte) error {
	if out == "" {
		_, err := w.Stdout.Write(data)
		return err
	}
	if err := results.WriteFileAtomic(out, data); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	fmt.Fprintf(w.Stderr, "wrote %s\n", out)
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
