package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder: replaced by the report command's own file.
func newReportCmd(w *World) *cobra.Command {
	return &cobra.Command{Use: "report", Short: "(being built)", RunE: func(*cobra.Command, []string) error { return errors.New("report: being built") }}
}
