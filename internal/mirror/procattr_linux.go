package mirror

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill git when labsync dies, even by
// SIGKILL, so no orphaned git keeps writing into a mirror nobody owns.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
