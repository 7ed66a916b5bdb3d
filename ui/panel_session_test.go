package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"cxrview/app"
	"cxrview/app/apptest"
)

// TestPanelSwitchDuringRun: opening another film while the model writes
// stops the run and leaves the new film's editor alive (not read-only,
// no "Drafting…" left over); the first film keeps the partial text,
// marked incomplete.
func TestPanelSwitchDuringRun(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.step = make(chan struct{})
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	first := tp.openPNG("first.png")
	firstKey := tp.p.sess.Study().Key
	tp.p.Generate()
	for i := range 3 {
		eng.step <- struct{}{}
		want := strings.Join(pieces[:i+1], "")
		tp.pump(func() bool { return tp.p.editor.Text == want })
	}
	partial := strings.Join(pieces[:3], "")

	tp.openPNG("second.png")
	if tp.p.editor.readOnly || tp.p.Running() {
		t.Fatalf("on the second film: read-only %v, running %v", tp.p.editor.readOnly, tp.p.Running())
	}
	if tp.p.runInfo.Visible() && tp.p.runInfo.Text != "" {
		t.Errorf("the run's line stays on the second film: %q", tp.p.runInfo.Text)
	}
	test.Type(tp.p.editor, "Hand-written report.")
	if got := tp.p.sess.Text(); got != "Hand-written report." {
		t.Fatalf("typing on the second film: session %q, editor %q", got, tp.p.editor.Text)
	}
	tp.idle()
	tp.pump(func() bool {
		d, err := app.LoadDraft(tp.env.Dirs, firstKey)
		return err == nil && d.AI != nil && d.AI.Stop != ""
	})
	d, _ := app.LoadDraft(tp.env.Dirs, firstKey)
	if d.Text != partial || d.AI.Complete || d.AI.Stop != "cancelled" {
		t.Errorf("the first film's draft: text %q, complete %v, stop %q", d.Text, d.AI.Complete, d.AI.Stop)
	}
	tp.open(first)
	if tp.p.editor.Text != partial || !strings.Contains(tp.texts(), "INCOMPLETE") {
		t.Errorf("back on the first film: %q\n%s", tp.p.editor.Text, tp.texts())
	}
}

// TestPanelReturnWhileRunFinishes: a run that takes a while to notice it
// was stopped still owns its film's session. Going back to that film
// before it returned must show the session the run writes into, not a
// second one loaded from the disk that would overwrite the run's record
// with its own next save.
func TestPanelReturnWhileRunFinishes(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.step = make(chan struct{})
	eng.hold = make(chan struct{})
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	first := tp.openPNG("first.png")
	key := tp.p.sess.Study().Key
	tp.p.Generate()
	for i := range 2 {
		eng.step <- struct{}{}
		want := strings.Join(pieces[:i+1], "")
		tp.pump(func() bool { return tp.p.editor.Text == want })
	}
	partial := strings.Join(pieces[:2], "")
	tp.openPNG("second.png")
	// Back to the first film while the run is still held.
	tp.OpenFile(first)
	tp.pump(func() bool { return tp.pending.Load() == 0 && tp.p.study != nil && tp.p.study.Path == first })
	// Until the run returns, the film's draft is not open: typing into a
	// session the model still writes into would be refused.
	start := time.Now()
	tp.pump(func() bool { return time.Since(start) > 300*time.Millisecond })
	if tp.p.sess != nil || !tp.p.editor.Disabled() {
		t.Errorf("the draft opened while its run was still writing: session %v, editor disabled %v", tp.p.sess != nil, tp.p.editor.Disabled())
	}
	close(eng.hold)
	tp.open(first)
	if tp.p.editor.Text != partial {
		t.Fatalf("back on the first film: editor %q, want the run's %q", tp.p.editor.Text, partial)
	}
	tp.p.focusEditor()
	test.Type(tp.p.editor, " Edited.")
	if err := tp.p.sess.Flush(); err != nil {
		t.Fatal(err)
	}
	tp.idle()
	d, err := app.LoadDraft(tp.env.Dirs, key)
	if err != nil {
		t.Fatal(err)
	}
	if d.Text != partial+" Edited." || d.AI == nil || d.AI.Text != partial || d.AI.Stop != "cancelled" {
		t.Errorf("saved draft: text %q, AI %+v", d.Text, d.AI)
	}
}

// TestPanelReopenSameStudy: opening the film on screen again (File → Open
// of the same file, or another file with the same content) keeps its
// session and lets a generation on it finish.
func TestPanelReopenSameStudy(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.step = make(chan struct{})
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	film := tp.openPNG("film.png")
	sess := tp.p.sess
	test.Type(tp.p.editor, "Typed just now.")
	tp.OpenFile(film)
	tp.pump(func() bool { return tp.pending.Load() == 0 && len(tp.queue) == 0 })
	if tp.p.sess != sess || tp.p.editor.Text != "Typed just now." || tp.p.editor.Disabled() {
		t.Fatalf("reopening the film: same session %v, editor %q (disabled %v)", tp.p.sess == sess, tp.p.editor.Text, tp.p.editor.Disabled())
	}

	// A copy of a film is the same study (PNG studies are keyed by
	// content): opening it keeps a generation running.
	run := tp.openPNG("run.png")
	sess = tp.p.sess
	copyPath := filepath.Join(t.TempDir(), "copy.png")
	b, err := os.ReadFile(run)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tp.p.Generate()
	eng.step <- struct{}{}
	tp.pump(func() bool { return tp.p.editor.Text == pieces[0] })
	tp.OpenFile(copyPath)
	tp.pump(func() bool { return tp.pending.Load() == 0 && tp.p.study != nil && tp.p.study.Path == copyPath })
	if !tp.p.Running() || tp.p.sess != sess {
		t.Fatalf("the same study in another file stopped the run (running %v) or changed the session", tp.p.Running())
	}
	for range pieces[1:] {
		eng.step <- struct{}{}
	}
	tp.idle()
	if got := tp.p.sess.Text(); got != reportText || tp.p.sess.Status() != app.StatusAIDraft {
		t.Errorf("after the run: %q, %s", got, tp.p.sess.Status())
	}
	if tp.p.editor.Text != reportText {
		t.Errorf("editor %q", tp.p.editor.Text)
	}
}

// TestPanelQuickRoundTrip: a film left and opened again at once, many
// times, with text typed each time: every word is kept, in the editor and
// on disk.
func TestPanelQuickRoundTrip(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	a := tp.openPNG("a.png")
	b := tp.openPNG("b.png")
	tp.open(a)
	key := tp.p.sess.Study().Key
	want := ""
	for i := range 12 {
		word := string(rune('a'+i)) + " "
		tp.p.focusEditor()
		test.Type(tp.p.editor, word)
		want += word
		// Leave and come back without waiting for anything between.
		tp.OpenFile(b)
		tp.pump(func() bool { return tp.p.study != nil && tp.p.study.Path == b })
		tp.OpenFile(a)
		tp.pump(func() bool {
			return tp.p.study != nil && tp.p.study.Path == a && tp.p.sess != nil && tp.pending.Load() == 0
		})
		if tp.p.editor.Text != want {
			t.Fatalf("round trip %d: editor %q, want %q", i, tp.p.editor.Text, want)
		}
	}
	if err := tp.p.sess.Flush(); err != nil {
		t.Fatal(err)
	}
	tp.idle()
	if d, err := app.LoadDraft(tp.env.Dirs, key); err != nil || d.Text != want {
		t.Errorf("saved: %v %q, want %q", err, d.Text, want)
	}
}

// TestPanelChipsFollowStudy: the chips drop the previous film's findings
// as soon as another film is shown, even when its draft cannot be opened.
func TestPanelChipsFollowStudy(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	tp.openPNG("first.png")
	test.Type(tp.p.editor, "Small left pleural effusion.")
	tp.pump(func() bool { return strings.Contains(strings.Join(tp.chipTexts(), "|"), "Pleural effusion: present") })

	// The second film's draft is from a newer cxrview: it stays closed.
	second := filepath.Join(t.TempDir(), "second.png")
	writePNG(t, second, 96, 80, func(x, y int) uint8 { return uint8(x ^ y) })
	st, err := app.OpenStudy(second)
	if err != nil {
		t.Fatal(err)
	}
	draft := app.DraftPath(tp.env.Dirs, st.Key)
	if err := os.MkdirAll(filepath.Dir(draft), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(draft, []byte(`{"format": 999}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tp.OpenFile(second)
	tp.pump(func() bool { return strings.Contains(tp.dialogTexts(), "Cannot open the draft") })
	if chips := strings.Join(tp.chipTexts(), "|"); strings.Contains(chips, "present") {
		t.Errorf("the second film shows the first film's findings: %s", chips)
	}
}

// TestPanelSaveErrorBeforeShown: a save that failed before the panel
// showed the session is on screen once it does.
func TestPanelSaveErrorBeforeShown(t *testing.T) {
	ro, _ := apptest.ReadOnlyDir(t)
	tp := newTestPanel(t, PanelOptions{}, nil, func(env *app.Env, _ *app.Settings) {
		if err := os.MkdirAll(env.Dirs.Data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ro, filepath.Join(env.Dirs.Data, "drafts")); err != nil {
			t.Fatal(err)
		}
	})
	path := filepath.Join(t.TempDir(), "film.png")
	writePNG(t, path, 64, 64, func(x, y int) uint8 { return uint8(x + 2*y) })
	st, err := app.OpenStudy(path)
	if err != nil {
		t.Fatal(err)
	}
	// The session opens and fails a save while the panel is not showing
	// it yet: the report of that save finds no session on screen.
	tp.p.sessGen++
	tp.p.sessKey = st.Key
	sess, err := tp.p.sessions.acquire(tp.env.Dirs, st, app.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sess.SetText("Findings typed by a script.")
	if err := sess.Flush(); err == nil {
		t.Fatal("the save into a read-only folder succeeded")
	}
	tp.pump(func() bool { return len(tp.queue) == 0 })
	tp.p.sessionOpened(tp.p.sessGen, sess, nil)
	if !tp.p.saveLine.Visible() || !strings.Contains(tp.p.saveLine.Text, "draft not saved") {
		t.Errorf("the save error is not shown: visible %v, %q", tp.p.saveLine.Visible(), tp.p.saveLine.Text)
	}
}

// TestPanelAskFailsEarly: a follow-up question the model never got (here
// the model reports no image size) goes back into the question field.
func TestPanelAskFailsEarly(t *testing.T) {
	eng := newFakeEngine(words(reportText)...)
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	tp.p.Generate()
	tp.idle()
	tp.p.model.info.ImageSize = 0
	test.Type(tp.p.askEntry, "Is there a pneumothorax?")
	tp.p.Ask()
	tp.idle()
	if got := tp.p.askEntry.Text; got != "Is there a pneumothorax?" {
		t.Errorf("the question is lost: field %q", got)
	}
	if n := len(tp.p.sess.Draft().Thread); n != 0 {
		t.Errorf("%d thread entries", n)
	}
	tp.closeDialogs()
	// An answer that failed after it started stays in the thread: the
	// field is not filled again.
	tp.p.model.info.ImageSize = 64
	eng.mu.Lock()
	eng.crashAt = 1
	eng.mu.Unlock()
	tp.p.askEntry.SetText("Second question?")
	tp.p.Ask()
	tp.idle()
	if got := tp.p.askEntry.Text; got != "" {
		t.Errorf("the field holds %q although the thread has the question", got)
	}
	if th := tp.p.sess.Draft().Thread; len(th) != 1 || th[0].Question != "Second question?" {
		t.Errorf("thread %+v", th)
	}
}

// TestPanelReplaceAskedOnce: confirming "Replace the edited draft?" while
// the model is not loaded starts the draft once it is, without asking
// again.
func TestPanelReplaceAskedOnce(t *testing.T) {
	eng := newFakeEngine(words(reportText)...)
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	test.Type(tp.p.editor, "My own report.")
	tp.p.UnloadModel()
	tp.pump(func() bool { return tp.p.model.phase == modelIdle })
	tp.p.Generate()
	if !strings.Contains(tp.dialogTexts(), "Replace the edited draft?") {
		t.Fatalf("no confirmation: %q", tp.dialogTexts())
	}
	tp.tapDialogButton("Replace")
	tp.pump(func() bool { return tp.p.model.phase == modelReady && len(tp.queue) == 0 })
	if txt := tp.dialogTexts(); strings.Contains(txt, "Replace the edited draft?") {
		t.Fatalf("asked again once the model loaded: %q", txt)
	}
	tp.idle()
	if got := tp.p.sess.Text(); got != reportText {
		t.Errorf("after the confirmed replace: %q", got)
	}
}
