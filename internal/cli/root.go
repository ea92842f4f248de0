// Package cli is labsync's command line: one cobra command per file, each a
// thin shell over the internal packages that do the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the labsync command line with args and returns the process exit code.
func Main(args []string) int {
	return Run(context.Background(), args, os.Stdout, os.Stderr)
}

// Run is Main with its context and output streams given, for tests.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "labsync:", err)
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "labsync",
		Short:         "labsync keeps a GitLab's merge requests, issues, pipelines and pushes in its own database",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newSandboxCmd(),
		newDoctorCmd(),
		newServeCmd(),
		newMigrateCmd(),
		newAdminCmd(),
		newKeysCmd(),
		newConnectCmd(),
		newIntegrationsCmd(),
		newBenchCmd(),
		newSyncCmd(),
	)
	return root
}
