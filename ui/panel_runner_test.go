package ui

import (
	"strings"
	"testing"
	"time"

	"cxrview/app"
	"cxrview/app/apptest"
	"cxrview/engine"
	"cxrview/imaging/imagingtest"
)

// TestPanelRealRunner drives the panel with the real embedded runner and
// the tiny random-weight model on the CR film: the model loads off the UI
// goroutine, the draft streams into the editor piece by piece, it is
// labelled TEST MODEL, a follow-up question is answered in the thread, a
// killed runner mid-draft is reported with the text kept and the next
// draft works, and a pair imported through the Model menu's file dialogs
// replaces the model without a restart.
func TestPanelRealRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the inference engine; skipped with -short")
	}
	t.Setenv("CXRVIEW_ENGINE", apptest.EngineBinary(t))
	tp := newTestPanel(t, PanelOptions{MaxTokens: 24}, nil, func(env *app.Env, s *app.Settings) {
		importTiny(t, env, "tiny")
		s.Model = "tiny"
	})
	tp.ready()
	if !tp.p.model.info.TestModel || !strings.Contains(tp.p.modelText.Text, "tiny") || tp.p.model.info.Backend == "" {
		t.Fatalf("model state %+v", tp.p.model.info)
	}
	film := imagingtest.CRFilm(t)
	tp.open(film)

	// The draft streams: the editor shows several growing texts.
	tp.p.Generate()
	var seen []string
	deadline := time.Now().Add(2 * time.Minute)
	for tp.p.run != nil && time.Now().Before(deadline) {
		tp.pump(func() bool { return tp.p.run == nil || tp.p.editor.Text != last(seen) })
		if tx := tp.p.editor.Text; tx != last(seen) {
			if !strings.HasPrefix(tx, last(seen)) {
				t.Fatalf("the streamed text changed its beginning: %q → %q", last(seen), tx)
			}
			seen = append(seen, tx)
		}
	}
	tp.idle()
	text := tp.p.sess.Text()
	if len(seen) < 3 || text == "" || tp.p.editor.Text != text {
		t.Fatalf("streaming: %d texts seen, final %q, editor %q", len(seen), text, tp.p.editor.Text)
	}
	d := tp.p.sess.Draft()
	if d.AI == nil || !d.AI.Model.TestModel || d.AI.Model.Name != "tiny" || d.AI.Model.SHA256 == "" {
		t.Fatalf("AI record %+v", d.AI)
	}
	texts := tp.texts()
	for _, w := range []string{app.LabelTestModel, "tokens in", "tokens/s"} {
		if !strings.Contains(texts, w) {
			t.Errorf("%q not shown after the draft", w)
		}
	}
	t.Logf("streamed %d updates: %q", len(seen), text)

	// A follow-up question, in the same conversation.
	tp.p.askEntry.SetText("Is there an effusion?")
	tp.p.Ask()
	tp.idle()
	if th := tp.p.sess.Draft().Thread; len(th) != 1 || th[0].Answer == "" || !strings.Contains(tp.texts(), "Q: Is there an effusion?") {
		t.Fatalf("thread %+v", th)
	}

	// The runner dies mid-draft: the text so far stays, the error shows,
	// and the next draft restarts the runner.
	tp.p.opts.MaxTokens = 400
	tp.p.Generate()
	tp.pump(func() bool { return tp.p.run == nil || tp.p.editor.Text != "" && tp.p.editor.Text != text })
	r, ok := tp.p.eng.(*engine.Runner)
	if !ok {
		t.Fatalf("engine %T", tp.p.eng)
	}
	r.Kill()
	tp.idle()
	partial := tp.p.sess.Text()
	if partial == "" || tp.p.editor.Text != partial {
		t.Fatalf("after the kill: session %q editor %q", partial, tp.p.editor.Text)
	}
	if dt := tp.dialogTexts(); !strings.Contains(dt, "The inference engine stopped") {
		t.Fatalf("no crash dialog: %q", dt)
	}
	tp.closeDialogs()
	tp.p.opts.MaxTokens = 16
	tp.p.Generate()
	tp.idle()
	if g := tp.p.sess.Draft().AI; g == nil || g.Stop == "error" || tp.p.sess.Text() == "" || tp.p.sess.Text() == partial {
		t.Fatalf("the draft after the crash: %+v", g)
	}

	// Import through Model → Import GGUF Files…: two file dialogs, the
	// notice, and the new model loads in place of the old one.
	textFile, projFile := tinyPair(t)
	ch := &seqChooser{files: []string{textFile, projFile}}
	tp.Viewer.chooser = ch
	findMenuItem(t, tp.win.MainMenu(), "Model", "Import GGUF Files…").Action()
	tp.pump(func() bool { return strings.Contains(tp.dialogTexts(), "Model imported") })
	if len(ch.titles) != 2 || !strings.Contains(ch.titles[0], "language model") || !strings.Contains(ch.titles[1], "projector") {
		t.Errorf("file dialog titles %q", ch.titles)
	}
	if dt := tp.dialogTexts(); !strings.Contains(dt, "TEST MODEL: random weights") {
		t.Errorf("import notice %q", dt)
	}
	tp.pump(func() bool { return tp.p.model.phase == modelReady && tp.p.model.choice.Name == "tiny-f16" })
	if s, _ := tp.savedSettings(); s.Model != "tiny-f16" {
		t.Errorf("settings model %q", s.Model)
	}
	if !strings.Contains(strings.Join(menuTexts(tp.win.MainMenu()), "|"), "tiny-f16 — TEST MODEL") {
		t.Errorf("Model menu: %q", menuTexts(tp.win.MainMenu()))
	}
}

func last(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1]
}
