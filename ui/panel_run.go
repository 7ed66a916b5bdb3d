package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/engine"
)

// panelRun is one model call in progress: a draft (Generate) or a
// follow-up answer (Ask). The engine's goroutine hands its progress over
// through a coalescer: the UI goroutine picks up the latest at most once
// per frame it is posted, so a fast model cannot flood the UI with updates.
type panelRun struct {
	ask      bool
	question string // the follow-up question, for Ask
	// threadLen is the thread's length when an Ask started: no entry
	// added means the question never reached the model.
	threadLen int
	sess      *app.Session // the run holds a reference of the panel's pool
	ctxv      context.Context
	cancel    context.CancelFunc
	started   time.Time
	model     engine.ModelInfo
	done      chan struct{} // closed by finishRun, on the UI goroutine
	returned  chan struct{} // closed when the session's call returned
	prog      coalescer[app.Progress]
	stopped   atomic.Bool // the user pressed Stop
}

// pendingDraft is a draft asked for while the model was not loaded yet:
// it starts when the model is ready, without asking again whether to
// replace the text the user confirmed replacing.
type pendingDraft struct {
	question string
	replace  bool
	text     string // the text the user agreed to replace
}

// Generate drafts the report of the film on screen with the chosen preset
// (Ctrl+G). Text the user typed or edited is replaced only after asking;
// it stays in the audit trail. If the model is still loading, the draft
// starts when it is ready.
func (p *Panel) Generate() {
	if p.sess == nil || p.run != nil {
		return
	}
	st := p.sess.Status()
	if st.Signed() || st == app.StatusAmending {
		p.say("The report is signed: edit it to write an amendment")
		return
	}
	question := ""
	if p.preset == engine.PresetQuestion {
		question = strings.TrimSpace(p.question.Text)
		if question == "" {
			p.say("Type the question first")
			p.host.Window().Canvas().Focus(p.question)
			return
		}
	}
	d := p.sess.Draft()
	edited := strings.TrimSpace(d.Text) != "" && (d.AI == nil || d.Text != d.AI.Text)
	if edited {
		sess := p.sess
		p.confirm("Replace the edited draft?",
			"The report has text you wrote or edited. A new AI draft replaces it in the editor; "+
				"the replaced text is kept in the study's audit trail.",
			"Replace", func() {
				if sess == p.sess { // the answer is about this study's text
					p.startGenerate(question, true)
				}
			})
		return
	}
	p.startGenerate(question, false)
}

// resume starts the draft asked for while the model loaded. A replacement
// the user confirmed is not asked about again, unless the text changed
// since.
func (p *Panel) resume(d *pendingDraft) {
	if d.replace && p.sess != nil && p.sess.Text() == d.text {
		p.startGenerate(d.question, true)
		return
	}
	p.Generate()
}

func (p *Panel) startGenerate(question string, replace bool) {
	if p.sess == nil || p.run != nil {
		return
	}
	switch p.model.phase {
	case modelNone:
		p.say("No model is installed: see the three ways above")
		return
	case modelLoading:
		p.pending = &pendingDraft{question: question, replace: replace, text: p.sess.Text()}
		p.say("The draft starts when the model has loaded")
		return
	case modelIdle, modelFailed:
		p.pending = &pendingDraft{question: question, replace: replace, text: p.sess.Text()}
		p.LoadModel()
		return
	}
	view := p.host.CurrentView()
	opts := app.GenerateOptions{Preset: p.preset, Question: question, View: &view, Sampling: p.opts.Sampling,
		MaxTokens: p.opts.MaxTokens, ModelSHA256: p.model.choice.SHA256, License: p.model.choice.Licence, Replace: replace}
	r := p.newRun(false)
	eng, info := p.eng, p.model.info
	p.editor.setReadOnly(true)
	p.message = ""
	p.refresh()
	go func() {
		_, err := r.sess.Generate(r.ctx(), eng, info, opts, r.progress(p))
		close(r.returned)
		p.do(func() { p.finishRun(r, err) })
	}()
}

// Ask sends the follow-up question typed under the thread; the model
// answers in the same conversation as the draft.
func (p *Panel) Ask() {
	q := strings.TrimSpace(p.askEntry.Text)
	if p.sess == nil || p.run != nil || q == "" {
		return
	}
	switch p.model.phase {
	case modelReady:
	case modelLoading:
		p.say("The model is still loading")
		return
	case modelIdle, modelFailed:
		p.LoadModel()
		p.say("Loading the model: ask again when it is ready")
		return
	default:
		p.say("No model is installed")
		return
	}
	view := p.host.CurrentView()
	opts := app.GenerateOptions{View: &view, Sampling: p.opts.Sampling, MaxTokens: p.opts.MaxTokens,
		ModelSHA256: p.model.choice.SHA256, License: p.model.choice.Licence}
	r := p.newRun(true)
	r.question, r.threadLen = p.askEntry.Text, len(p.sess.Draft().Thread)
	eng, info := p.eng, p.model.info
	p.askEntry.SetText("")
	p.message = ""
	p.refresh()
	go func() {
		_, err := r.sess.Ask(r.ctx(), eng, info, q, opts, r.progress(p))
		close(r.returned)
		p.do(func() { p.finishRun(r, err) })
	}()
}

// Stop ends the generation or answer in progress (Esc); the text so far
// is kept, marked incomplete.
func (p *Panel) Stop() {
	if p.run == nil {
		return
	}
	p.run.stopped.Store(true)
	p.run.cancel()
	p.say("Stopping…")
}

// newRun starts the bookkeeping of a model call on the session on screen
// and the clock that shows its elapsed time.
func (p *Panel) newRun(ask bool) *panelRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &panelRun{ask: ask, sess: p.sess, cancel: cancel, started: time.Now(), model: p.model.info,
		done: make(chan struct{}), returned: make(chan struct{})}
	r.ctxv = ctx
	p.sessions.retain(r.sess)
	p.run = r
	p.showRunInfo(r)
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				p.do(func() {
					if p.run == r {
						p.showRunInfo(r)
					}
				})
			}
		}
	}()
	return r
}

func (r *panelRun) ctx() context.Context { return r.ctxv }

// progressed reports whether the model has written anything yet.
func (r *panelRun) progressed() bool {
	_, ok := r.prog.peek()
	return ok
}

// progress returns the callback for the session: it runs on the engine's
// goroutine and posts at most one update at a time.
func (r *panelRun) progress(p *Panel) func(app.Progress) {
	return func(pr app.Progress) {
		r.prog.post(pr, func() { p.do(func() { p.showProgress(r) }) })
	}
}

// showProgress shows the latest text of run r.
func (p *Panel) showProgress(r *panelRun) {
	pr, ok := r.prog.take()
	if p.run != r || !ok {
		return
	}
	if r.ask {
		p.refreshThread(p.draft())
	} else {
		p.editor.setText(pr.Text)
		p.editor.moveToEnd()
		p.scheduleChips()
		d := p.draft()
		p.refreshLabels(d)
		p.refreshStatus(d)
	}
	p.showRunInfo(r)
	p.relayout()
}

// showRunInfo writes the elapsed time and tokens per second.
func (p *Panel) showRunInfo(r *panelRun) {
	pr, ok := r.prog.peek()
	el := time.Since(r.started)
	p.runInfo.Show()
	what := "Drafting"
	if r.ask {
		what = "Answering"
	}
	if !ok {
		p.runInfo.SetText(fmt.Sprintf("%s: reading the image… %s", what, fmtSeconds(el)))
		return
	}
	p.runInfo.SetText(fmt.Sprintf("%s: %d tokens · %s · %.1f tokens/s", what, pr.Tokens, fmtSeconds(el), pr.TokensPerSecond))
}

// hideRunInfo clears the line of the run's progress.
func (p *Panel) hideRunInfo() {
	p.runInfo.SetText("")
	p.runInfo.Hide()
}

// finishRun shows how run r ended. The session already holds and saves
// everything; the editor gets its text back, editable.
func (p *Panel) finishRun(r *panelRun, err error) {
	close(r.done)
	go p.sessions.release(r.sess)
	key := r.sess.Study().Key
	if p.finishing[key] == r {
		delete(p.finishing, key)
	}
	if p.run != r {
		return // the study changed while it ran
	}
	p.run = nil
	pr, progressed := r.prog.peek()
	stopped := r.stopped.Load()
	p.editor.setReadOnly(false)
	p.editor.setText(p.sess.Text())
	p.updateChips()
	el := time.Since(r.started)
	if progressed {
		p.runInfo.SetText(fmt.Sprintf("%d tokens in %s · %.1f tokens/s", pr.Tokens, fmtSeconds(el), pr.TokensPerSecond))
	} else {
		p.hideRunInfo()
	}
	if r.ask && err != nil && p.askEntry.Text == "" && len(p.sess.Draft().Thread) == r.threadLen {
		// The question never reached the thread: it is not lost.
		p.askEntry.SetText(r.question)
	}
	p.message = ""
	switch {
	case err == nil && r.ask:
		p.message = "Answer ready"
	case err == nil:
		p.message = "Draft ready: review it before signing"
		if g := p.sess.Draft().AI; g != nil && g.Stop == "length" {
			p.message = "The model reached its token limit: the draft is incomplete"
		}
	case stopped || errors.Is(err, context.Canceled):
		p.message = "Stopped: the text so far is kept, marked incomplete"
		if !progressed {
			p.message = "Stopped before any text"
		}
	case errors.Is(err, engine.ErrEngineCrashed):
		p.message = "The engine stopped"
		p.host.ShowError("The inference engine stopped", fmt.Errorf("%v\n\nThe text written so far is kept, "+
			"marked incomplete. The engine restarts with the next request.", p.scrub(err)))
	default:
		p.message = "Failed"
		p.host.ShowError("The model could not finish", fmt.Errorf("%v\n\nThe draft is intact.", p.scrub(err)))
	}
	p.refresh()
	if r.ask && len(p.thread.Objects) > 0 {
		// The answer is complete: show it from its question on.
		last := p.thread.Objects[len(p.thread.Objects)-1]
		p.threadBox.ScrollToOffset(fyne.NewPos(0, last.Position().Y))
	}
}

// refreshThread shows the follow-up questions and answers of d; while an
// answer streams, only its text changes. Items are set only when what
// they show changed.
func (p *Panel) refreshThread(d *app.Draft) {
	var th []app.ThreadEntry
	if d != nil {
		th = d.Thread
	}
	if p.model.phase == modelNone && len(th) == 0 {
		p.threadArea.Hide() // no model to ask
	} else {
		p.threadArea.Show()
	}
	changed := false
	if len(th) != p.threadCount {
		switch {
		case len(th) > 0 && p.threadCount <= 0:
			p.split.SetOffset(min(p.split.Offset, splitThread))
		case len(th) == 0 && p.threadCount != 0:
			p.split.SetOffset(splitNoThread)
		}
		p.threadCount = len(th)
		p.thread.RemoveAll()
		if len(th) == 0 {
			p.thread.Add(p.threadHint)
		}
		for range th {
			p.thread.Add(newThreadItem())
		}
		p.threadShown = make([]threadKey, len(th))
		changed = true
	}
	for i, e := range th {
		streaming := p.run != nil && p.run.ask && i == len(th)-1
		k := keyOfThread(e, streaming)
		if p.threadShown[i] == k {
			continue
		}
		p.threadShown[i] = k
		setThreadItem(p.thread.Objects[i].(*fyne.Container), e, streaming)
		changed = true
	}
	if !changed {
		return
	}
	p.thread.Refresh()
	if p.run != nil && p.run.ask {
		p.threadBox.ScrollToBottom()
	}
}

// threadKey is what a thread item shows, to tell whether it changed; the
// zero value never matches a shown item.
type threadKey struct {
	shown                    bool
	question, answer, stop   string
	model                    string
	complete, test, streamed bool
}

func keyOfThread(e app.ThreadEntry, streaming bool) threadKey {
	return threadKey{shown: true, question: e.Question, answer: e.Answer, stop: e.Stop, model: e.Model.Label() + "\x00" + e.Model.Name,
		complete: e.Complete, test: e.Model.TestModel, streamed: streaming}
}

// newThreadItem is one question and its answer: the question in bold, the
// answer, and a line naming the model with its warnings.
func newThreadItem() *fyne.Container {
	q := widget.NewLabel("")
	q.Wrapping = fyne.TextWrapWord
	q.TextStyle.Bold = true
	a := widget.NewLabel("")
	a.Wrapping = fyne.TextWrapWord
	meta := widget.NewLabel("")
	meta.Wrapping = fyne.TextWrapWord
	meta.SizeName = theme.SizeNameCaptionText
	return container.NewVBox(q, a, meta, widget.NewSeparator())
}

func setThreadItem(c *fyne.Container, e app.ThreadEntry, streaming bool) {
	q := c.Objects[0].(*widget.Label)
	a := c.Objects[1].(*widget.Label)
	meta := c.Objects[2].(*widget.Label)
	q.SetText("Q: " + e.Question)
	ans := strings.TrimSpace(e.Answer)
	if ans == "" && streaming {
		ans = "…"
	}
	a.SetText(ans)
	parts := []string{"AI answer — requires radiologist review", e.Model.Label()}
	meta.Importance = widget.WarningImportance
	if e.Model.TestModel {
		parts = []string{"TEST MODEL — not a report", e.Model.Name}
		meta.Importance = widget.DangerImportance
	}
	switch {
	case streaming:
		parts = append(parts, "writing…")
	case !e.Complete && e.Stop == "cancelled":
		parts = append(parts, "INCOMPLETE — stopped")
	case !e.Complete && e.Stop == "error":
		parts = append(parts, "INCOMPLETE — the model failed")
	case !e.Complete && e.Stop == "length":
		parts = append(parts, "INCOMPLETE — token limit")
	case !e.Complete:
		parts = append(parts, "INCOMPLETE")
	}
	meta.SetText(strings.Join(parts, " · "))
}

// fmtSeconds is a duration as "12.3 s" or "2 min 05 s".
func fmtSeconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d min %02d s", s/60, s%60)
}
