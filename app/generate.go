package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"cxrview/engine"
	"cxrview/imaging"
)

// GenerateOptions say what to ask the model. Ask uses all but Preset,
// Question and Replace.
type GenerateOptions struct {
	Preset   engine.Preset // "": engine.PresetReport
	Question string        // the user's question, for engine.PresetQuestion
	// View is the window the model sees, as the user set it; nil: the
	// study's default. Follow-up questions reuse the AI draft's view.
	View      *imaging.View
	Sampling  engine.Sampling
	MaxTokens int // 0: engine.DefaultMaxTokens
	// ModelSHA256 and License describe the model file, from the model
	// store; License "" gives DefaultLicense.
	ModelSHA256 string
	License     string
	// Replace allows a new AI draft to replace a draft with edits (the
	// panel asks first). The replaced text stays in the audit trail.
	Replace bool
}

// Progress is what the report panel shows while a model runs.
type Progress struct {
	Piece           engine.Piece
	Text            string // everything generated so far in this run
	Tokens          int
	Elapsed         time.Duration
	TokensPerSecond float64
}

// ErrNoText is returned when a model finishes without writing anything.
var ErrNoText = errors.New("the model produced no text")

// Generate runs the model on the study and streams its answer into the
// report: the first piece replaces the current text (a draft with edits
// only when opts.Replace is set) and starts a new conversation, each piece
// is passed to progress (from the engine's goroutine). The generation is
// kept exactly as produced, with the model, prompt, sampling, input hash
// and statistics, in the draft and in the audit trail.
//
// When the user stops it (cancelling ctx: the error matches
// context.Canceled) or it reaches the token limit, the partial text stays
// in the draft, marked incomplete. When the model fails (an engine error
// or crash) after replacing a draft, that draft comes back as it was —
// text, AI draft and thread — and the fragment is kept in the audit trail
// only; with no draft before it, the fragment stays, marked incomplete.
// When it fails before writing anything the draft is left as it was.
func (s *Session) Generate(ctx context.Context, eng engine.Engine, model engine.ModelInfo, opts GenerateOptions, progress func(Progress)) (*Generation, error) {
	preset := opts.Preset
	if preset == "" {
		preset = engine.PresetReport
	}
	question, err := preset.Question(opts.Question)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	switch d := s.d; {
	case s.busy != "":
		s.mu.Unlock()
		return nil, ErrBusy
	case len(d.Signatures) > 0:
		s.mu.Unlock()
		return nil, ErrSigned
	case !opts.Replace && strings.TrimSpace(d.Text) != "" && (d.AI == nil || d.Text != d.AI.Text):
		s.mu.Unlock()
		return nil, ErrWouldReplace
	}
	s.busy = "generate"
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		s.busy = ""
		s.mu.Unlock()
	}

	view := s.study.DefaultView()
	if opts.View != nil {
		view = *opts.View
	}
	in, err := s.modelInput(view, model.ImageSize)
	if err != nil {
		release()
		return nil, err
	}
	gen := &Generation{
		Model:       modelRecord(model, opts),
		Preset:      preset,
		Prompt:      question,
		Sampling:    opts.Sampling,
		MaxTokens:   cmpOr(opts.MaxTokens, engine.DefaultMaxTokens),
		View:        recordView(view),
		InputSHA256: in.hash,
		Started:     s.clock.Now(),
	}
	req := engine.Request{Image: in.img, Turns: []engine.Turn{{User: question}}, Sampling: opts.Sampling, MaxTokens: gen.MaxTokens}

	started, done, tokens := false, false, 0
	// What the first piece replaces, to come back if the model fails.
	var prevText string
	var prevAI *Generation
	var prevThread []ThreadEntry
	onPiece := func(p engine.Piece) {
		s.mu.Lock()
		if done {
			s.mu.Unlock()
			return
		}
		if !started {
			started = true
			s.auditEditsLocked() // the user's last edits reach the trail before they are replaced
			if s.d.Text != "" && (s.d.AI == nil || s.d.Text != s.d.AI.Text) {
				s.queueLocked(AuditEvent{Event: AuditReplace, Text: s.d.Text})
			}
			prevText, prevAI, prevThread = s.d.Text, s.d.AI, s.d.Thread
			s.d.AI = gen
			s.d.Thread = nil
		}
		gen.Text += p.Text
		s.d.Text = gen.Text
		tokens++
		s.changedLocked()
		pr := progressOf(p, gen.Text, tokens, s.clock.Now().Sub(gen.Started))
		s.mu.Unlock()
		if progress != nil {
			progress(pr)
		}
	}
	stats, gerr := runEngine(ctx, eng, req, onPiece)

	s.mu.Lock()
	done = true
	gen.Finished = s.clock.Now()
	gen.Stats = keepStats(stats)
	finish(ctx, &gen.Complete, &gen.Stop, &gen.Error, stats, gerr)
	restored := started && gen.Stop == "error" && strings.TrimSpace(prevText) != ""
	if started {
		s.audited = s.d.Text
		s.changedLocked()
	}
	s.busy = ""
	s.queueLocked(AuditEvent{Event: AuditGenerate, Generation: cloneGeneration(gen)})
	if restored {
		s.d.Text, s.d.AI, s.d.Thread = prevText, prevAI, prevThread
		s.audited = prevText
		s.queueLocked(AuditEvent{Event: AuditRestore, Text: prevText})
		s.changedLocked()
	}
	out := cloneGeneration(gen)
	s.mu.Unlock()
	s.Flush() // the generation is on disk before the caller hears of it; failures reach OnSave and Err

	if restored {
		return out, fmt.Errorf("%s failed after %d tokens: %w; the previous draft is kept (the partial text is in the audit trail)", model.Name, tokens, gerr)
	}
	return out, runError(ctx, model.Name, started, tokens, gerr)
}

// Ask sends a follow-up question in the same conversation as the AI draft
// (see Turns) and streams the answer into a new thread entry. Asking is
// allowed on signed reports: the thread is not part of the report.
func (s *Session) Ask(ctx context.Context, eng engine.Engine, model engine.ModelInfo, question string, opts GenerateOptions, progress func(Progress)) (*ThreadEntry, error) {
	question = strings.TrimSpace(question)
	if question == "" {
		return nil, fmt.Errorf("the question is empty")
	}
	s.mu.Lock()
	if s.busy != "" {
		s.mu.Unlock()
		return nil, ErrBusy
	}
	s.busy = "ask"
	turns := s.turnsLocked(question)
	view := s.study.DefaultView()
	if opts.View != nil {
		view = *opts.View
	}
	if s.d.AI != nil && s.d.AI.View != nil {
		view = s.d.AI.View.View(s.study) // the image the conversation is about
	}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		s.busy = ""
		s.mu.Unlock()
	}
	in, err := s.modelInput(view, model.ImageSize)
	if err != nil {
		release()
		return nil, err
	}

	s.mu.Lock()
	s.d.Thread = append(s.d.Thread, ThreadEntry{Question: question, Model: modelRecord(model, opts), Asked: s.clock.Now()})
	idx := len(s.d.Thread) - 1
	s.changedLocked()
	s.mu.Unlock()

	req := engine.Request{Image: in.img, Turns: turns, Sampling: opts.Sampling, MaxTokens: cmpOr(opts.MaxTokens, engine.DefaultMaxTokens)}
	done, tokens := false, 0
	asked := s.clock.Now()
	onPiece := func(p engine.Piece) {
		s.mu.Lock()
		if done {
			s.mu.Unlock()
			return
		}
		e := &s.d.Thread[idx]
		e.Answer += p.Text
		tokens++
		s.changedLocked()
		pr := progressOf(p, e.Answer, tokens, s.clock.Now().Sub(asked))
		s.mu.Unlock()
		if progress != nil {
			progress(pr)
		}
	}
	stats, gerr := runEngine(ctx, eng, req, onPiece)

	s.mu.Lock()
	done = true
	e := &s.d.Thread[idx]
	e.Answered = s.clock.Now()
	e.Stats = keepStats(stats)
	finish(ctx, &e.Complete, &e.Stop, &e.Error, stats, gerr)
	s.changedLocked()
	s.busy = ""
	out := *e
	out.Stats = cloneStats(e.Stats)
	s.queueLocked(AuditEvent{Event: AuditAsk, Thread: &out})
	s.mu.Unlock()
	s.Flush()
	return &out, runError(ctx, model.Name, tokens > 0, tokens, gerr)
}

// runEngine calls the engine, turning a panic in it (or in a progress
// callback) into an error: the draft must survive a broken engine.
func runEngine(ctx context.Context, eng engine.Engine, req engine.Request, onPiece func(engine.Piece)) (st engine.Stats, err error) {
	if eng == nil {
		return st, engine.ErrNoModel
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", engine.ErrEngineCrashed, r)
		}
	}()
	return eng.Generate(ctx, req, onPiece)
}

// finish records how a run ended.
func finish(ctx context.Context, complete *bool, stop, msg *string, st engine.Stats, err error) {
	switch {
	case st.StopReason == "cancelled" || ctx.Err() != nil || errors.Is(err, context.Canceled):
		*stop = "cancelled"
	case err != nil:
		*stop = "error"
		*msg = err.Error()
	case st.StopReason == "length":
		*stop = "length"
	default:
		*complete = true
	}
}

// runError is the error Generate and Ask return for how the run ended.
func runError(ctx context.Context, model string, started bool, tokens int, err error) error {
	if cerr := ctx.Err(); cerr != nil || errors.Is(err, context.Canceled) {
		if cerr == nil {
			cerr = context.Canceled
		}
		if started {
			return fmt.Errorf("stopped after %d tokens; the partial text is kept and marked incomplete: %w", tokens, cerr)
		}
		return fmt.Errorf("stopped before any text: %w", cerr)
	}
	switch {
	case err != nil && started:
		return fmt.Errorf("%s failed after %d tokens: %w; the partial text is kept and marked incomplete", model, tokens, err)
	case err != nil:
		return fmt.Errorf("%s: %w; the draft is unchanged", model, err)
	case !started:
		return fmt.Errorf("%s: %w", model, ErrNoText)
	}
	return nil
}

func progressOf(p engine.Piece, text string, tokens int, el time.Duration) Progress {
	pr := Progress{Piece: p, Text: text, Tokens: tokens, Elapsed: el}
	if el > 0 {
		pr.TokensPerSecond = float64(tokens) / el.Seconds()
	}
	return pr
}

func modelRecord(m engine.ModelInfo, o GenerateOptions) ModelRecord {
	lic := o.License
	if lic == "" {
		lic = DefaultLicense(m)
	}
	return ModelRecord{Name: m.Name, SHA256: o.ModelSHA256, License: lic, Template: m.Template,
		Backend: m.Backend, General: m.General, TestModel: m.TestModel}
}

// maxAspect bounds the aspect ratio of images sent to the model: the input
// is the centre square of the film, which for a strip (a scanned ruler, a
// corrupt header) shows almost nothing.
const maxAspect = 10

// modelInput renders the study through view and prepares the model's
// square input, reusing the last one when nothing changed (follow-up
// questions send the same image again).
func (s *Session) modelInput(view imaging.View, size int) (*modelInput, error) {
	if size <= 0 {
		return nil, fmt.Errorf("the model reports no image size; load a vision model")
	}
	rec := *recordView(view)
	s.mu.Lock()
	if in := s.input; in != nil && in.view == rec && in.size == size && view.Window.LUT == nil {
		s.mu.Unlock()
		return in, nil
	}
	s.mu.Unlock()
	if w, h := s.study.Image.Width, s.study.Image.Height; max(w, h) > maxAspect*min(w, h) {
		return nil, fmt.Errorf("the image is %d×%d pixels, more than %d times longer than wide: the model reads chest films, which are about square", w, h, maxAspect)
	}
	g := imaging.PrepareModelInput(s.study.Image.Render(view), size)
	sum := sha256.Sum256(g.Pix)
	in := &modelInput{view: rec, size: size, img: g, hash: hex.EncodeToString(sum[:])}
	s.mu.Lock()
	s.input = in
	s.mu.Unlock()
	return in, nil
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
