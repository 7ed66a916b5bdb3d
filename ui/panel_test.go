package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"cxrview/app"
	"cxrview/app/apptest"
	"cxrview/app/findings"
	"cxrview/engine"
)

// reportText is what the fake model writes: one finding present, two
// absent, one uncertain, two not mentioned.
const reportText = "Findings: The heart size is normal. There is a small left pleural effusion. No pneumothorax. " +
	"Possible consolidation in the left lower lobe.\nImpression: Small left pleural effusion."

// words splits s into pieces of one word and its trailing space, as a
// tokenizer streams it.
func words(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexAny(s, " \n")
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

const fakeHost = "http://gpu-server:11434"

func fakeEngines(e *fakeEngine) map[string]*fakeEngine {
	return map[string]*fakeEngine{app.EngineOllama + " " + fakeHost: e}
}

// TestPanelStreamsDraft generates with a fake engine one piece at a time:
// the editor shows each piece as it arrives and cannot be edited meanwhile,
// the chips follow the text as it streams, the elapsed time and tokens
// per second show, and at the end the editor holds the session's text,
// labelled as an AI draft, saved to disk.
func TestPanelStreamsDraft(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.step = make(chan struct{})
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	if got := tp.p.modelText.Text; !strings.Contains(got, "cxr-llava") || !strings.Contains(got, "CPU (fake)") {
		t.Errorf("model status %q", got)
	}
	tp.openPNG("film.png")

	// Ctrl+G is the Report menu's shortcut; the window fires the item.
	gen := findMenuItem(t, tp.win.MainMenu(), "Report", "Generate Draft")
	if sc, ok := gen.Shortcut.(fyne.KeyboardShortcut); !ok || sc.Key() != fyne.KeyG || sc.Mod() != fyne.KeyModifierShortcutDefault {
		t.Fatalf("Generate Draft has no Ctrl+G: %#v", gen.Shortcut)
	}
	gen.Action()
	if !tp.p.Running() || !tp.p.editor.readOnly || !tp.p.genBtn.Disabled() || tp.p.stopBtn.Disabled() {
		t.Fatalf("while generating: running %v read-only %v generate enabled %v stop enabled %v",
			tp.p.Running(), tp.p.editor.readOnly, !tp.p.genBtn.Disabled(), !tp.p.stopBtn.Disabled())
	}
	sentEffusion := false
	for i := range pieces {
		eng.step <- struct{}{}
		want := strings.Join(pieces[:i+1], "")
		tp.pump(func() bool { return tp.p.editor.Text == want })
		if i == 0 {
			tp.checkStacked("after the first piece")
		}
		if i < len(pieces)-1 && (!tp.p.signBtn.Disabled() || !tp.p.exportBtn.Disabled() || !tp.p.discardBtn.Disabled() || !tp.p.askBtn.Disabled()) {
			t.Fatalf("piece %d: Sign %v, Export %v, Discard %v, Ask %v enabled while the model writes", i,
				!tp.p.signBtn.Disabled(), !tp.p.exportBtn.Disabled(), !tp.p.discardBtn.Disabled(), !tp.p.askBtn.Disabled())
		}
		if i == 3 {
			// Typing is refused while the model writes.
			test.Type(tp.p.editor, "XYZ")
			if tp.p.editor.Text != want {
				t.Fatalf("the editor took typing during generation: %q", tp.p.editor.Text)
			}
			if info := tp.p.runInfo.Text; !strings.Contains(info, "tokens") || !strings.Contains(info, "tokens/s") {
				t.Errorf("run info while streaming: %q", info)
			}
			if !strings.Contains(tp.texts(), app.LabelAIDraft) {
				t.Error("no AI draft label while streaming")
			}
		}
		if strings.Contains(want, "pleural effusion.") && !sentEffusion {
			sentEffusion = true
			// The chips follow the stream (after their short debounce).
			tp.pump(func() bool { return strings.Contains(strings.Join(tp.chipTexts(), "|"), "Pleural effusion: present") })
		}
	}
	tp.idle()
	sess := tp.p.sess
	if tp.p.editor.Text != reportText || sess.Text() != reportText || sess.Status() != app.StatusAIDraft {
		t.Fatalf("after the draft: editor %q, session %q, status %s", tp.p.editor.Text, sess.Text(), sess.Status())
	}
	if tp.p.editor.readOnly || tp.p.stopBtn.Visible() && !tp.p.stopBtn.Disabled() {
		t.Error("the editor is still read-only, or Stop still enabled")
	}
	if tp.p.genBtn.Text != "Regenerate" {
		t.Errorf("the Generate button says %q after a draft", tp.p.genBtn.Text)
	}
	tp.pump(func() bool { return tp.p.chips.text == reportText })
	want := map[string]bool{
		"− Cardiomegaly: absent": true, "? Consolidation: uncertain": true, "· Edema: not mentioned": true,
		"+ Pleural effusion: present": true, "· Pneumonia: not mentioned": true, "− Pneumothorax: absent": true,
	}
	for _, c := range tp.chipTexts() {
		if !want[c] {
			t.Errorf("chip %q", c)
		}
	}
	texts := tp.texts()
	for _, w := range []string{app.LabelAIDraft, app.LabelPreliminary, "PRELIMINARY · AI draft"} {
		if !strings.Contains(texts, w) {
			t.Errorf("%q is not shown after the draft", w)
		}
	}
	if err := sess.Flush(); err != nil {
		t.Fatal(err)
	}
	d, err := app.LoadDraft(tp.env.Dirs, sess.Study().Key)
	if err != nil || d.Text != reportText || d.AI == nil || !d.AI.Complete || d.AI.Model.Name != "cxr-llava" {
		t.Fatalf("saved draft: %+v, %v", d, err)
	}
	// The model saw the film through the window on screen.
	reqs := eng.requestList()
	if len(reqs) != 1 || reqs[0].Image == nil || reqs[0].Image.Bounds().Dx() != 64 {
		t.Fatalf("requests %d", len(reqs))
	}
	if v := d.AI.View; v == nil || v.Center != tp.vp.View().Window.Center || v.Width != tp.vp.View().Window.Width {
		t.Errorf("the draft's window %+v, the screen's %+v", d.AI.View, tp.vp.View().Window)
	}
}

// TestPanelStopAndEsc: Esc stops a running generation (the text so far is
// kept, marked incomplete) and otherwise keeps its viewer meaning (back
// to the pan tool).
func TestPanelStopAndEsc(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.step = make(chan struct{})
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	esc := func() { tp.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape}) }

	tp.win.Canvas().OnTypedRune()('m')
	if _, ok := tp.vp.Tool().(distanceTool); !ok {
		t.Fatal("M did not choose the distance tool")
	}
	tp.p.Generate()
	for i := range 3 {
		eng.step <- struct{}{}
		want := strings.Join(pieces[:i+1], "")
		tp.pump(func() bool { return tp.p.editor.Text == want })
	}
	esc()
	if _, ok := tp.vp.Tool().(distanceTool); !ok {
		t.Error("Esc during generation also changed the tool")
	}
	tp.idle()
	partial := strings.Join(pieces[:3], "")
	if tp.p.sess.Text() != partial || tp.p.editor.Text != partial {
		t.Fatalf("after Stop: session %q editor %q", tp.p.sess.Text(), tp.p.editor.Text)
	}
	texts := tp.texts()
	for _, w := range []string{"INCOMPLETE — generation stopped by the user", "Stopped: the text so far is kept"} {
		if !strings.Contains(texts, w) {
			t.Errorf("%q not shown after Stop:\n%s", w, texts)
		}
	}
	if tp.p.editor.readOnly {
		t.Error("the editor stays read-only after Stop")
	}
	// Esc with nothing running: the pan tool, as before.
	esc()
	if _, ok := tp.vp.Tool().(panTool); !ok {
		t.Errorf("Esc without a generation: tool %T", tp.vp.Tool())
	}
	// Esc typed into the editor stops too.
	eng.step = make(chan struct{})
	tp.p.Generate()
	eng.step <- struct{}{}
	tp.pump(func() bool { return tp.p.editor.Text == pieces[0] })
	tp.p.editor.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	tp.idle()
	if tp.p.sess.Text() != pieces[0] {
		t.Errorf("Esc in the editor: %q", tp.p.sess.Text())
	}
	// And Esc in the question field stops an answer.
	eng.answer = words("The answer goes on and on")
	tp.p.askEntry.SetText("Why?")
	tp.p.Ask()
	eng.step <- struct{}{}
	tp.pump(func() bool { th := tp.p.sess.Draft().Thread; return len(th) == 1 && th[0].Answer == "The " })
	tp.p.askEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	tp.idle()
	if th := tp.p.sess.Draft().Thread; th[0].Answer != "The " || th[0].Stop != "cancelled" {
		t.Errorf("Esc in the question field: %+v", th[0])
	}
	if !strings.Contains(tp.texts(), "INCOMPLETE — stopped") {
		t.Error("the stopped answer is not marked incomplete")
	}
}

// TestPanelEngineCrash: the runner dies mid-generation; the text so far
// stays, the error is shown, and the next Generate works.
func TestPanelEngineCrash(t *testing.T) {
	pieces := words(reportText)
	eng := newFakeEngine(pieces...)
	eng.crashAt = 4
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	tp.p.Generate()
	tp.idle()
	partial := strings.Join(pieces[:4], "")
	if tp.p.sess.Text() != partial || tp.p.editor.Text != partial {
		t.Fatalf("after the crash: session %q editor %q", tp.p.sess.Text(), tp.p.editor.Text)
	}
	texts := tp.dialogTexts()
	for _, w := range []string{"The inference engine stopped", "kept", "restarts with the next request"} {
		if !strings.Contains(texts, w) {
			t.Errorf("the crash dialog lacks %q: %s", w, texts)
		}
	}
	if !strings.Contains(tp.texts(), "INCOMPLETE — the model failed") {
		t.Error("the partial draft is not marked incomplete")
	}
	tp.closeDialogs()
	// The partial AI text is unchanged, so regenerating asks nothing.
	tp.p.Generate()
	if tp.win.Canvas().Overlays().Top() != nil {
		t.Fatalf("regenerating an unedited draft asked: %s", tp.dialogTexts())
	}
	tp.idle()
	if tp.p.sess.Text() != reportText || tp.p.sess.Status() != app.StatusAIDraft {
		t.Errorf("the generation after the crash: %q %s", tp.p.sess.Text(), tp.p.sess.Status())
	}
}

// TestPanelRegenerateAsks: a draft with the reader's edits is replaced
// only after a confirmation.
func TestPanelRegenerateAsks(t *testing.T) {
	eng := newFakeEngine(words(reportText)...)
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	tp.p.Generate()
	tp.idle()
	tp.p.focusEditor()
	test.Type(tp.p.editor, " Reader's note.")
	edited := reportText + " Reader's note."
	if tp.p.sess.Text() != edited || tp.p.sess.Status() != app.StatusEdited {
		t.Fatalf("after typing: %q %s", tp.p.sess.Text(), tp.p.sess.Status())
	}
	tp.p.Generate()
	if !strings.Contains(tp.dialogTexts(), "Replace the edited draft?") {
		t.Fatalf("no confirmation: %q", tp.dialogTexts())
	}
	tp.tapDialogButton("Cancel")
	tp.idle()
	if len(eng.requestList()) != 1 || tp.p.sess.Text() != edited {
		t.Fatalf("Cancel still generated: %d requests, %q", len(eng.requestList()), tp.p.sess.Text())
	}
	tp.p.Generate()
	tp.tapDialogButton("Replace")
	tp.idle()
	if len(eng.requestList()) != 2 || tp.p.sess.Text() != reportText {
		t.Fatalf("Replace: %d requests, %q", len(eng.requestList()), tp.p.sess.Text())
	}
}

// TestPanelFollowUp asks a question under the draft: the answer streams
// into the thread, and the request continues the draft's conversation.
func TestPanelFollowUp(t *testing.T) {
	eng := newFakeEngine(words(reportText)...)
	eng.answer = words("The effusion is small, on the left.")
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	tp.p.Generate()
	tp.idle()
	test.Type(tp.p.askEntry, "How large is the effusion?")
	tp.p.askEntry.OnSubmitted(tp.p.askEntry.Text)
	tp.idle()
	reqs := eng.requestList()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	turns := reqs[1].Turns
	if len(turns) != 2 || turns[0].Assistant != reportText || turns[1].User != "How large is the effusion?" {
		t.Fatalf("follow-up turns %+v", turns)
	}
	texts := tp.texts()
	for _, w := range []string{"Q: How large is the effusion?", "The effusion is small, on the left.", "AI answer — requires radiologist review"} {
		if !strings.Contains(texts, w) {
			t.Errorf("the thread lacks %q", w)
		}
	}
	if tp.p.askEntry.Text != "" {
		t.Errorf("the question stays in the field: %q", tp.p.askEntry.Text)
	}
	if tp.p.sess.Text() != reportText {
		t.Error("the answer changed the report")
	}
	// Another film has its own (empty) thread; going back restores this
	// film's draft and thread.
	first := tp.p.sess.Study().Path
	tp.openPNG("other.png")
	if strings.Contains(tp.texts(), "How large") || tp.p.editor.Text != "" {
		t.Errorf("another film shows this film's draft or thread: %s", tp.texts())
	}
	tp.open(first)
	if !strings.Contains(tp.texts(), "Q: How large is the effusion?") || tp.p.editor.Text != reportText {
		t.Errorf("reopening the film did not restore its thread and draft: %s", tp.texts())
	}
}

// TestPanelQuestionPreset: the "Ask a question" preset sends the typed
// question as the first turn; an empty question sends nothing.
func TestPanelQuestionPreset(t *testing.T) {
	eng := newFakeEngine(words("No, the heart is normal.")...)
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "cxr-llava"))
	tp.ready()
	tp.openPNG("film.png")
	findMenuItem(t, tp.win.MainMenu(), "Report", "Prompt") // the presets are a submenu
	tp.p.presetSel.SetSelected(engine.PresetQuestion.Title())
	if !tp.p.question.Visible() {
		t.Fatal("the question field is hidden for Ask a question")
	}
	tp.p.Generate()
	tp.idle()
	if n := len(eng.requestList()); n != 0 || !strings.Contains(tp.p.statusLine.Text, "Type the question first") {
		t.Fatalf("an empty question: %d requests, status %q", n, tp.p.statusLine.Text)
	}
	test.Type(tp.p.question, "Is the heart enlarged?")
	tp.p.question.OnSubmitted(tp.p.question.Text)
	tp.idle()
	reqs := eng.requestList()
	if len(reqs) != 1 || reqs[0].Turns[0].User != "Is the heart enlarged?" {
		t.Fatalf("requests %+v", reqs)
	}
	if d := tp.p.sess.Draft(); d.AI == nil || d.AI.Preset != engine.PresetQuestion || d.Text != "No, the heart is normal." {
		t.Errorf("draft %+v", d.AI)
	}
	tp.p.presetSel.SetSelected(engine.PresetDDx.Title())
	if tp.p.question.Visible() || tp.p.preset != engine.PresetDDx {
		t.Error("choosing Differential diagnosis")
	}
}

// TestPanelTeachingHidesIdentity: in teaching mode nothing the panel shows
// names the patient: not the file name in an export error, not the draft's
// path (a UID) in a save error.
func TestPanelTeachingHidesIdentity(t *testing.T) {
	ro, writable := apptest.ReadOnlyDir(t)
	defer writable()
	tp := newTestPanel(t, PanelOptions{Session: app.SessionOptions{RetryDelay: 50e6}}, nil, func(env *app.Env, s *app.Settings) {
		s.TeachingMode = true
		// Drafts cannot be saved: the error names the draft file, whose
		// name is the film's SOP Instance UID.
		if err := os.MkdirAll(env.Dirs.Data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ro, filepath.Join(env.Dirs.Data, "drafts")); err != nil {
			t.Fatal(err)
		}
	})
	path, identifying := identifiedStudy(t, t.TempDir())
	identifying = append(identifying, "1.2.826.0.1.3680043.10.9999.1")
	tp.open(path)
	if !tp.p.teaching {
		t.Fatal("the panel does not know teaching mode is on")
	}
	test.Type(tp.p.editor, "Normal chest.")
	tp.pump(func() bool { return tp.p.saveLine.Visible() })
	// An export into a read-only folder.
	tp.Viewer.chooser = &seqChooser{folder: ro}
	tp.p.Export(app.FormatText, false)
	tp.pump(func() bool { return tp.win.Canvas().Overlays().Top() != nil })
	if hits := containsAny(canvasTexts(tp.win, true), identifying); len(hits) > 0 {
		t.Errorf("teaching mode shows identifying text: %q", hits)
	}
	if !strings.Contains(tp.p.saveLine.Text, "the draft file") {
		t.Errorf("save error %q", tp.p.saveLine.Text)
	}
}

// TestPanelTestModelLabels: a random-weight model's text is labelled
// TEST MODEL wherever it appears (model line, labels over the report, the
// thread, the status bar), cannot be signed or exported as SR or FHIR, and
// Discard clears it.
func TestPanelTestModelLabels(t *testing.T) {
	eng := newFakeEngine(words("w33f M * w5 N w19nk a e T i")...)
	eng.info.TestModel = true
	eng.answer = words("K K K")
	tp := newTestPanel(t, PanelOptions{}, fakeEngines(eng), withOllama(fakeHost, "tiny"))
	tp.ready()
	if !tp.p.modelTag.Visible() || tp.p.modelTag.Text != "TEST MODEL" || !strings.Contains(tp.status.engine.Text, "TEST MODEL (random weights, not a report)") {
		t.Errorf("the model line or status bar lacks TEST MODEL: %q / %q", tp.p.modelTag.Text, tp.status.engine.Text)
	}
	tp.openPNG("film.png")
	tp.p.Generate()
	tp.idle()
	test.Type(tp.p.askEntry, "Anything else?")
	tp.p.Ask()
	tp.idle()
	texts := tp.texts()
	if !strings.Contains(texts, app.LabelTestModel) {
		t.Errorf("no %q over the draft", app.LabelTestModel)
	}
	if n := strings.Count(texts, "TEST MODEL"); n < 3 {
		t.Errorf("TEST MODEL shown %d times (model, report, thread)", n)
	}
	if ls := tp.p.sess.Labels(); len(ls) == 0 || ls[0] != app.LabelTestModel {
		t.Errorf("labels %q", ls)
	}
	// Edited text stays a TEST MODEL draft.
	tp.p.focusEditor()
	test.Type(tp.p.editor, " The heart is normal.")
	if !strings.Contains(tp.texts(), app.LabelTestModel) {
		t.Error("editing removed the TEST MODEL label")
	}
	if !tp.p.signBtn.Disabled() || !strings.Contains(tp.p.signInfo.Text, "TEST MODEL draft is never signed") {
		t.Errorf("Sign enabled %v, info %q", !tp.p.signBtn.Disabled(), tp.p.signInfo.Text)
	}
	dir := t.TempDir()
	tp.Viewer.chooser = &seqChooser{folder: dir}
	tp.p.Export(app.FormatSR, false)
	tp.idle()
	tp.pump(func() bool { return tp.win.Canvas().Overlays().Top() != nil })
	if txt := tp.dialogTexts(); !strings.Contains(txt, "TEST MODEL draft is never written") || !strings.Contains(txt, "intact") {
		t.Errorf("SR export of a TEST MODEL draft: %q", txt)
	}
	tp.closeDialogs()
	tp.p.Discard()
	tp.tapDialogButton("Discard")
	if tp.p.sess.Text() != "" || tp.p.sess.Draft().AI != nil || strings.Contains(tp.texts(), "TEST MODEL — not a report") {
		t.Errorf("after Discard: %q", tp.p.sess.Text())
	}
}

// TestPanelChipSelectsSentence: typing updates the chips, and tapping a
// chip selects the sentence that decided it.
func TestPanelChipSelectsSentence(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil) // no model: writing by hand
	tp.openPNG("film.png")
	tp.p.focusEditor()
	test.Type(tp.p.editor, reportText)
	tp.pump(func() bool { return tp.p.chips.text == reportText })
	for _, o := range []struct {
		obs      findings.Observation
		sentence string
	}{
		{findings.PleuralEffusion, "There is a small left pleural effusion."},
		{findings.Pneumothorax, "No pneumothorax."},
		{findings.Consolidation, "Possible consolidation in the left lower lobe."},
	} {
		var c *chip
		for _, x := range tp.p.chips.chips {
			if x.obs == o.obs {
				c = x
			}
		}
		test.Tap(c)
		if got := tp.p.editor.SelectedText(); got != o.sentence {
			t.Errorf("%s chip selected %q, want %q", o.obs, got, o.sentence)
		}
	}
	// Edits change the chips.
	tp.p.editor.SetText("Moderate cardiomegaly. Mild pulmonary edema.")
	tp.pump(func() bool { return strings.Contains(strings.Join(tp.chipTexts(), "|"), "Cardiomegaly: present") })
	if got := strings.Join(tp.chipTexts(), "|"); !strings.Contains(got, "+ Edema: present") || !strings.Contains(got, "· Pleural effusion: not mentioned") {
		t.Errorf("chips after the edit: %s", got)
	}
	if tp.p.sess.Text() != "Moderate cardiomegaly. Mild pulmonary edema." {
		t.Error("the edit did not reach the session")
	}
}

// TestPanelSignFlow signs a hand-written report: the reader's name is
// asked once and kept in the settings, the report becomes final with the
// time, and an edit after it is an unsigned amendment.
func TestPanelSignFlow(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	tp.openPNG("film.png")
	if !tp.p.signBtn.Disabled() {
		t.Error("Sign is enabled for an empty report")
	}
	test.Type(tp.p.editor, "No acute cardiopulmonary abnormality.")
	if tp.p.signBtn.Disabled() {
		t.Fatalf("Sign is disabled: %v", tp.p.sess.CanSign())
	}
	findMenuItem(t, tp.win.MainMenu(), "Report", "Sign Report…").Action()
	// The name is asked for first.
	es := findEntries(tp.win.Canvas().Overlays().Top())
	if len(es) != 1 || !strings.Contains(tp.dialogTexts(), "Reader name") {
		t.Fatalf("no name dialog: %q", tp.dialogTexts())
	}
	test.Type(es[0], "Dr A. Reader")
	tp.tapDialogButton("Continue")
	if !strings.Contains(tp.dialogTexts(), "Sign as Dr A. Reader") {
		t.Fatalf("no confirmation: %q", tp.dialogTexts())
	}
	tp.tapDialogButton("Sign")
	if !tp.p.editor.readOnly {
		t.Error("the editor takes typing while the signature is written")
	}
	tp.pump(func() bool { return !tp.p.signing })
	if tp.p.editor.readOnly {
		t.Error("the editor stays read-only after signing")
	}
	if st := tp.p.sess.Status(); st != app.StatusFinal {
		t.Fatalf("status after signing: %s", st)
	}
	if s, _ := tp.savedSettings(); s.ReaderName != "Dr A. Reader" {
		t.Errorf("the reader name was not saved: %q", s.ReaderName)
	}
	texts := tp.texts()
	for _, w := range []string{"FINAL", "Signed by Dr A. Reader on"} {
		if !strings.Contains(texts, w) {
			t.Errorf("%q not shown after signing", w)
		}
	}
	if strings.Contains(texts, app.LabelPreliminary) {
		t.Error("a signed report still says preliminary")
	}
	// The second signature does not ask for the name again.
	test.Type(tp.p.editor, " Addendum.")
	if st := tp.p.sess.Status(); st != app.StatusAmending {
		t.Fatalf("after editing a signed report: %s", st)
	}
	if !tp.p.genBtn.Disabled() {
		t.Error("Generate is enabled on a signed report")
	}
	tp.p.Sign()
	if !strings.Contains(tp.dialogTexts(), "amended version") {
		t.Fatalf("amendment confirmation: %q", tp.dialogTexts())
	}
	tp.tapDialogButton("Sign")
	tp.pump(func() bool { return !tp.p.signing })
	if st := tp.p.sess.Status(); st != app.StatusAmended || !strings.Contains(tp.texts(), "AMENDED") {
		t.Errorf("after the second signature: %s", st)
	}
}

// TestPanelExport writes a text export through the folder dialog, shows a
// read-only folder's error with the draft intact, and in teaching mode
// anonymises and does not start the dialog in the film's folder.
func TestPanelExport(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	film := tp.openPNG("DOE_JANE.png")
	test.Type(tp.p.editor, "No acute abnormality.")
	out := t.TempDir()
	ch := &seqChooser{folder: out}
	tp.Viewer.chooser = ch
	tp.p.Export(app.FormatText, false)
	tp.pump(func() bool { return strings.Contains(tp.p.statusLine.Text, "Exported") })
	if len(ch.starts) != 1 || ch.starts[0] != filepath.Dir(film) || !strings.Contains(ch.titles[0], "Plain text") {
		t.Errorf("folder dialog: titles %q starts %q", ch.titles, ch.starts)
	}
	b, err := os.ReadFile(filepath.Join(out, "DOE_JANE.report.txt"))
	if err != nil || !strings.Contains(string(b), "No acute abnormality.") || !strings.Contains(string(b), "PRELIMINARY") {
		t.Fatalf("export: %v\n%s", err, b)
	}

	ro, _ := apptest.ReadOnlyDir(t)
	ch.folder = ro
	tp.p.Export(app.FormatMarkdown, false)
	tp.pump(func() bool { return tp.win.Canvas().Overlays().Top() != nil })
	if txt := tp.dialogTexts(); !strings.Contains(txt, "Export failed") || !strings.Contains(txt, "intact") {
		t.Errorf("read-only export: %q", txt)
	}
	if tp.p.editor.Text != "No acute abnormality." || tp.p.sess.Text() != "No acute abnormality." {
		t.Error("a failed export changed the draft")
	}
	tp.closeDialogs()

	// Teaching mode: anonymised, and the dialog starts elsewhere.
	tp.win.Canvas().OnTypedRune()('t')
	if !tp.p.teaching {
		t.Fatal("teaching mode did not reach the panel")
	}
	anon := t.TempDir()
	ch.folder = anon
	tp.p.Export(app.FormatMarkdown, false)
	tp.pump(func() bool { return strings.Contains(tp.p.statusLine.Text, "Exported") })
	// Nor in a folder of an export made before teaching mode: it may be
	// the patient's.
	if start := ch.starts[len(ch.starts)-1]; start == filepath.Dir(film) || start == out || start == ro {
		t.Errorf("teaching mode: the dialog starts in %s, the film's folder or one chosen before teaching mode", start)
	}
	ents, _ := os.ReadDir(anon)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "anon-") {
		t.Fatalf("teaching-mode export: %v", ents)
	}
	if strings.Contains(tp.texts(), "DOE_JANE") {
		t.Error("teaching mode shows the file name")
	}
	if !slicesContain(menuTexts(tp.win.MainMenu()), "Anonymise (always, in teaching mode)") {
		t.Error("the Export menu does not say exports are anonymised")
	}
}

// TestPanelSaveError: a draft that cannot be saved says so in red; the
// text stays in the editor and is saved once the folder is writable.
func TestPanelSaveError(t *testing.T) {
	ro, writable := apptest.ReadOnlyDir(t)
	tp := newTestPanel(t, PanelOptions{Session: app.SessionOptions{RetryDelay: 50e6}}, nil, func(env *app.Env, _ *app.Settings) {
		if err := os.MkdirAll(env.Dirs.Data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ro, filepath.Join(env.Dirs.Data, "drafts")); err != nil {
			t.Fatal(err)
		}
	})
	tp.openPNG("film.png")
	test.Type(tp.p.editor, "Text that must not be lost.")
	tp.pump(func() bool { return tp.p.saveLine.Visible() })
	tp.checkStacked("with a save error")
	if txt := tp.p.saveLine.Text; !strings.Contains(txt, "draft not saved") || !strings.Contains(txt, "keeps trying") {
		t.Errorf("save error line %q", txt)
	}
	if tp.p.editor.Text != "Text that must not be lost." {
		t.Error("the editor lost the text")
	}
	writable()
	tp.pump(func() bool { return !tp.p.saveLine.Visible() })
	if !strings.Contains(tp.p.statusLine.Text, "saved") {
		t.Errorf("status line after the save: %q", tp.p.statusLine.Text)
	}
	d, err := app.LoadDraft(tp.env.Dirs, tp.p.sess.Study().Key)
	if err != nil || d.Text != "Text that must not be lost." {
		t.Fatalf("after the retry: %v %+v", err, d)
	}
}

// TestPanelKeysInHelp: the panel's bindings are in Help → Keyboard
// Shortcuts and in the Report menu.
func TestPanelKeysInHelp(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	findMenuItem(t, tp.win.MainMenu(), "Help", "Keyboard Shortcuts").Action()
	shown := canvasTexts(tp.win, false)
	for _, b := range tp.p.bindings() {
		if !slicesContain(shown, b.keys) || !slicesContain(shown, b.what) {
			t.Errorf("the help lacks %q — %q", b.keys, b.what)
		}
	}
	tp.closeDialogs()
	for _, label := range []string{"Generate Draft", "Stop", "Edit Report", "Ask a Follow-up Question", "Sign Report…", "Discard Draft…", "Export"} {
		findMenuItem(t, tp.win.MainMenu(), "Report", label)
	}
	// Ctrl shortcuts fire through the menu only: each needs an item.
	var items []*fyne.MenuItem
	var walk func([]*fyne.MenuItem)
	walk = func(its []*fyne.MenuItem) {
		for _, it := range its {
			items = append(items, it)
			if it.ChildMenu != nil {
				walk(it.ChildMenu.Items)
			}
		}
	}
	for _, m := range tp.win.MainMenu().Items {
		walk(m.Items)
	}
	for _, b := range tp.p.bindings() {
		if b.short == nil {
			continue
		}
		found := false
		for _, it := range items {
			if it.Shortcut != nil && it.Shortcut.ShortcutName() == b.short.ShortcutName() {
				found = true
			}
		}
		if !found {
			t.Errorf("%s (%s) has no menu item: the key would do nothing", b.keys, b.what)
		}
	}
	if it := findMenuItem(t, tp.win.MainMenu(), "Report", "Stop"); !it.Disabled {
		t.Error("Stop is enabled with nothing running")
	}
}

// TestAbout: Help → About gives the version, the model's licence, the
// citation, the limitations and the regulatory status.
func TestAbout(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	findMenuItem(t, tp.win.MainMenu(), "Help", "About cxrview").Action()
	txt := tp.dialogTexts()
	for _, w := range []string{"cxrview test", "CC BY-NC 4.0", "Llama 2 Community License", "European Radiology",
		"10.1007/s00330-024-11339-6", "72.7%", "84.0%", "0.81", "not a medical device", "Not a medical device"} {
		if !strings.Contains(txt, w) {
			t.Errorf("About lacks %q", w)
		}
	}
}

// TestPanelNoModel: with no model installed the panel explains the three
// ways to get one, with a button each, and writing by hand still works.
func TestPanelNoModel(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	tp.pump(func() bool { return tp.p.model.phase == modelNone })
	texts := tp.texts()
	for _, w := range []string{"No model installed", "Import GGUF files…", "Convert the Hugging Face checkpoint…", "Connect to an Ollama server…"} {
		if !strings.Contains(texts, w) {
			t.Errorf("%q is not shown without a model", w)
		}
	}
	tp.openPNG("film.png")
	tp.checkStacked("without a model")
	if !tp.p.genBtn.Disabled() || tp.p.editor.Disabled() {
		t.Errorf("without a model: Generate enabled %v, editor disabled %v", !tp.p.genBtn.Disabled(), tp.p.editor.Disabled())
	}
	// The convert button shows the exact command.
	test.Tap(findButton(tp.p.setup, "Convert the Hugging Face checkpoint…"))
	if txt := tp.dialogTexts(); !strings.Contains(txt, "model convert --from") || !strings.Contains(txt, "ECOFRI/CXR-LLAVA-v2") {
		t.Errorf("convert dialog: %q", txt)
	}
	tp.closeDialogs()
	// The Ollama button opens the engine settings on the server part.
	test.Tap(findButton(tp.p.setup, "Connect to an Ollama server…"))
	if f := tp.engineForm(); f == nil || f.kind.Selected != engineOllamaTitle || !f.remote.Visible() || f.embedded.Visible() {
		t.Error("the Ollama button did not open the server settings")
	}
}

// TestEngineSettingsSwitch switches from one Ollama server to another and
// to the embedded runner through Model → Engine Settings: each change takes
// effect without a restart, and the old engine is closed.
func TestEngineSettingsSwitch(t *testing.T) {
	first, second := newFakeEngine("a "), newFakeEngine("b ")
	local := newFakeEngine("c ")
	engines := map[string]*fakeEngine{
		app.EngineOllama + " " + fakeHost: first,
		app.EngineOllama + " other":       second,
		app.EngineEmbedded + " ":          local,
	}
	tp := newTestPanel(t, PanelOptions{}, engines, withOllama(fakeHost, "cxr-llava"),
		func(env *app.Env, _ *app.Settings) { importTiny(t, env, "tiny") })
	tp.ready()
	tp.openPNG("film.png")

	findMenuItem(t, tp.win.MainMenu(), "Model", "Engine Settings…").Action()
	f := tp.engineForm()
	if f.kind.Selected != engineOllamaTitle || f.host.Text != fakeHost || f.ollama.Text != "cxr-llava" {
		t.Fatalf("the dialog does not show the settings: %q %q %q", f.kind.Selected, f.host.Text, f.ollama.Text)
	}
	f.host.SetText("other")
	f.contextO.SetText("100")
	tp.tapDialogButton("Save")
	if !f.errLabel.Visible() || !strings.Contains(f.errLabel.Text, "Context") {
		t.Fatalf("a context of 100 was accepted: %q", f.errLabel.Text)
	}
	f.contextO.SetText("8192")
	tp.tapDialogButton("Save")
	tp.ready()
	if s, _ := tp.savedSettings(); s.OllamaHost != "other" || s.Context != 8192 {
		t.Errorf("saved %q %d", s.OllamaHost, s.Context)
	}
	tp.p.Generate()
	tp.idle()
	tp.pump(first.isClosed)
	if tp.p.sess.Text() != "b " {
		t.Fatalf("after switching servers: text %q", tp.p.sess.Text())
	}
	if l := second.lastLoad(); l.Text != "cxr-llava" || l.Context != 8192 {
		t.Errorf("load spec %+v", l)
	}

	findMenuItem(t, tp.win.MainMenu(), "Model", "Engine Settings…").Action()
	f = tp.engineForm()
	f.kind.SetSelected(engineEmbeddedTitle)
	if !f.embedded.Visible() || f.remote.Visible() {
		t.Fatal("the embedded settings are not shown")
	}
	f.layers.SetSelected(layersN)
	f.layersN.SetText("12")
	f.threads.SetText("3")
	tp.tapDialogButton("Save")
	tp.ready()
	l := local.lastLoad()
	if l.Name != "tiny" || l.GPULayers != 12 || l.Threads != 3 || !strings.HasSuffix(l.Text, "tiny-f16.gguf") {
		t.Errorf("embedded load spec %+v", l)
	}
	tp.pump(second.isClosed)
	tp.p.Generate() // the text is the AI's own: no question asked
	tp.idle()
	if !strings.Contains(tp.p.sess.Text(), "c ") {
		t.Errorf("after switching to the embedded runner: %q", tp.p.sess.Text())
	}
	if !strings.Contains(strings.Join(menuTexts(tp.win.MainMenu()), "|"), "tiny — TEST MODEL") {
		t.Errorf("the Model menu does not list the store's model: %q", menuTexts(tp.win.MainMenu()))
	}
}

// TestOllamaServerModels: with the Ollama engine chosen, the Model menu
// and the Engine Settings dialog list the server's models (GET /api/tags
// of a stand-in server), and choosing one in the menu makes it current.
func TestOllamaServerModels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/tags" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"models":[{"name":"llava:7b"},{"name":"cxr-llava:latest"}]}`)
	}))
	defer srv.Close()
	first, second := newFakeEngine("a "), newFakeEngine("b ")
	tp := newTestPanel(t, PanelOptions{}, map[string]*fakeEngine{app.EngineOllama + " " + srv.URL: first},
		withOllama(srv.URL, "cxr-llava:latest"))
	tp.ready()
	tp.pump(func() bool { return len(tp.p.server) == 2 })
	menu := strings.Join(menuTexts(tp.win.MainMenu()), "|")
	if !strings.Contains(menu, "cxr-llava:latest") || !strings.Contains(menu, "llava:7b") {
		t.Fatalf("the Model menu lacks the server's models: %s", menu)
	}
	if it := findMenuItem(t, tp.win.MainMenu(), "Model", "cxr-llava:latest"); !it.Checked {
		t.Error("the current model is not checked")
	}
	findMenuItem(t, tp.win.MainMenu(), "Model", "Engine Settings…").Action()
	f := tp.engineForm()
	f.ollama.SetOptions(nil)
	test.Tap(findButton(tp.win.Canvas().Overlays().Top(), "List the server's models"))
	tp.pump(func() bool { return strings.Contains(f.listInfo.Text, "2 models") })
	tp.closeDialogs()
	// Choosing another model of the same server loads it in the same engine.
	tp.mu.Lock()
	tp.engines[app.EngineOllama+" "+srv.URL] = second // must not be used: the engine stays
	tp.mu.Unlock()
	findMenuItem(t, tp.win.MainMenu(), "Model", "llava:7b").Action()
	tp.ready()
	if l := first.lastLoad(); l.Text != "llava:7b" || tp.p.eng != engine.Engine(first) {
		t.Errorf("after choosing llava:7b: load %+v, engine %p (first %p)", l, tp.p.eng, first)
	}
	if s, _ := tp.savedSettings(); s.OllamaModel != "llava:7b" {
		t.Errorf("settings %q", s.OllamaModel)
	}
}

// TestImportNotice: after an import the panel shows what the model is and,
// for CXR-LLaVA, its licence and the paper to cite; the Model menu shows
// them again.
func TestImportNotice(t *testing.T) {
	tp := newTestPanel(t, PanelOptions{}, nil)
	for _, c := range []struct {
		m    app.StoredModel
		want []string
	}{
		{app.StoredModel{Name: "cxr-llava-v2-q4_k_m", Title: "CXR-LLaVA v2", TextType: "Q4_K_M", Family: "cxr-llava-v2"},
			[]string{"cxr-llava-v2-q4_k_m is in the model store", "CC BY-NC 4.0", "Llama 2 Community License", "European Radiology", "not a medical device"}},
		{app.StoredModel{Name: "tiny", TestModel: true}, []string{"TEST MODEL: random weights"}},
		{app.StoredModel{Name: "llava", General: true}, []string{"not trained on chest films"}},
	} {
		tp.p.showImported(c.m)
		txt := tp.dialogTexts()
		for _, w := range c.want {
			if !strings.Contains(txt, w) {
				t.Errorf("%s: the notice lacks %q", c.m.Name, w)
			}
		}
		tp.closeDialogs()
	}
	findMenuItem(t, tp.win.MainMenu(), "Model", "Model Licence and Citation…").Action()
	if txt := tp.dialogTexts(); !strings.Contains(txt, "CC BY-NC 4.0") || !strings.Contains(txt, "doi:10.1007/s00330-024-11339-6") {
		t.Errorf("Model → Licence: %q", txt)
	}
}
