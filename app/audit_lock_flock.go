//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package app

import (
	"os"
	"syscall"
)

// lockFile holds an exclusive advisory lock on f until unlock is called:
// two cxrview processes (the viewer and `cxrview export`) appending to one
// audit trail then never interleave a write with the other's cleanup.
func lockFile(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() { syscall.Flock(fd, syscall.LOCK_UN) }, nil
}
