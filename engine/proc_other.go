//go:build !linux

package engine

import "os/exec"

// setProcAttr does nothing here: the runner notices its parent is gone when
// its standard input closes.
func setProcAttr(cmd *exec.Cmd) {}
