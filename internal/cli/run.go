package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

type runOptions struct {
	scenarioFile string
}

func newRunCmd(w *World) *cobra.Command {
	var o runOptions
	return &cobra.Command{
		Use:   "run [SCENARIO.yaml]",
		Short: "Measure every path of a scenario and write a result file",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.scenarioFile = args[0]
			}
			return runRun(cmd.Context(), w, o)
		},
	}
}

func runRun(ctx context.Context, w *World, o runOptions) error {
	return errors.New("run: being built")
}
