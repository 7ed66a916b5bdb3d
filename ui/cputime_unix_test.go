//go:build unix

package ui

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used, all threads
// together; benchmarks report it because wall time on a shared machine
// counts other programs' load too.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
