package convert

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a bar with bytes, rate and ETA. On a terminal it redraws
// one line a few times a second; elsewhere (a log, a pipe) it prints a line
// every tenth of the way.
type progress struct {
	w     io.Writer
	total int64
	tty   bool
	start time.Time

	mu        sync.Mutex
	done      int64
	lastDraw  time.Time
	lastTenth int64
}

func newProgress(w io.Writer, total int64) *progress {
	p := &progress{w: w, total: max(total, 1), start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) add(n int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	now := time.Now()
	if p.tty {
		if now.Sub(p.lastDraw) >= 200*time.Millisecond {
			p.lastDraw = now
			fmt.Fprintf(p.w, "\r%s", p.line(now))
		}
		return
	}
	if tenth := p.done * 10 / p.total; tenth > p.lastTenth {
		p.lastTenth = tenth
		fmt.Fprintln(p.w, p.line(now))
	}
}

// line is the bar: "converting [#####·····]  1.2 GB / 4.1 GB  29%  85 MB/s  ETA 34s".
func (p *progress) line(now time.Time) string {
	const width = 24
	frac := float64(p.done) / float64(p.total)
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat("·", width-filled)
	elapsed := now.Sub(p.start).Seconds()
	rate, eta := "", ""
	if elapsed > 0.5 && p.done > 0 {
		r := float64(p.done) / elapsed
		rate = "  " + humanBytes(int64(r)) + "/s"
		left := time.Duration(float64(p.total-p.done) / r * float64(time.Second)).Round(time.Second)
		eta = "  ETA " + left.String()
	}
	return fmt.Sprintf("converting [%s] %s / %s %3.0f%%%s%s   ", bar, humanBytes(p.done), humanBytes(p.total), 100*frac, rate, eta)
}

// finish draws the finished bar.
func (p *progress) finish() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = p.total
	line := fmt.Sprintf("converted  %s in %s", humanBytes(p.total), time.Since(p.start).Round(100*time.Millisecond))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s%s\n", line, strings.Repeat(" ", 40))
		return
	}
	fmt.Fprintln(p.w, line)
}

// abort ends a terminal's bar line so that the error starts on its own.
func (p *progress) abort() {
	if p == nil || p.w == nil || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w)
}

// humanBytes writes a size in decimal units, as disks are sold.
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
