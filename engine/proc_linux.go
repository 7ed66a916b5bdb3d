package engine

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the runner when its parent dies, so a
// crashed or killed viewer never leaves a model in memory.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
