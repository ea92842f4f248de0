// Package cli is labsync's command line: one cobra command per file, each a
// thin shell over the internal packages that do the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/labsync/labsync/internal/problem"
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
		return report(stderr, err)
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "labsync",
		Short:         "labsync keeps a GitLab's merge requests, issues, pipelines and pushes in its own database",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command: a deprecated flag spelling still works, with one
		// warning line.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return checkDeprecated(cmd, cmd.ErrOrStderr())
		},
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
		newGitCredentialCmd(),
		newMetricsCmd(),
	)
	return root
}

// exitCode is the one place a problem's kind becomes the process exit
// code. Every failure has ended labsync with 1 and scripts rely on that, so
// every kind is 1; a kind that needs a code of its own gets it here. (A bad
// configuration, 2, is reported before any service runs.)
func exitCode(problem.Kind) int { return 1 }

// report prints err as the command's last line — with the remedy on the
// next line when err is a problem that has one — and returns the exit code.
func report(stderr io.Writer, err error) int {
	var p *problem.Error
	if !errors.As(err, &p) {
		fmt.Fprintln(stderr, "labsync:", err)
		return 1
	}
	fmt.Fprintln(stderr, "labsync:", p.Message)
	if p.Remedy != "" {
		fmt.Fprintln(stderr, "  →", p.Remedy)
	}
	return exitCode(p.Kind)
}
