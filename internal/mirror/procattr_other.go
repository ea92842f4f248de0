//go:build !linux

package mirror

import "os/exec"

// dieWithParent is Linux-only (Pdeathsig); elsewhere an orphaned git runs
// to its end and the next start cleans up after it.
func dieWithParent(*exec.Cmd) {}
