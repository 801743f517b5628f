package cli

import (
	"github.com/spf13/cobra"

	"github.com/meshbench/meshbench/internal/sidecar/sidecarcmd"
)

// newSidecarCmd is `meshbench sidecar`; the command lives in package
// sidecarcmd so that the lean meshbench-sidecar binary can run it alone.
func newSidecarCmd(w *World) *cobra.Command { return sidecarcmd.New(w.Stderr) }
