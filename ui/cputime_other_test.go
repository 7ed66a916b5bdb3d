//go:build !unix

package ui

import "time"

// processCPU is unknown here; the CPU metric then reads 0.
func processCPU() time.Duration { return 0 }
