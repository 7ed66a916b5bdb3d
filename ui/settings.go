package ui

import (
	"fmt"
	"sync"

	"cxrview/app"
)

// settingsWriter saves the settings off the UI goroutine: every image
// opened adds a recent file and every O or T key a change, and the
// atomic write (with its fsync) must not stall the window. Changes are
// applied to the file in the order they were made, each on top of what
// the file holds then, so that edits from elsewhere (another cxrview)
// survive.
type settingsWriter struct {
	dirs app.Dirs
	// written hears the result of each write from the writing goroutine:
	// the settings as written and the number of changes they hold.
	written func(s app.Settings, changes uint64, err error)

	mu       sync.Mutex
	pending  []func(*app.Settings)
	fallback app.Settings // the window's settings: written over a damaged file
	queued   uint64       // changes handed over so far
	running  bool
	idle     sync.WaitGroup // one count per change not yet written
}

// add hands change over to be written; window is the window's settings
// with change applied. It returns the number of changes handed over so far.
func (w *settingsWriter) add(change func(*app.Settings), window app.Settings) uint64 {
	w.idle.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, change)
	w.fallback = window
	w.queued++
	if !w.running {
		w.running = true
		go w.run()
	}
	return w.queued
}

func (w *settingsWriter) run() {
	for {
		w.mu.Lock()
		batch, n, fallback := w.pending, w.queued, w.fallback
		w.pending = nil
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		s, err := app.LoadSettings(w.dirs)
		if err == nil {
			for _, change := range batch {
				change(&s)
			}
		} else {
			s = fallback // a damaged file: the window's settings replace it
		}
		if err = app.SaveSettings(w.dirs, s); err != nil {
			err = fmt.Errorf("save settings: %w", err)
		}
		if w.written != nil {
			w.written(s, n, err)
		}
		w.idle.Add(-len(batch))
	}
}

// wait returns once every change handed over is written.
func (w *settingsWriter) wait() { w.idle.Wait() }
