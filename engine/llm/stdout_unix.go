//go:build unix

package llm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protocolOutput moves the protocol to a private copy of stdout and points
// file descriptor 1 at stderr, so that nothing native code prints can
// corrupt the protocol stream.
func protocolOutput() (*os.File, error) {
	fd, err := unix.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("duplicate stdout: %w", err)
	}
	if err := unix.Dup2(2, 1); err != nil {
		return nil, fmt.Errorf("redirect stdout: %w", err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "protocol"), nil
}
