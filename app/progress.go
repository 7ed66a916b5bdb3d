package app

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// progress shows how far a long job is: a redrawn bar when w is a
// terminal, otherwise a line at every tenth. It stays silent for jobs too
// small to need it.
type progress struct {
	w      io.Writer
	tty    bool
	what   string
	total  int
	shown  int // last percentage (terminal) or tenth (plain) written
	active bool
	each   bool // plain output: a line per item (slow items), not per tenth
	start  time.Time
}

// progressMin is the smallest job that gets a progress display.
const progressMin = 1000

func newProgress(w io.Writer, what string, total int) *progress {
	return &progress{w: w, tty: isTerminal(w), what: what, total: total, shown: -1,
		active: total >= progressMin, start: time.Now()}
}

// newItemProgress is a progress display for a few slow items (drafting a
// folder of films): every item is shown, with its name and the time left.
func newItemProgress(w io.Writer, what string, total int) *progress {
	p := newProgress(w, what, total)
	p.active, p.each = total > 1, true
	return p
}

func (p *progress) set(done int) { p.show(done, "") }

// show reports that done items are finished and item is the next one.
func (p *progress) show(done int, item string) {
	if !p.active || p.total <= 0 {
		return
	}
	eta := ""
	if done > 0 && p.each {
		left := time.Since(p.start) / time.Duration(done) * time.Duration(p.total-done)
		eta = ", about " + left.Round(time.Second).String() + " left"
	}
	if p.each && item != "" {
		item = " " + filepath.Base(item)
	}
	if p.tty {
		pct := done * 100 / p.total
		if pct == p.shown && !p.each {
			return
		}
		p.shown = pct
		const width = 30
		fill := done * width / p.total
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %3d%% %d/%d%s%s", p.what, strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, done, p.total, item, eta)
		return
	}
	if p.each {
		fmt.Fprintf(p.w, "%s [%d/%d]%s%s\n", p.what, done+1, p.total, item, eta)
		return
	}
	tenth := done * 10 / p.total
	if tenth == p.shown || tenth == 0 {
		return
	}
	p.shown = tenth
	fmt.Fprintf(p.w, "%s: %d%% (%d/%d)\n", p.what, tenth*10, done, p.total)
}

func (p *progress) finish() {
	if p.active && p.tty {
		fmt.Fprintf(p.w, " %s\n", time.Since(p.start).Round(time.Millisecond))
	}
	p.active = false
}

// abort ends a terminal bar's line so that the error that follows starts
// on its own.
func (p *progress) abort() {
	if p.active && p.tty && p.shown >= 0 {
		fmt.Fprintln(p.w)
	}
	p.active = false
}
