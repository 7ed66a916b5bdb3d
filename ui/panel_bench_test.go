package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"cxrview/app"
	"cxrview/app/findings"
)

// BenchmarkPanelStreamUpdate measures what the UI goroutine does for one
// streamed update of a draft: the editor takes the text so far (a report
// of about 2 kB, the size of 512 tokens) and moves its cursor to the end,
// the labels, status line and run statistics are refreshed. Updates are
// coalesced (one outstanding at a time), so the panel keeps up with any
// token rate as long as one update takes well under a frame.
func BenchmarkPanelStreamUpdate(b *testing.B) {
	p := newBenchPanel(b)
	text := strings.Repeat(reportText+"\n", 16)[:2048]
	r := &panelRun{sess: p.sess, started: time.Now(), done: make(chan struct{}), returned: make(chan struct{})}
	p.run = r
	b.ResetTimer()
	for i := range b.N {
		// The text grows by a token each time, as a stream does.
		n := len(text) - 64 + i%64
		pr := app.Progress{Text: text[:n], Tokens: 500 + i%64, Elapsed: time.Second, TokensPerSecond: 500}
		r.prog.post(pr, func() {})
		p.showProgress(r)
	}
	b.StopTimer()
	p.run = nil
}

// BenchmarkPanelTyping measures what the UI goroutine does for one
// keystroke in the report editor of a study with a follow-up thread of 20
// questions: the session takes the text, the status, labels, sign-off and
// menus are brought in line. The thread is not touched by typing.
func BenchmarkPanelTyping(b *testing.B) {
	p := newBenchPanel(b)
	eng := newFakeEngine(words("The effusion is small and on the left side.")...)
	for i := range 20 {
		if _, err := p.sess.Ask(context.Background(), eng, eng.info, fmt.Sprintf("Question %d?", i), app.GenerateOptions{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	p.refresh()
	text := strings.Repeat(reportText+"\n", 16)[:2048]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.edited(text[:len(text)-64+i%64])
	}
}

// BenchmarkPanelChips measures relabelling a 2 kB report for the chips,
// which runs after each pause in typing or streaming.
func BenchmarkPanelChips(b *testing.B) {
	text := strings.Repeat(reportText+"\n", 16)[:2048]
	board := newChipBoard(func(findings.Observation) {})
	b.ResetTimer()
	for i := range b.N {
		board.text = "" // force the work
		board.update(text[:len(text)-i%64])
	}
}

// newBenchPanel is the panel in a main window on the test driver, with a
// session on a PNG film and no model. Work posted to the UI goroutine is
// dropped: the benchmark calls what it measures itself.
func newBenchPanel(b *testing.B) *Panel {
	b.Helper()
	a := test.NewTempApp(b)
	dir := b.TempDir()
	env := &app.Env{Dirs: app.Dirs{Config: filepath.Join(dir, "config"), Data: filepath.Join(dir, "data"), Cache: filepath.Join(dir, "cache")}}
	b.Setenv("OLLAMA_MODELS", filepath.Join(dir, "no-ollama"))
	p := NewPanel(PanelOptions{})
	p.do = func(func()) {}
	v := NewViewer(a, env, app.DefaultSettings(), Options{Report: p, Chooser: &stubChooser{}})
	v.do = p.do
	v.win.Resize(fyne.NewSize(1360, 860))
	b.Cleanup(func() { p.Shutdown(); v.win.Close() })
	path := filepath.Join(dir, "film.png")
	writePNG(b, path, 64, 64, func(x, y int) uint8 { return uint8(x + y) })
	st, err := app.OpenStudy(path)
	if err != nil {
		b.Fatal(err)
	}
	sess, err := p.sessions.acquire(env.Dirs, st, app.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	p.sess, p.sessKey = sess, st.Key
	p.editor.Enable()
	return p
}
