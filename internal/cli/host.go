package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder: replaced by the host command's own file.
func newHostCmd(w *World) *cobra.Command {
	return &cobra.Command{Use: "host", Short: "(being built)", RunE: func(*cobra.Command, []string) error { return errors.New("host: being built") }}
}
