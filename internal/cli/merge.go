package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

type mergeOptions struct {
	files  []string
	out    string
	format string
}

func newMergeCmd(w *World) *cobra.Command {
	var o mergeOptions
	cmd := &cobra.Command{
		Use:   "merge FILE...",
		Short: "Combine the results of the load agents of one run into one result",
		Long: `merge combines the result files of the N load agents of one run (each ran
'meshbench run --remote URL --share I/N') into one result, as if one load
generator had driven the whole rate: each row's HDR histograms are merged
exactly, requests, errors and rates summed, each agent's late sends kept beside
the total, and the server's proxy usage and host figures counted once. Overhead
and the summary are computed anew from the merged rows.

Every agent of the run must be given, once. Files that are not agents of one
run (another scenario or server, other rows) or histograms that cannot be
merged without dropping values are refused (exit 2).`,
		Example: `  meshbench merge agent1/*.json agent2/*.json
  meshbench merge a.json b.json c.json --out results/ --format markdown`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runMerge(cmd.Context(), w, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "results", "directory for the merged result file")
	f.StringVar(&o.format, "format", "table", "stdout format: table, markdown or json")
	return cmd
}

func runMerge(_ context.Context, w *World, o mergeOptions) error {
	if !slices.Contains(runFormats, o.format) {
		return errext.BadInputf("--format %q: want one of %s", o.format, strings.Join(runFormats, ", "))
	}
	files := make([]*results.File, len(o.files))
	for i, p := range o.files {
		f, err := results.Read(p)
		if err != nil {
			return err
		}
		files[i] = f
	}
	merged, err := results.MergeAgents(o.files, files)
	if err != nil {
		return err
	}
	if err := results.CheckDir(o.out); err != nil {
		return err
	}
	host := merged.Host.Hostname
	if merged.ServerHost != nil {
		host = merged.ServerHost.Hostname
	}
	name, err := results.Write(o.out, results.DefaultName(host+"-merged", merged.StartedAt), merged)
	if err != nil {
		return fmt.Errorf("writing the merged result: %w", err)
	}
	if err := printRun(w, merged, o.format); err != nil {
		return err
	}
	fmt.Fprintf(w.Stderr, "result: %s\n", name)
	return nil
}
