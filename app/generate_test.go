package app

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cxrview/engine"
	"cxrview/imaging"
)

func engineSampling() engine.Sampling {
	return engine.Sampling{Temperature: 0.2, TopK: 50, TopP: 0.8, Seed: 7}
}

func TestGenerateStreams(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	pieces := splitPieces(reportPieces)
	eng := newFakeEngine(pieces...)
	// The user chose a window: the model must see the film through it.
	view := imaging.View{Window: imaging.Window{Center: 600, Width: 400, Function: imaging.Linear, Name: "Narrow"}}
	var seen []Progress
	var mu sync.Mutex
	gen, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{View: &view, Sampling: engineSampling(), MaxTokens: 300},
		func(p Progress) {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
			// The panel reads the session while pieces arrive.
			if got := s.Text(); got != p.Text {
				t.Errorf("text in the session %q, in the progress %q", got, p.Text)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(pieces) || seen[len(seen)-1].Text != reportPieces || seen[2].Tokens != 3 || seen[2].Piece.Text != pieces[2] {
		t.Fatalf("progress: %d calls, last %+v", len(seen), seen[len(seen)-1])
	}
	if !gen.Complete || gen.Stop != "" || gen.Text != reportPieces || gen.MaxTokens != 300 || gen.Preset != engine.PresetReport {
		t.Errorf("generation %+v", gen)
	}
	if gen.View == nil || gen.View.Center != 600 || gen.View.Width != 400 {
		t.Errorf("view not recorded: %+v", gen.View)
	}
	reqs := eng.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	req := reqs[0]
	question, _ := engine.PresetReport.Question("")
	if len(req.Turns) != 1 || req.Turns[0].User != question || req.Sampling != engineSampling() || req.MaxTokens != 300 {
		t.Errorf("request %+v", req.Turns)
	}
	// The model input is the windowed film, prepared as the model expects.
	want := imaging.PrepareModelInput(st.Image.Render(view), cxrModel.ImageSize)
	if req.Image == nil || req.Image.Bounds() != image.Rect(0, 0, 64, 64) || string(req.Image.Pix) != string(want.Pix) {
		t.Fatal("the model input is not PrepareModelInput of the chosen view")
	}
	def := imaging.PrepareModelInput(st.Image.Render(st.DefaultView()), cxrModel.ImageSize)
	if string(def.Pix) == string(want.Pix) {
		t.Fatal("test is weak: the chosen window renders like the default")
	}
	if s.Status() != StatusAIDraft || s.Busy() {
		t.Errorf("after generation: %s, busy %v", s.Status(), s.Busy())
	}
}

func TestGenerateFailures(t *testing.T) {
	pieces := splitPieces(reportPieces)
	cases := []struct {
		name      string
		setup     func(*fakeEngine)
		wantStop  string
		wantErr   error
		wantLabel string
		n         int // pieces that arrive
	}{
		{"engine error mid-way", func(e *fakeEngine) { e.failAfter, e.failErr = 4, engine.ErrEngineCrashed },
			"error", engine.ErrEngineCrashed, "INCOMPLETE — the model failed", 4},
		{"engine panics", func(e *fakeEngine) { e.panicAfter = 5 }, "error", engine.ErrEngineCrashed, "INCOMPLETE — the model failed", 5},
		{"token limit", func(e *fakeEngine) { e.stopReason = "length" }, "length", nil, "INCOMPLETE — the model reached its token limit", len(pieces)},
		{"user stops", func(e *fakeEngine) { e.cancelAfter = 3 }, "cancelled", context.Canceled, "INCOMPLETE — generation stopped by the user", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, st, c := testDirs(t), pngStudy(t), newManualClock()
			s, _ := openTest(t, d, st, c)
			eng := newFakeEngine(pieces...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng.cancel = cancel
			tc.setup(eng)
			gen, err := s.Generate(ctx, eng, cxrModel, GenerateOptions{}, nil)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "partial text is kept") {
				t.Errorf("message does not say the text is kept: %v", err)
			}
			partial := strings.Join(pieces[:tc.n], "")
			if gen.Complete || gen.Stop != tc.wantStop || gen.Text != partial {
				t.Errorf("generation: complete %v stop %q text %q", gen.Complete, gen.Stop, gen.Text)
			}
			if s.Text() != partial || s.Busy() {
				t.Errorf("draft text %q, busy %v", s.Text(), s.Busy())
			}
			if ls := s.Labels(); !hasPrefix(ls, tc.wantLabel) {
				t.Errorf("labels %q lack %q", ls, tc.wantLabel)
			}
			if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrIncomplete) {
				t.Errorf("signing the incomplete draft: %v", err)
			}
			// On disk and in the trail, marked incomplete.
			dr, err := LoadDraft(d, st.Key)
			if err != nil || dr.Text != partial || dr.AI.Complete || dr.AI.Stop != tc.wantStop {
				t.Errorf("saved: %v %+v", err, dr)
			}
			evs, _ := ReadAudit(d, st.Key)
			if len(evs) != 1 || evs[0].Generation.Text != partial || evs[0].Generation.Stop != tc.wantStop {
				t.Errorf("audit: %+v", evs)
			}
			// Editing the partial text makes it signable.
			s.SetText(partial + " [completed by the reader]")
			if _, err := s.Sign("Dr. A. Reader"); err != nil {
				t.Errorf("signing the edited draft: %v", err)
			}
		})
	}
}

func TestGenerateKeepsDraftWhenNothingComes(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	if _, err := s.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), cxrModel, GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	before := s.Draft()
	// Crashes before the first token.
	eng := newFakeEngine("never")
	eng.failAfter, eng.failErr = 0, engine.ErrEngineCrashed
	_, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{}, nil)
	if !errors.Is(err, engine.ErrEngineCrashed) || !strings.Contains(err.Error(), "draft is unchanged") {
		t.Errorf("crash before any text: %v", err)
	}
	// Finishes without text.
	if _, err := s.Generate(context.Background(), newFakeEngine(), cxrModel, GenerateOptions{}, nil); !errors.Is(err, ErrNoText) {
		t.Errorf("empty output: %v", err)
	}
	// No engine at all.
	if _, err := s.Generate(context.Background(), nil, cxrModel, GenerateOptions{}, nil); !errors.Is(err, engine.ErrNoModel) {
		t.Errorf("nil engine: %v", err)
	}
	// A model that reports no image size.
	if _, err := s.Generate(context.Background(), newFakeEngine("x"), engine.ModelInfo{Name: "text-only"}, GenerateOptions{}, nil); err == nil {
		t.Error("a model without image size was run")
	}
	after := s.Draft()
	if after.Text != before.Text || after.AI.Text != before.AI.Text || !after.AI.Complete {
		t.Errorf("the draft changed: %q → %q", before.Text, after.Text)
	}
	if s.Busy() {
		t.Error("still busy")
	}
}

func TestGenerateReplaceRules(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	s.SetText("My own findings.")
	eng := newFakeEngine(splitPieces(reportPieces)...)
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{}, nil); !errors.Is(err, ErrWouldReplace) {
		t.Fatalf("replacing typed text without asking: %v", err)
	}
	if s.Text() != "My own findings." {
		t.Fatal("typed text lost")
	}
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{Replace: true}, nil); err != nil {
		t.Fatal(err)
	}
	// An unedited AI draft is regenerated without asking.
	eng2 := newFakeEngine("Second", " draft.")
	if _, err := s.Generate(context.Background(), eng2, cxrModel, GenerateOptions{Preset: engine.PresetDDx}, nil); err != nil {
		t.Fatal(err)
	}
	if s.Text() != "Second draft." || s.Draft().AI.Preset != engine.PresetDDx {
		t.Errorf("regenerated: %q", s.Text())
	}
	if _, err := s.Generate(context.Background(), eng2, cxrModel, GenerateOptions{Preset: engine.PresetQuestion}, nil); err == nil {
		t.Error("an empty free question was sent")
	}
	evs, _ := ReadAudit(d, st.Key)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Event)
	}
	// The typed text reaches the trail as an edit, then its replacement.
	if got := strings.Join(kinds, " "); got != "edit replace generate generate" {
		t.Errorf("events %q", got)
	}
	for _, e := range evs {
		if e.Event == AuditReplace && e.Text != "My own findings." {
			t.Errorf("replace event holds %q", e.Text)
		}
	}
}

func TestGenerateBusy(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	eng := newFakeEngine(splitPieces(reportPieces)...)
	inside := make(chan struct{})
	resume := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{}, func(p Progress) {
			if p.Tokens == 2 {
				close(inside)
				<-resume
			}
		})
		done <- err
	}()
	<-inside
	if err := s.SetText("typing during generation"); !errors.Is(err, ErrBusy) {
		t.Errorf("SetText while generating: %v", err)
	}
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{}, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second Generate: %v", err)
	}
	if _, err := s.Ask(context.Background(), eng, cxrModel, "Effusion?", GenerateOptions{}, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("Ask while generating: %v", err)
	}
	if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrBusy) {
		t.Errorf("Sign while generating: %v", err)
	}
	if _, err := s.Export(FormatText, t.TempDir(), ExportOptions{}); !errors.Is(err, ErrBusy) {
		t.Errorf("Export while generating: %v", err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Streamed text is not a user edit.
	s.Flush()
	evs, _ := ReadAudit(d, st.Key)
	for _, e := range evs {
		if e.Event == AuditEdit {
			t.Errorf("model text recorded as an edit: %+v", e)
		}
	}
}

func TestAskThread(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	view := imaging.View{Window: imaging.Window{Center: 500, Width: 700, Function: imaging.Linear}}
	eng := newFakeEngine(splitPieces(reportPieces)...)
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{View: &view}, nil); err != nil {
		t.Fatal(err)
	}
	s.SetText(reportPieces + " Edited by the reader.")
	eng.pieces = []string{"No", " effusion."}
	e, err := s.Ask(context.Background(), eng, cxrModel, "  Is there an effusion?  ", GenerateOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Question != "Is there an effusion?" || e.Answer != "No effusion." || !e.Complete {
		t.Errorf("entry %+v", e)
	}
	eng.pieces = []string{"Normal", " size."}
	if _, err := s.Ask(context.Background(), eng, cxrModel, "And the heart?", GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := eng.requests()
	last := reqs[len(reqs)-1]
	question, _ := engine.PresetReport.Question("")
	want := []engine.Turn{
		{User: question, Assistant: reportPieces}, // the model's words, not the edit
		{User: "Is there an effusion?", Assistant: "No effusion."},
		{User: "And the heart?"},
	}
	if len(last.Turns) != len(want) {
		t.Fatalf("turns %+v", last.Turns)
	}
	for i := range want {
		if last.Turns[i] != want[i] {
			t.Errorf("turn %d: %+v, want %+v", i, last.Turns[i], want[i])
		}
	}
	// The follow-up sees the same image as the draft.
	if string(last.Image.Pix) != string(reqs[0].Image.Pix) {
		t.Error("the follow-up sent a different image")
	}
	if _, err := engine.RenderPrompt(cxrModel.Template, last.Turns); err != nil {
		t.Errorf("the turns do not render: %v", err)
	}
	// A failed answer stays in the thread with its error and is not sent again.
	eng.pieces = []string{"Part", "ial"}
	eng.failAfter, eng.failErr = 1, engine.ErrEngineCrashed
	if _, err := s.Ask(context.Background(), eng, cxrModel, "Lines and tubes?", GenerateOptions{}, nil); !errors.Is(err, engine.ErrEngineCrashed) {
		t.Errorf("failed ask: %v", err)
	}
	dr := s.Draft()
	if n := len(dr.Thread); n != 3 || dr.Thread[2].Complete || dr.Thread[2].Answer != "Part" || dr.Thread[2].Error == "" {
		t.Errorf("thread after failure %+v", dr.Thread)
	}
	if dr.Text != reportPieces+" Edited by the reader." {
		t.Error("asking changed the report")
	}
	// Follow-ups are allowed on a signed report and leave it final.
	if _, err := s.Sign("Dr. A. Reader"); err != nil {
		t.Fatal(err)
	}
	eng.failAfter = -1
	eng.pieces = []string{"Yes."}
	if _, err := s.Ask(context.Background(), eng, cxrModel, "Is it final?", GenerateOptions{}, nil); err != nil || s.Status() != StatusFinal {
		t.Errorf("ask after signing: %v, %s", err, s.Status())
	}
	reqs = eng.requests()
	if turns := reqs[len(reqs)-1].Turns; len(turns) != 4 || turns[3].User != "Is it final?" {
		t.Errorf("the failed follow-up was sent again: %+v", turns)
	}
	evs, _ := ReadAudit(d, st.Key)
	asks := 0
	for _, e := range evs {
		if e.Event == AuditAsk {
			asks++
			if e.Thread == nil || e.Thread.Question == "" || e.Thread.Model.Name != cxrModel.Name {
				t.Errorf("ask event %+v", e)
			}
		}
	}
	if asks != 4 {
		t.Errorf("%d ask events, want 4", asks)
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestRegenerateFailureKeepsDraft: a new AI draft that fails mid-way (the
// engine crashes) gives the previous draft back — edited text, AI draft
// and thread — and keeps the fragment in the audit trail; Stop keeps the
// partial text, marked incomplete (the user chose to stop it).
func TestRegenerateFailureKeepsDraft(t *testing.T) {
	pieces := splitPieces(reportPieces)
	for _, tc := range []struct {
		name    string
		setup   func(*fakeEngine)
		restore bool
	}{
		{"engine error", func(e *fakeEngine) { e.failAfter, e.failErr = 4, engine.ErrEngineCrashed }, true},
		{"engine panic", func(e *fakeEngine) { e.panicAfter = 3 }, true},
		{"user stops", func(e *fakeEngine) { e.cancelAfter = 3 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, st, c := testDirs(t), pngStudy(t), newManualClock()
			s, _ := openTest(t, d, st, c)
			if _, err := s.Generate(context.Background(), newFakeEngine(pieces...), cxrModel, GenerateOptions{}, nil); err != nil {
				t.Fatal(err)
			}
			edited := reportPieces + "\nReader: agree."
			s.SetText(edited)
			eng := newFakeEngine("No", " effusion.")
			if _, err := s.Ask(context.Background(), eng, cxrModel, "Effusion?", GenerateOptions{}, nil); err != nil {
				t.Fatal(err)
			}
			before := s.Draft()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng = newFakeEngine(splitPieces("Findings: A different report that breaks off.")...)
			eng.cancel = cancel
			tc.setup(eng)
			gen, err := s.Generate(ctx, eng, cxrModel, GenerateOptions{Replace: true}, nil)
			if err == nil || gen == nil || gen.Complete || gen.Text == "" {
				t.Fatalf("error %v, generation %+v", err, gen)
			}
			after := s.Draft()
			saved, _ := LoadDraft(d, st.Key)
			if !tc.restore {
				if after.Text != gen.Text || after.AI.Stop != "cancelled" || len(after.Thread) != 0 || saved.Text != gen.Text {
					t.Errorf("after Stop: text %q, AI %+v, thread %d", after.Text, after.AI, len(after.Thread))
				}
				return
			}
			if !strings.Contains(err.Error(), "previous draft is kept") || !errors.Is(err, engine.ErrEngineCrashed) {
				t.Errorf("error %v", err)
			}
			if after.Text != edited || after.AI == nil || after.AI.Text != before.AI.Text || !after.AI.Complete ||
				len(after.Thread) != 1 || after.Thread[0].Answer != "No effusion." || after.Status() != StatusEdited {
				t.Errorf("previous draft not restored: text %q, AI %+v, thread %+v", after.Text, after.AI, after.Thread)
			}
			if saved == nil || saved.Text != edited || saved.AI.Text != before.AI.Text || len(saved.Thread) != 1 {
				t.Errorf("saved draft: %+v", saved)
			}
			evs, _ := ReadAudit(d, st.Key)
			var kinds []string
			for _, e := range evs {
				kinds = append(kinds, e.Event)
			}
			n := len(evs)
			if n < 3 || strings.Join(kinds[n-3:], " ") != "replace generate restore" ||
				evs[n-3].Text != edited || evs[n-2].Generation.Text != gen.Text || evs[n-2].Generation.Stop != "error" ||
				evs[n-1].Text != edited || evs[n-1].Status != StatusEdited {
				t.Errorf("audit trail %q", kinds)
			}
			// Edits after the restore are diffs from the restored text.
			s.SetText(edited + " More.")
			s.Flush()
			evs, _ = ReadAudit(d, st.Key)
			if last := evs[len(evs)-1]; last.Event != AuditEdit {
				t.Fatalf("last event %+v", last)
			} else if got, err := Patch(edited, last.Diff); err != nil || got != edited+" More." {
				t.Errorf("edit after restore replays to %q (%v)", got, err)
			}
		})
	}
}

// TestModelInputAspectRatio: a strip far from square is refused with its
// size named; the draft is unchanged.
func TestModelInputAspectRatio(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4000, 100))
	path := filepath.Join(t.TempDir(), "strip.png")
	var b bytes.Buffer
	png.Encode(&b, g)
	os.WriteFile(path, b.Bytes(), 0o644)
	st, err := OpenStudy(path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := openTest(t, testDirs(t), st, newManualClock())
	_, err = s.Generate(context.Background(), newFakeEngine("x"), cxrModel, GenerateOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "4000×100") {
		t.Errorf("strip: %v", err)
	}
	if s.Text() != "" || s.Busy() {
		t.Errorf("draft %q, busy %v", s.Text(), s.Busy())
	}
}
