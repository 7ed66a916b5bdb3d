package imaging

import (
	"runtime"
	"sync"
)

// ParallelRows calls fn on disjoint row bands covering [0, h) of an image
// w pixels wide, one band per core, and waits for all of them. Small
// images run on the calling goroutine. A panic in a band is raised again
// on the calling goroutine once every band has ended, so that a caller's
// recover catches it as it would a sequential loop's: a panic on a bare
// worker goroutine ends the program.
func ParallelRows(h, w int, fn func(y0, y1 int)) {
	n := min(runtime.GOMAXPROCS(0), h)
	if n <= 1 || h*w < 1<<15 {
		fn(0, h)
		return
	}
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		y0, y1 := h*i/n, h*(i+1)/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			fn(y0, y1)
		}()
	}
	wg.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
}
