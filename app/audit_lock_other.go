//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package app

import "os"

// lockFile does nothing where flock is missing: writeAuditLines then cuts
// a failed write back only when nobody else appended meanwhile.
func lockFile(*os.File) (unlock func(), err error) { return func() {}, nil }
