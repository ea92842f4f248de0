package cli

import (
	"fmt"
	"runtime"

	"github.com/labsync/labsync/internal/buildinfo"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "labsync %s (commit %s, %s)\n",
				buildinfo.Version, buildinfo.CommitOrUnknown(), runtime.Version())
			return nil
		},
	}
}
