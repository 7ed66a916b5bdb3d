// Package fuzzstat counts the executions of fuzz targets. Go's fuzzing
// coordinator stops updating its progress line while a worker runs long
// batches, so long fuzzing runs (not CI) set CXRVIEW_FUZZSTAT to a
// directory and read the counts each worker process writes there.
package fuzzstat

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Counter counts executions of one fuzz target in one process.
type Counter struct {
	name string
	n    atomic.Int64
}

// New returns a counter for the named target.
func New(name string) *Counter { return &Counter{name: name} }

// Inc counts one execution; every 4096th it writes the process's total
// to $CXRVIEW_FUZZSTAT/NAME.PID when that variable is set.
func (c *Counter) Inc() {
	n := c.n.Add(1)
	if n%4096 != 0 {
		return
	}
	dir := os.Getenv("CXRVIEW_FUZZSTAT")
	if dir == "" {
		return
	}
	p := filepath.Join(dir, fmt.Sprintf("%s.%d", c.name, os.Getpid()))
	os.WriteFile(p, []byte(fmt.Sprintln(n)), 0o644)
}
