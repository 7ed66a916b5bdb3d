package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/app/findings"
	"cxrview/engine"
)

// PanelOptions configure the report panel; the zero value is what the
// application uses.
type PanelOptions struct {
	// NewEngine makes the engine the settings choose (kind is
	// app.EngineEmbedded or app.EngineOllama, host the Ollama server);
	// nil: the embedded runner or an Ollama client, as `cxrview report`
	// makes them. Tests pass fakes.
	NewEngine func(env *app.Env, kind, host string) (engine.Engine, error)
	// Sampling is how drafts are sampled; the zero value is greedy
	// decoding, which makes a draft reproducible.
	Sampling engine.Sampling
	// MaxTokens limits each answer; 0: engine.DefaultMaxTokens.
	MaxTokens int
	// Session tunes the autosave (tests use a fake clock); OnSave is the
	// panel's own and is ignored here.
	Session app.SessionOptions
}

// Panel is the report panel: the model's status, the prompt presets, the
// draft streaming into an editor, the six key findings as chips, the
// follow-up thread, sign-off and export. It drives app.Session for
// everything that is kept, and runs every model call and every disk access
// that can take long off the UI goroutine.
//
// All methods run on the UI goroutine unless they say otherwise.
type Panel struct {
	opts PanelOptions
	host Host
	env  *app.Env
	// do runs f on the UI goroutine (fyne.Do); tests queue it instead.
	do func(f func())

	// Widgets.
	obj        fyne.CanvasObject
	pill       *statusPill
	modelDot   *canvas.Circle
	modelText  *widget.Label
	modelWarn  *widget.Label
	modelTag   *widget.Label
	modelBar   *widget.ProgressBar
	modelBtns  *fyne.Container
	modelBox   *fyne.Container
	setup      *fyne.Container // the three ways to get a model
	presetSel  *widget.Select
	question   *escEntry
	genBtn     *widget.Button
	stopBtn    *widget.Button
	runInfo    *widget.Label
	labels     *fyne.Container
	labelText  *widget.RichText
	labelTint  *canvas.Rectangle
	chips      *chipBoard
	editor     *reportEditor
	signBtn    *widget.Button
	exportBtn  *widget.Button
	discardBtn *widget.Button
	signInfo   *widget.Label
	controls   *fyne.Container
	top        *fyne.Container
	bottom     *fyne.Container
	body       *fyne.Container
	split      *container.Split
	threadArea *fyne.Container
	thread     *fyne.Container
	threadBox  *container.Scroll
	threadHint *widget.Label
	askEntry   *escEntry
	askBtn     *widget.Button
	statusLine *widget.Label
	saveLine   *widget.Label

	// The study on screen and its session.
	study    *Study
	sess     *app.Session
	sessKey  string // the key of the study whose session is open or opening
	sessGen  uint64 // numbers ImageChanged calls; stale session opens are dropped
	sessions *sessionPool
	// finishing holds, by study key, runs stopped because the user left
	// their study: a session of that study opens once they have returned.
	finishing map[string]*panelRun
	savedAt   time.Time
	saveErr   error
	message   string // the latest one-off message of the status line
	preset    engine.Preset
	teaching  bool

	// The generation or follow-up answer in progress, nil when none.
	run *panelRun
	// pending is the draft to start once the model being loaded is ready.
	pending *pendingDraft
	// signing is true while a signature is being written.
	signing bool

	// The model.
	model      modelState
	eng        engine.Engine
	engKey     string // kind and host of eng
	loadGen    uint64
	loadCancel context.CancelFunc
	models     []app.StoredModel // the store's and the local Ollama store's, refreshed off the UI goroutine
	server     []string          // the Ollama server's models, when the engine is Ollama

	chipTimer   *time.Timer
	anonymize   bool
	exportDir   string // the folder of the last export outside teaching mode
	teachDir    string // and in teaching mode: it never starts in a patient's folder
	menuKey     string
	modelKey    string // what the model's widgets show
	layoutKey   string // the sizes the body was last laid out for
	lastLabels  string
	threadCount int
	threadShown []threadKey // what each thread item shows
	closed      bool
}

var (
	_ ReportPanel   = (*Panel)(nil)
	_ panelBindings = (*Panel)(nil)
	_ aboutModel    = (*Panel)(nil)
)

// NewPanel returns the report panel for the main window (Options.Report).
func NewPanel(opts PanelOptions) *Panel {
	p := &Panel{opts: opts, do: fyne.Do, preset: engine.PresetReport, finishing: map[string]*panelRun{}}
	p.sessions = newSessionPool(func(sess *app.Session, err error) {
		p.do(func() { p.saved(sess, err) })
	})
	p.build()
	return p
}

// Object is part of ReportPanel.
func (p *Panel) Object() fyne.CanvasObject { return p.obj }

func (p *Panel) build() {
	title := widget.NewLabelWithStyle("Report", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameSubHeadingText
	p.pill = newStatusPill()

	// Model status.
	p.modelDot = canvas.NewCircle(color.NRGBA{0x6c, 0x72, 0x7b, 0xff})
	dot := container.NewGridWrap(fyne.NewSize(10, 10), p.modelDot)
	p.modelText = widget.NewLabel("")
	p.modelText.Truncation = fyne.TextTruncateEllipsis
	p.modelWarn = widget.NewLabel("")
	p.modelWarn.Wrapping = fyne.TextWrapWord
	p.modelWarn.TextStyle.Bold = true
	p.modelWarn.Hide()
	p.modelTag = widget.NewLabel("")
	p.modelTag.TextStyle.Bold = true
	p.modelTag.Hide()
	p.modelBar = widget.NewProgressBar()
	p.modelBar.Hide()
	p.modelBtns = container.NewHBox()
	p.setup = p.buildSetup()
	p.setup.Hide()
	p.modelBox = container.NewVBox(
		container.NewBorder(nil, nil, container.NewCenter(dot), p.modelTag, p.modelText),
		p.modelWarn, p.modelBar, p.modelBtns, p.setup)

	// Prompt and run controls.
	var titles []string
	for _, pr := range engine.Presets() {
		titles = append(titles, pr.Title())
	}
	p.presetSel = widget.NewSelect(titles, func(s string) {
		for _, pr := range engine.Presets() {
			if pr.Title() == s {
				p.setPreset(pr)
			}
		}
	})
	p.question = newEscEntry(p.escape)
	p.question.SetPlaceHolder("Your question about this film")
	p.question.OnSubmitted = func(string) { p.Generate() }
	p.question.Hide()
	p.genBtn = widget.NewButtonWithIcon("Generate", theme.MediaPlayIcon(), p.Generate)
	p.genBtn.Importance = widget.HighImportance
	p.stopBtn = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), p.Stop)
	p.stopBtn.Disable()
	p.runInfo = widget.NewLabel("")
	p.runInfo.SizeName = theme.SizeNameCaptionText
	p.runInfo.Truncation = fyne.TextTruncateEllipsis
	p.runInfo.Hide()
	p.runInfo.Alignment = fyne.TextAlignTrailing
	header := container.NewBorder(nil, nil, title, container.NewCenter(p.pill), p.runInfo)
	p.controls = container.NewVBox(
		container.NewBorder(nil, nil, nil, container.NewHBox(p.genBtn, p.stopBtn), p.presetSel),
		p.question)

	p.labelText = widget.NewRichText()
	p.labelText.Wrapping = fyne.TextWrapWord
	p.labelTint = canvas.NewRectangle(color.Transparent)
	p.labelTint.CornerRadius = 4
	p.labels = container.NewStack(p.labelTint, p.labelText)
	p.labels.Hide()
	p.chips = newChipBoard(p.chipTapped)

	p.editor = newReportEditor()
	p.editor.SetPlaceHolder("Open an image to draft or write its report.")
	p.editor.onEdit = p.edited
	p.editor.onEscape = p.escape
	p.editor.Disable()

	// Follow-up thread.
	threadTitle := widget.NewLabelWithStyle("Follow-up questions", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.threadHint = widget.NewLabel("Ask about this film after a draft: the model continues the same conversation.")
	p.threadHint.Wrapping = fyne.TextWrapWord
	p.threadHint.SizeName = theme.SizeNameCaptionText
	p.thread = container.NewVBox(p.threadHint)
	p.threadBox = container.NewVScroll(p.thread)
	threadScroll := container.New(minSize{fyne.NewSize(0, 72)}, p.threadBox)
	p.askEntry = newEscEntry(p.escape)
	p.askEntry.SetPlaceHolder("Ask a follow-up question")
	p.askEntry.OnSubmitted = func(string) { p.Ask() }
	p.askBtn = widget.NewButtonWithIcon("Ask", theme.MailSendIcon(), p.Ask)
	p.threadArea = container.NewBorder(threadTitle,
		container.NewBorder(nil, nil, nil, p.askBtn, p.askEntry), nil, nil, threadScroll)

	p.split = container.NewVSplit(p.editor, p.threadArea)
	p.split.Offset = splitNoThread

	// Sign-off, export, status.
	p.signBtn = widget.NewButtonWithIcon("Sign…", theme.ConfirmIcon(), p.Sign)
	p.exportBtn = widget.NewButtonWithIcon("Export", theme.DocumentSaveIcon(), p.showExportMenu)
	p.discardBtn = widget.NewButtonWithIcon("Discard", theme.DeleteIcon(), p.Discard)
	p.signInfo = widget.NewLabel("")
	p.signInfo.Wrapping = fyne.TextWrapWord
	p.signInfo.SizeName = theme.SizeNameCaptionText
	p.statusLine = widget.NewLabel("")
	p.statusLine.Truncation = fyne.TextTruncateEllipsis
	p.statusLine.SizeName = theme.SizeNameCaptionText
	p.saveLine = widget.NewLabel("")
	p.saveLine.Wrapping = fyne.TextWrapWord
	p.saveLine.SizeName = theme.SizeNameCaptionText
	p.saveLine.Importance = widget.DangerImportance
	p.saveLine.Hide()
	p.bottom = container.NewVBox(
		container.NewHBox(p.signBtn, p.exportBtn, p.discardBtn),
		p.signInfo, widget.NewSeparator(), p.statusLine, p.saveLine)

	p.top = container.NewVBox(header, widget.NewSeparator(), p.modelBox, p.controls, p.labels, p.chips.obj)
	p.body = container.NewBorder(p.top, p.bottom, nil, nil, p.split)
	p.obj = container.New(minSize{fyne.NewSize(panelMinWidth, 0)}, container.NewPadded(p.body))
	p.presetSel.SetSelected(engine.PresetReport.Title())
	p.refresh()
}

// buildSetup is what the panel shows while no model is installed: the
// three ways to get one, with a button each.
func (p *Panel) buildSetup() *fyne.Container {
	text := widget.NewLabel("AI drafts need the CXR-LLaVA model, on this computer or on an Ollama server. " +
		"Until then, write and sign reports by hand.")
	text.Wrapping = fyne.TextWrapWord
	importBtn := widget.NewButtonWithIcon("Import GGUF files…", theme.FolderOpenIcon(), p.ImportModel)
	convertBtn := widget.NewButtonWithIcon("Convert the Hugging Face checkpoint…", theme.ViewRefreshIcon(), p.ShowConvert)
	ollamaBtn := widget.NewButtonWithIcon("Connect to an Ollama server…", theme.ComputerIcon(), func() { p.ShowEngineSettings(app.EngineOllama) })
	for _, b := range []*widget.Button{importBtn, convertBtn, ollamaBtn} {
		b.Alignment = widget.ButtonAlignLeading
	}
	return container.NewVBox(text, importBtn, convertBtn, ollamaBtn)
}

// Attach is part of ReportPanel.
func (p *Panel) Attach(h Host) {
	p.host = h
	p.env = h.Env()
	p.teaching = h.Teaching()
	if a := fyne.CurrentApp(); a != nil {
		a.Lifecycle().SetOnStopped(p.Shutdown)
	}
	p.refreshModels()
	p.LoadModel()
}

// Shutdown stops any generation, saves the drafts and closes the engine;
// the application calls it when it stops. A generation gets a moment to
// record where it stopped.
func (p *Panel) Shutdown() {
	if p.closed {
		return
	}
	p.closed = true
	if p.chipTimer != nil {
		p.chipTimer.Stop()
	}
	runs := make([]*panelRun, 0, len(p.finishing)+1)
	for _, r := range p.finishing {
		runs = append(runs, r)
	}
	if p.run != nil {
		p.run.cancel()
		runs = append(runs, p.run)
	}
	if p.loadCancel != nil {
		p.loadCancel()
	}
	deadline := time.After(2 * time.Second)
	for _, r := range runs {
		select {
		case <-r.returned:
		case <-deadline:
		}
	}
	p.sessions.flushAll()
	if p.eng != nil {
		p.eng.Close()
	}
}

// ImageChanged is part of ReportPanel: the panel opens the study's
// session (its saved draft, thread and status come back) off the UI
// goroutine, and lets the previous one go. A generation on the previous
// study is stopped; its partial text is kept there, marked incomplete.
// The same study again (its thumbnail tapped, its file opened again,
// another file with the same SOP Instance UID) keeps its session, and any
// generation on it.
func (p *Panel) ImageChanged(s *Study) {
	key := ""
	if s != nil && s.Image != nil && p.env != nil {
		key = s.Image.Meta.Key()
	}
	if key != "" && key == p.sessKey {
		p.study = s
		return
	}
	p.sessGen++
	gen := p.sessGen
	if r := p.run; r != nil {
		// The run keeps its own reference to its session and lets it go
		// when it returns; until then that study opens no new session.
		r.cancel()
		p.run = nil
		p.finishing[r.sess.Study().Key] = r
		p.hideRunInfo()
	}
	p.signing = false // a signature still being written is the old study's
	p.editor.setReadOnly(false)
	if old := p.sess; old != nil {
		go p.sessions.release(old)
	}
	p.pending = nil
	p.study, p.sess, p.sessKey, p.saveErr, p.savedAt, p.message = s, nil, key, nil, time.Time{}, ""
	p.threadCount = -1
	p.editor.setText("")
	p.updateChips() // the previous patient's findings go with the text
	p.editor.Disable()
	p.editor.SetPlaceHolder("Open an image to draft or write its report.")
	p.refresh()
	if key == "" {
		return
	}
	p.editor.SetPlaceHolder("Opening the draft…")
	st := app.NewStudy(s.Path, s.Image)
	opts, dirs := p.opts.Session, p.env.Dirs
	var wait chan struct{}
	if r := p.finishing[key]; r != nil {
		wait = r.returned
	}
	go func() {
		if wait != nil {
			<-wait
		}
		sess, err := p.sessions.acquire(dirs, st, opts)
		p.do(func() { p.sessionOpened(gen, sess, err) })
	}()
}

// sessionOpened shows the session opened for request gen.
func (p *Panel) sessionOpened(gen uint64, sess *app.Session, err error) {
	if gen != p.sessGen || p.closed {
		if sess != nil {
			go p.sessions.release(sess)
		}
		return
	}
	if sess == nil {
		p.sessKey = "" // opening it again tries again
		p.editor.SetPlaceHolder("The draft cannot be opened.")
		p.host.ShowError("Cannot open the draft", p.scrub(err))
		return
	}
	if err != nil {
		// A damaged draft was set aside and a new one started.
		p.host.ShowError("The saved draft was damaged", p.scrub(err))
	}
	p.sess = sess
	// A save that failed before the session was shown said so to
	// nobody: saved drops reports of sessions not on screen.
	p.saveErr = sess.Err()
	p.editor.SetPlaceHolder(p.editorHint())
	p.editor.setText(sess.Text())
	p.editor.Enable()
	p.updateChips()
	p.refresh()
}

// editorHint is the editor's placeholder once a film is open.
func (p *Panel) editorHint() string {
	if p.model.phase == modelNone {
		return "Write the report here."
	}
	return "Write the report here, or press Generate (Ctrl+G) for an AI draft."
}

// saved hears the result of an autosave of sess (on the UI goroutine).
func (p *Panel) saved(sess *app.Session, err error) {
	if sess == nil || sess != p.sess {
		return
	}
	p.saveErr = err
	if err == nil {
		p.savedAt = time.Now()
	}
	p.refreshStatus(p.draft())
	p.relayout()
}

// edited records the user's change to the report.
func (p *Panel) edited(text string) {
	if p.sess == nil {
		return
	}
	if err := p.sess.SetText(text); err != nil {
		// Only a generation makes SetText fail, and the editor is
		// read-only then: put the session's text back.
		p.editor.setText(p.sess.Text())
		return
	}
	p.message = ""
	p.scheduleChips()
	// Typing refreshes only what an edit can change, from one copy of
	// the draft: the model, the thread and the rest stay as they are.
	d := p.sess.Draft()
	p.refreshControls(d)
	p.refreshLabels(d)
	p.refreshSign(d)
	p.refreshStatus(d)
	p.refreshMenus()
	p.relayout()
}

// SetTeaching is part of ReportPanel: in teaching mode exports are always
// anonymised, export dialogs do not start in the film's folder, and
// messages name no file.
func (p *Panel) SetTeaching(on bool) {
	p.teaching = on
	p.refresh()
}

// Running reports whether the model is writing a draft or an answer.
func (p *Panel) Running() bool { return p.run != nil }

// setPreset chooses the first question of the next draft.
func (p *Panel) setPreset(pr engine.Preset) {
	p.preset = pr
	if p.presetSel.Selected != pr.Title() {
		p.presetSel.SetSelected(pr.Title())
	}
	if pr == engine.PresetQuestion {
		p.question.Show()
	} else {
		p.question.Hide()
	}
	p.refresh()
}

// focusEditor puts the cursor at the end of the report and the keyboard
// focus in it.
func (p *Panel) focusEditor() {
	if p.sess == nil || p.host == nil {
		return
	}
	p.editor.moveToEnd()
	p.host.Window().Canvas().Focus(p.editor)
}

// escape stops the model when it runs (Esc in the editor and the
// question fields, as in the rest of the window); it reports whether it
// did.
func (p *Panel) escape() bool {
	if p.Running() {
		p.Stop()
		return true
	}
	return false
}

// focusAsk puts the keyboard focus in the follow-up question field.
func (p *Panel) focusAsk() {
	if p.sess == nil || p.host == nil || p.askEntry.Disabled() {
		return
	}
	p.host.Window().Canvas().Focus(p.askEntry)
}

// --- findings chips ---

// scheduleChips relabels the text shortly after the last change: typing
// and streaming change it many times a second.
func (p *Panel) scheduleChips() {
	if p.chipTimer != nil {
		p.chipTimer.Stop()
	}
	p.chipTimer = time.AfterFunc(150*time.Millisecond, func() { p.do(p.updateChips) })
}

func (p *Panel) updateChips() {
	p.chips.update(p.editor.Text)
}

// chipTapped selects the sentence that decided the finding's label.
func (p *Panel) chipTapped(o findings.Observation) {
	if p.chips.text != p.editor.Text {
		p.updateChips()
	}
	span := p.chips.sentence(o)
	if span.Empty() || p.host == nil {
		return
	}
	text := p.editor.Text
	p.host.Window().Canvas().Focus(p.editor)
	p.editor.selectRunes(runeOffset(text, span.Start), runeOffset(text, span.End))
}

// --- state shown ---

// refresh brings every widget in line with the session, the model and the
// run in progress.
func (p *Panel) refresh() {
	d := p.draft()
	p.refreshModel()
	p.refreshControls(d)
	p.refreshLabels(d)
	p.refreshSign(d)
	p.refreshThread(d)
	p.refreshStatus(d)
	p.refreshMenus()
	p.relayout()
}

// draft is a copy of the session's draft, nil without a session. The
// refresh functions take it, so that one refresh copies it once.
func (p *Panel) draft() *app.Draft {
	if p.sess == nil {
		return nil
	}
	return p.sess.Draft()
}

// relayout lays the panel out again when a part was shown or hidden (the
// labels, the model's setup, a save error...). Fyne lays a container out
// again when its own size changes, not when a child's minimum size does:
// without this the editor would stay where it was, under the grown part.
func (p *Panel) relayout() {
	key := fmt.Sprint(p.top.MinSize(), p.bottom.MinSize(), p.threadArea.Visible())
	if key == p.layoutKey {
		return
	}
	p.layoutKey = key
	p.body.Refresh()
}

func (p *Panel) refreshControls(d *app.Draft) {
	running := p.run != nil
	canGen := d != nil && !running && p.model.phase != modelNone
	if d != nil {
		if st := d.Status(); st.Signed() || st == app.StatusAmending {
			canGen = false
		}
	}
	label := "Generate"
	if d != nil && strings.TrimSpace(d.Text) != "" {
		label = "Regenerate"
	}
	if p.genBtn.Text != label {
		p.genBtn.SetText(label)
	}
	setEnabled(p.genBtn, canGen)
	setEnabled(p.stopBtn, running)
	setEnabled(p.presetSel, !running)
	setEnabled(p.question, !running)
	if p.sess != nil && p.editor.PlaceHolder != p.editorHint() {
		p.editor.SetPlaceHolder(p.editorHint())
	}
	// Without a model there is nothing to run: the three ways to get
	// one take the controls' place.
	if p.model.phase == modelNone {
		p.controls.Hide()
	} else {
		p.controls.Show()
	}
	canAsk := p.sess != nil && !running && p.model.phase != modelNone
	setEnabled(p.askEntry, canAsk)
	setEnabled(p.askBtn, canAsk)
}

// refreshLabels shows the session's labels over the report, one a line
// on a tinted band: TEST MODEL in red, the AI draft and incomplete
// warnings in amber, preliminary in the text colour.
func (p *Panel) refreshLabels(d *app.Draft) {
	var ls []string
	if d != nil {
		ls = d.Labels()
	}
	if r := p.run; r != nil && !r.ask && !r.progressed() {
		// Until the first piece arrives the labels are those of the
		// draft to come: showing them now keeps the editor from jumping
		// down when it does.
		ls = runningLabels(r.model)
	}
	p.showLabels(ls)
}

// runningLabels are the labels of a draft that model is writing.
func runningLabels(model engine.ModelInfo) []string {
	d := &app.Draft{AI: &app.Generation{Model: app.ModelRecord{Name: model.Name, TestModel: model.TestModel, General: model.General}, Text: "…"}, Text: "…"}
	return d.Labels()
}

func (p *Panel) showLabels(ls []string) {
	key := strings.Join(ls, "\n")
	if key == p.lastLabels && p.labels.Visible() == (len(ls) > 0) {
		return
	}
	p.lastLabels = key
	if len(ls) == 0 {
		p.labels.Hide()
		return
	}
	var segs []widget.RichTextSegment
	tint := color.NRGBA{0x80, 0x80, 0x80, 0x18}
	for i, l := range ls {
		st := widget.RichTextStyleParagraph
		st.SizeName = theme.SizeNameCaptionText
		switch bannerKind(l) {
		case widget.DangerImportance:
			st.ColorName, st.TextStyle.Bold = theme.ColorNameError, true
			if i == 0 {
				tint = color.NRGBA{0xd0, 0x40, 0x30, 0x2c}
			}
		case widget.WarningImportance:
			st.ColorName, st.TextStyle.Bold = theme.ColorNameWarning, true
			if tint.R == 0x80 {
				tint = color.NRGBA{0xd0, 0xa0, 0x30, 0x20}
			}
		}
		segs = append(segs, &widget.TextSegment{Text: l, Style: st})
	}
	p.labelTint.FillColor = tint
	p.labelTint.Refresh()
	p.labelText.Segments = segs
	p.labelText.Refresh()
	p.labels.Show()
}

func (p *Panel) refreshSign(d *app.Draft) {
	can := d != nil && !p.Running() && !p.signing
	var why error
	if d != nil {
		why = p.sess.CanSign()
	}
	setEnabled(p.signBtn, can && why == nil)
	setEnabled(p.exportBtn, d != nil && !p.Running())
	discard := d != nil && !p.Running() && len(d.Signatures) == 0 && d.Status() != app.StatusEmpty
	setEnabled(p.discardBtn, discard)
	info := ""
	switch {
	case d == nil:
	case d.Status().Signed():
		if sig := d.LastSignature(); sig != nil {
			info = fmt.Sprintf("Signed by %s on %s. Editing it starts an amendment.", sig.Reader, sig.Time.Local().Format("2006-01-02 15:04"))
		}
	case errors.Is(why, app.ErrTestModel):
		info = "A TEST MODEL draft is never signed or exported as a report: discard it to start a real one."
	case errors.Is(why, app.ErrIncomplete):
		info = "The AI draft is incomplete: edit it or generate it again before signing."
	case errors.Is(why, app.ErrEmptyReport), errors.Is(why, app.ErrBusy):
	case why != nil:
		info = why.Error()
	}
	p.signInfo.SetText(info)
	if info == "" {
		p.signInfo.Hide()
	} else {
		p.signInfo.Show()
	}
}

// refreshStatus writes the status line: where the report stands and
// whether it is saved. A save error stays on screen, in red, until a save
// succeeds; the text is never lost (the session keeps it and retries).
func (p *Panel) refreshStatus(d *app.Draft) {
	if d == nil {
		p.pill.set(app.StatusEmpty, "")
		p.statusLine.SetText(p.message)
		p.saveLine.Hide()
		return
	}
	st := d.Status()
	p.pill.set(st, st.Report())
	parts := []string{st.Report(), st.Title()}
	if st == app.StatusEmpty {
		parts = parts[1:]
	}
	if sig := d.LastSignature(); sig != nil && st.Signed() {
		parts = append(parts, "signed "+sig.Time.Local().Format("2006-01-02 15:04"))
	}
	switch {
	case p.saveErr != nil:
	case !p.savedAt.IsZero():
		parts = append(parts, "saved "+p.savedAt.Format("15:04:05"))
	}
	if p.message != "" {
		parts = append(parts, p.message)
	}
	p.statusLine.SetText(strings.Join(parts, " · "))
	if p.saveErr != nil {
		p.saveLine.SetText(p.scrub(p.saveErr).Error())
		p.saveLine.Show()
	} else {
		p.saveLine.Hide()
	}
}

// refreshMenus rebuilds the menus when something they show changed.
func (p *Panel) refreshMenus() {
	if p.host == nil {
		return
	}
	status := app.Status("")
	if p.sess != nil {
		status = p.sess.Status()
	}
	key := fmt.Sprintf("%v %v %s %d %v %s %v %v %d %d %v", p.sess != nil, p.run != nil, status, p.model.phase,
		p.model.choice.Name, p.preset, p.anonymize, p.teaching, len(p.models), len(p.server), p.model.choice.Kind)
	if key != p.menuKey {
		p.menuKey = key
		p.host.RefreshMenus()
	}
}

// message shows a one-off message in the status line.
func (p *Panel) say(msg string) {
	p.message = msg
	p.refreshStatus(p.draft())
	p.relayout()
}

// scrub removes what identifies the patient from an error in teaching
// mode: file paths name patients more often than not.
func (p *Panel) scrub(err error) error {
	if err == nil || !p.teaching || p.study == nil || p.study.Image == nil || p.env == nil {
		return err
	}
	s := err.Error()
	key := p.study.Image.Meta.Key()
	for _, r := range [][2]string{
		{p.study.Path, "the image"},
		{app.DraftPath(p.env.Dirs, key), "the draft file"},
		{app.AuditPath(p.env.Dirs, key), "the audit trail"},
		{filepath.Base(p.study.Path), "the image"},
		{key, "the study"},
	} {
		if r[0] != "" {
			s = strings.ReplaceAll(s, r[0], r[1])
		}
	}
	return errors.New(s)
}

// chooseFile asks the host's chooser for a file, with a title when it
// can show one.
func (p *Panel) chooseFile(title, filter string, exts []string, start string, done func(string, error)) {
	chooseFile(p.host.Chooser(), p.host.Window(), title, filter, exts, start, done)
}

// chooseFolder asks the host's chooser for a folder.
func (p *Panel) chooseFolder(title, start string, done func(string, error)) {
	chooseFolder(p.host.Chooser(), p.host.Window(), title, start, done)
}

// confirm asks a yes/no question.
func (p *Panel) confirm(title, text, yes string, f func()) {
	d := dialog.NewCustomConfirm(title, yes, "Cancel", messageLabel(text), func(ok bool) {
		if ok {
			f()
		}
	}, p.host.Window())
	d.Show()
}

// modelAbout is the model line of Help → About.
func (p *Panel) modelAbout() string {
	if p.model.phase != modelReady {
		return ""
	}
	s := p.model.info.Label()
	if p.model.choice.Licence != "" {
		s += ". Licence: " + p.model.choice.Licence
	}
	return s
}

// --- small widgets ---

// The panel's layout: it is at least panelMinWidth wide (the split gives
// the film the rest), and the editor takes splitNoThread of the height
// under the controls until a follow-up question is asked, splitThread
// after.
const (
	panelMinWidth = 460
	splitNoThread = 0.78
	splitThread   = 0.45
)

// minSize lays its objects out on top of each other, at least min large.
type minSize struct{ min fyne.Size }

func (m minSize) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (m minSize) MinSize(objs []fyne.CanvasObject) fyne.Size {
	s := m.min
	for _, o := range objs {
		s = s.Max(o.MinSize())
	}
	return s
}

// escEntry is a one-line entry in which Esc stops the model, as it does
// everywhere else in the window.
type escEntry struct {
	widget.Entry
	onEscape func() bool
}

func newEscEntry(onEscape func() bool) *escEntry {
	e := &escEntry{onEscape: onEscape}
	e.ExtendBaseWidget(e)
	return e
}

// TypedKey implements fyne.Focusable.
func (e *escEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape && e.onEscape != nil && e.onEscape() {
		return
	}
	e.Entry.TypedKey(k)
}

type disableable interface {
	Enable()
	Disable()
	Disabled() bool
}

func setEnabled(w disableable, on bool) {
	if on && w.Disabled() {
		w.Enable()
	} else if !on && !w.Disabled() {
		w.Disable()
	}
}

// bannerKind picks the colour of a label: TEST MODEL red, AI draft and
// incomplete amber, the rest neutral.
func bannerKind(label string) widget.Importance {
	switch {
	case strings.HasPrefix(label, "TEST MODEL"):
		return widget.DangerImportance
	case strings.HasPrefix(label, "AI draft"), strings.HasPrefix(label, "INCOMPLETE"):
		return widget.WarningImportance
	}
	return widget.MediumImportance
}

// statusPill shows the report's status (PRELIMINARY, FINAL, AMENDED) in
// the panel's header.
type statusPill struct {
	widget.BaseWidget
	bg   *canvas.Rectangle
	text *canvas.Text
}

func newStatusPill() *statusPill {
	s := &statusPill{bg: canvas.NewRectangle(color.Transparent), text: canvas.NewText("", color.White)}
	s.bg.CornerRadius = 9
	s.text.TextStyle.Bold = true
	s.text.TextSize = theme.CaptionTextSize()
	s.ExtendBaseWidget(s)
	return s
}

func (s *statusPill) set(st app.Status, text string) {
	fill, fg := color.Color(color.NRGBA{0x80, 0x80, 0x80, 0x30}), color.Color(color.NRGBA{0x9a, 0xa0, 0xa8, 0xff})
	switch {
	case st.Signed():
		fill, fg = color.NRGBA{0x2f, 0x6b, 0x4f, 0xff}, color.NRGBA{0xe6, 0xf4, 0xec, 0xff}
	case st == app.StatusAIDraft || st == app.StatusEdited || st == app.StatusAmending:
		fill, fg = color.NRGBA{0x8a, 0x66, 0x1c, 0xff}, color.NRGBA{0xfb, 0xf0, 0xd8, 0xff}
	}
	if st == app.StatusEmpty {
		text = ""
	}
	s.bg.FillColor, s.text.Color, s.text.Text = fill, fg, text
	if text == "" {
		s.Hide()
	} else {
		s.Show()
	}
	s.Refresh()
}

func (s *statusPill) CreateRenderer() fyne.WidgetRenderer {
	return &pillRenderer{s: s}
}

type pillRenderer struct{ s *statusPill }

func (r *pillRenderer) Layout(size fyne.Size) {
	r.s.bg.Resize(size)
	t := r.s.text.MinSize()
	r.s.text.Move(fyne.NewPos((size.Width-t.Width)/2, (size.Height-t.Height)/2))
	r.s.text.Resize(t)
}
func (r *pillRenderer) MinSize() fyne.Size {
	t := r.s.text.MinSize()
	return fyne.NewSize(t.Width+20, t.Height+6)
}
func (r *pillRenderer) Refresh() {
	r.s.bg.Refresh()
	r.s.text.Refresh()
	r.Layout(r.s.Size())
}
func (r *pillRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.s.bg, r.s.text} }
func (r *pillRenderer) Destroy()                     {}
