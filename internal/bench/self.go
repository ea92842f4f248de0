package bench

import (
	"context"
	"os"
	"os/exec"
)

// labsyncCommand is this binary run as `labsync args…`, with env added to
// this process's environment. ctx, when not nil, kills it when done. The
// environment says LABSYNC_TEST_MAIN=1, so that a test binary standing in
// for labsync (cli's TestMain) runs the command line rather than its whole
// test suite again, which would start more children of its own.
func labsyncCommand(ctx context.Context, env []string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, self, args...)
	} else {
		cmd = exec.Command(self, args...)
	}
	cmd.Env = append(append(os.Environ(), "LABSYNC_TEST_MAIN=1"), env...)
	return cmd, nil
}
