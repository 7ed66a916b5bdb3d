package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/app/apptest"
	"cxrview/imaging/imagingtest"
)

func TestAutosaveTiming(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, log := openTest(t, d, st, c)

	// Opening alone writes nothing.
	c.Advance(10 * time.Second)
	if _, ok := savedText(t, d, st.Key); ok {
		t.Fatal("a draft file was written before any change")
	}

	// One change: saved after the quiet period, not before.
	s.SetText("Heart")
	c.Advance(DefaultQuiet - time.Millisecond)
	if _, ok := savedText(t, d, st.Key); ok {
		t.Fatal("saved before the quiet period ended")
	}
	c.Advance(time.Millisecond)
	if got, _ := savedText(t, d, st.Key); got != "Heart" {
		t.Fatalf("after the quiet period: %q", got)
	}

	// Continuous typing (a key every 100 ms for 5 s) is debounced, but what
	// was typed MaxDelay ago is always on disk.
	type typed struct {
		at   time.Time
		text string
	}
	var history []typed
	text := "Heart"
	ok0, _ := log.count()
	for i := range 50 {
		text += string(rune('a' + i%26))
		s.SetText(text)
		history = append(history, typed{c.Now(), text})
		c.Advance(100 * time.Millisecond)
		got, _ := savedText(t, d, st.Key)
		for _, h := range history {
			if !h.at.After(c.Now().Add(-DefaultMaxDelay)) && !strings.HasPrefix(got, h.text) {
				t.Fatalf("at %v the disk holds %q, missing %q typed at %v", c.Now().Sub(history[0].at), got, h.text, h.at.Sub(history[0].at))
			}
		}
	}
	ok1, _ := log.count()
	if saves := ok1 - ok0; saves < 4 || saves > 6 {
		t.Errorf("50 keys over 5 s gave %d saves, want one per MaxDelay (about 5)", saves)
	}
	// Typing stops: the rest is saved after the quiet period, then nothing
	// is pending.
	c.Advance(DefaultQuiet)
	if got, _ := savedText(t, d, st.Key); got != text {
		t.Fatalf("after typing stopped: %q, want %q", got, text)
	}
	if n := c.pending(); n != 0 {
		t.Errorf("%d timers pending with nothing to save", n)
	}
	ok2, _ := log.count()
	c.Advance(time.Minute)
	if ok3, _ := log.count(); ok3 != ok2 {
		t.Errorf("%d saves without changes", ok3-ok2)
	}

	// An unchanged SetText is not a change; Flush writes at once.
	s.SetText(text)
	if n := c.pending(); n != 0 {
		t.Errorf("SetText with the same text scheduled a save")
	}
	s.SetText(text + ".")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, _ := savedText(t, d, st.Key); got != text+"." {
		t.Errorf("Flush: %q", got)
	}
}

func TestAutosaveSystemClock(t *testing.T) {
	// The real clock and timers, with a short delay: wait for the save
	// callback rather than sleeping a fixed time.
	d, st := testDirs(t), pngStudy(t)
	saved := make(chan error, 10)
	s, err := OpenSession(d, st, SessionOptions{Quiet: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
		OnSave: func(err error) { saved <- err }})
	if err != nil {
		t.Fatal(err)
	}
	s.SetText("No pneumothorax.")
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no save within 10 s")
	}
	if got, _ := savedText(t, d, st.Key); got != "No pneumothorax." {
		t.Errorf("saved %q", got)
	}
}

func TestRestoreAfterReopen(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	eng := newFakeEngine(splitPieces(reportPieces)...)
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{ModelSHA256: "ab12"}, nil); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(reportPieces, "normal", "mildly enlarged", 1)
	s.SetText(edited)
	eng.pieces = splitPieces("The costophrenic angles are sharp.")
	if _, err := s.Ask(context.Background(), eng, cxrModel, "Is there a pleural effusion?", GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(DefaultMaxDelay) // autosave, no Flush: what a crash would leave

	s2, _ := openTest(t, d, crStudy(t), c)
	got := s2.Draft()
	if got.Text != edited || got.AI == nil || got.AI.Text != reportPieces || got.Status() != StatusEdited {
		t.Fatalf("restored text %q, AI %+v, status %s", got.Text, got.AI, got.Status())
	}
	if got.AI.Model.SHA256 != "ab12" || got.AI.Prompt == "" || !got.AI.Complete || got.AI.Stats == nil {
		t.Errorf("restored generation lost its provenance: %+v", got.AI)
	}
	if len(got.Thread) != 1 || got.Thread[0].Answer != "The costophrenic angles are sharp." {
		t.Fatalf("restored thread %+v", got.Thread)
	}
	turns := s2.Turns("And the heart?")
	if len(turns) != 3 || turns[0].Assistant != reportPieces || turns[1].User != "Is there a pleural effusion?" || turns[2].User != "And the heart?" {
		t.Errorf("restored conversation %+v", turns)
	}
	if got.Key != st.Key || got.Source.SOPUID != st.Meta.SOPInstanceUID {
		t.Errorf("source %+v", got.Source)
	}
}

func TestGenerationInterruptedByExit(t *testing.T) {
	// cxrview dies while the model streams: the partial text was autosaved;
	// reopening marks it interrupted and records it in the audit trail.
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pieces := splitPieces(reportPieces)
	progressed := make(chan struct{})
	release := make(chan struct{})
	finished := make(chan struct{})
	defer func() { close(release); <-finished }()
	go func() {
		defer close(finished)
		s.Generate(ctx, newFakeEngine(pieces...), cxrModel, GenerateOptions{}, func(p Progress) {
			if p.Tokens == 3 {
				close(progressed)
				<-release
			}
		})
	}()
	<-progressed
	c.Advance(DefaultMaxDelay) // the autosave runs while the model is mid-way
	partial, ok := savedText(t, d, st.Key)
	if !ok || partial != strings.Join(pieces[:3], "") {
		t.Fatalf("autosaved partial text %q", partial)
	}
	onDisk, _ := LoadDraft(d, st.Key)
	autosaved := onDisk.Updated // when the last saved text arrived
	c.Advance(10 * time.Minute)
	// "Crash": a new session reads the disk while the old one is stuck.
	s2, _ := openTest(t, d, st, c)
	dr := s2.Draft()
	if dr.AI == nil || dr.AI.Stop != "interrupted" || dr.AI.Complete || dr.Text != partial {
		t.Fatalf("reopened: %+v", dr.AI)
	}
	if ls := dr.Labels(); !contains(ls, "INCOMPLETE — cxrview ended during generation") || !contains(ls, LabelAIDraft) {
		t.Errorf("labels %q", ls)
	}
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadAudit(d, st.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Event != AuditGenerate || evs[0].Generation.Text != partial || evs[0].Generation.Stop != "interrupted" {
		t.Fatalf("audit after the crash: %+v", evs)
	}
	// It ended about when its last saved text arrived, not when cxrview
	// was started again.
	if f := evs[0].Generation.Finished; !f.Equal(autosaved) || autosaved.IsZero() {
		t.Errorf("interrupted generation finished %v, last saved change %v", f, autosaved)
	}
	if _, err := s2.Sign("Dr. A. Reader"); !errors.Is(err, ErrIncomplete) {
		t.Errorf("signing an interrupted draft: %v", err)
	}
}

func TestAuditTrail(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	eng := newFakeEngine(splitPieces(reportPieces)...)
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{ModelSHA256: "feed", Sampling: engineSampling()}, nil); err != nil {
		t.Fatal(err)
	}
	texts := []string{
		strings.Replace(reportPieces, "normal", "enlarged", 1),
		strings.Replace(reportPieces, "normal", "enlarged", 1) + "\nRecommend follow-up.",
		"Findings: Cardiomegaly.\nImpression: Cardiomegaly.\nRecommend follow-up.",
	}
	for _, x := range texts {
		s.SetText(x)
		c.Advance(DefaultMaxDelay)
	}
	if _, err := s.Sign("Dr. A. Reader"); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := s.Export(FormatText, out, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadAudit(d, st.Key)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Event)
		if e.Key != st.Key || e.Time.IsZero() {
			t.Errorf("event without key or time: %+v", e)
		}
	}
	want := "generate edit edit edit sign export"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(kinds, " "), want)
	}
	g := evs[0].Generation
	if g.Model.Name != cxrModel.Name || g.Model.SHA256 != "feed" || g.Prompt == "" || g.Sampling != engineSampling() ||
		g.Text != reportPieces || g.Stats == nil || g.Stats.PromptMS != 120 || g.InputSHA256 == "" || g.View == nil {
		t.Errorf("generation event lacks provenance: %+v", g)
	}
	if g.Stats.PromptTokenIDs != nil || g.Stats.TokenIDs != nil {
		t.Errorf("token ids were kept in the trail")
	}
	// Replaying the diffs onto the AI text gives every version.
	text := g.Text
	for i, e := range evs[1:4] {
		next, err := Patch(text, e.Diff)
		if err != nil {
			t.Fatalf("edit %d: %v\n%s", i+1, err, e.Diff)
		}
		if next != texts[i] {
			t.Fatalf("edit %d replays to %q, want %q", i+1, next, texts[i])
		}
		text = next
	}
	if sg := evs[4].Signature; sg == nil || sg.Reader != "Dr. A. Reader" || sg.Text != texts[2] || evs[4].Status != StatusFinal {
		t.Errorf("sign event %+v", evs[4])
	}
	if e := evs[5]; e.Format != FormatText || !strings.HasPrefix(e.Path, out) || e.Error != "" {
		t.Errorf("export event %+v", e)
	}
	// The trail is only appended to: earlier lines are unchanged.
	before, _ := os.ReadFile(AuditPath(d, st.Key))
	s.SetText(texts[2] + " Amended.")
	s.Flush()
	after, _ := os.ReadFile(AuditPath(d, st.Key))
	if !strings.HasPrefix(string(after), string(before)) || len(after) <= len(before) {
		t.Error("the audit trail was rewritten, not appended to")
	}
}

func TestSignAndAmend(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrEmptyReport) {
		t.Errorf("signing an empty report: %v", err)
	}
	eng := newFakeEngine(splitPieces(reportPieces)...)
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st != StatusAIDraft {
		t.Fatalf("after generation: %s", st)
	}
	if ls := s.Labels(); !contains(ls, LabelAIDraft) || !contains(ls, LabelPreliminary) {
		t.Errorf("AI draft labels %q", ls)
	}
	if _, err := s.Sign("  "); !errors.Is(err, ErrNoReader) {
		t.Errorf("signing without a name: %v", err)
	}
	c.Advance(time.Minute)
	sig, err := s.Sign("Dr. A. Reader")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status() != StatusFinal || sig.Version != 1 || !sig.Time.Equal(c.Now()) || sig.Text != reportPieces ||
		sig.AIModel != cxrModel.Name || !strings.HasPrefix(sig.DocumentUID, "2.25.") {
		t.Fatalf("signature %+v, status %s", sig, s.Status())
	}
	if ls := s.Labels(); len(ls) != 0 {
		t.Errorf("a signed report keeps labels %q", ls)
	}
	if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrUnchanged) {
		t.Errorf("signing twice: %v", err)
	}
	if _, err := s.Generate(context.Background(), eng, cxrModel, GenerateOptions{Replace: true}, nil); !errors.Is(err, ErrSigned) {
		t.Errorf("regenerating a signed report: %v", err)
	}
	if err := s.Clear(); !errors.Is(err, ErrSigned) {
		t.Errorf("clearing a signed report: %v", err)
	}
	// Editing a final report starts an amendment; the final text is kept.
	amended := reportPieces + "\nAddendum: small left apical pneumothorax."
	s.SetText(amended)
	if st := s.Status(); st != StatusAmending || st.FHIR() != "preliminary" {
		t.Fatalf("edited final report: %s", st)
	}
	dr := s.Draft()
	if len(dr.Signatures) != 1 || dr.Signatures[0].Text != reportPieces {
		t.Fatalf("the final version changed: %+v", dr.Signatures)
	}
	if ls := dr.Labels(); len(ls) == 0 || !strings.Contains(ls[0], "unsigned amendment") {
		t.Errorf("amendment labels %q", ls)
	}
	c.Advance(time.Hour)
	sig2, err := s.Sign("Dr. B. Second")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status() != StatusAmended || s.Status().FHIR() != "amended" || sig2.Version != 2 || sig2.Text != amended || sig2.DocumentUID == sig.DocumentUID {
		t.Fatalf("amendment %+v, status %s", sig2, s.Status())
	}
	// Reopened, the versions and the status are there.
	s2, _ := openTest(t, d, st, c)
	if dr := s2.Draft(); dr.Status() != StatusAmended || len(dr.Signatures) != 2 || dr.Signatures[0].Reader != "Dr. A. Reader" {
		t.Errorf("reopened: %s %+v", dr.Status(), dr.Signatures)
	}
}

func TestTestModelRules(t *testing.T) {
	d, st, c := testDirs(t), crStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	if _, err := s.Generate(context.Background(), newFakeEngine("random", " tokens"), testModel, GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if ls := s.Labels(); len(ls) == 0 || ls[0] != LabelTestModel {
		t.Errorf("test model labels %q", ls)
	}
	if dr := s.Draft(); !strings.Contains(dr.AI.Model.Label(), "TEST MODEL") || !strings.Contains(dr.AI.Model.License, "random weights") {
		t.Errorf("model record %+v", dr.AI.Model)
	}
	if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrTestModel) {
		t.Errorf("signing a test model draft: %v", err)
	}
	// Editing the text does not launder it.
	s.SetText("Findings: normal chest.")
	if _, err := s.Sign("Dr. A. Reader"); !errors.Is(err, ErrTestModel) {
		t.Errorf("signing an edited test model draft: %v", err)
	}
	out := t.TempDir()
	for _, f := range []Format{FormatSR, FormatFHIR} {
		if _, err := s.Export(f, out, ExportOptions{}); !errors.Is(err, ErrTestModel) {
			t.Errorf("%s export of a test model draft: %v", f, err)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused exports left files: %v", entries)
	}
	// Clearing leaves it behind; a report written by hand can be signed.
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	if s.Status() != StatusEmpty {
		t.Fatalf("after Clear: %s", s.Status())
	}
	s.SetText("Findings: normal chest.")
	if _, err := s.Sign("Dr. A. Reader"); err != nil {
		t.Fatalf("signing a hand-written report: %v", err)
	}
	if dr := s.Draft(); dr.Signatures[0].AIModel != "" {
		t.Errorf("a hand-written report names a model: %+v", dr.Signatures[0])
	}
	evs, _ := ReadAudit(d, st.Key)
	var cleared *AuditEvent
	for i := range evs {
		if evs[i].Event == AuditClear {
			cleared = &evs[i]
		}
	}
	if cleared == nil || cleared.Text != "Findings: normal chest." {
		t.Errorf("the cleared text is not in the audit trail: %+v", cleared)
	}
}

func TestSaveFailureFullDisk(t *testing.T) {
	full := apptest.FullDisk(t)
	d := Dirs{Data: full}
	st, c := pngStudy(t), newManualClock()
	s, log := openTest(t, d, st, c)
	s.SetText("Findings: typed while the disk is full.")
	c.Advance(DefaultMaxDelay)
	err := s.Err()
	var se *SaveError
	if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save to a full disk: %v", err)
	}
	if !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "keeps trying") {
		t.Errorf("message for the user: %v", err)
	}
	if _, failed := log.count(); failed == 0 {
		t.Error("OnSave did not hear of the failure")
	}
	if s.Text() != "Findings: typed while the disk is full." {
		t.Fatal("the text in memory was lost")
	}
	assertNoTemp(t, full)
	// Retried on its own after RetryDelay, still failing.
	_, f0 := log.count()
	c.Advance(DefaultRetryDelay)
	if _, f1 := log.count(); f1 != f0+1 {
		t.Errorf("no retry after RetryDelay (%d → %d failures)", f0, f1)
	}
	// Space comes back: the next change saves at once.
	apptest.FreeFullDisk(t, full)
	s.SetText("Findings: typed while the disk is full. More.")
	c.Advance(0)
	if err := s.Err(); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if got, _ := savedText(t, d, st.Key); got != "Findings: typed while the disk is full. More." {
		t.Errorf("saved %q", got)
	}
	evs, err := ReadAudit(d, st.Key)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Event != AuditEdit {
		t.Errorf("audit after the failure: %v %+v", err, evs)
	}
}

func TestSaveFailureReadOnly(t *testing.T) {
	ro, makeWritable := apptest.ReadOnlyDir(t)
	d := Dirs{Data: ro}
	st, c := pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	s.SetText("Impression: clear lungs.")
	_, err := s.Sign("Dr. A. Reader")
	var se *SaveError
	if !errors.As(err, &se) {
		t.Fatalf("sign with a read-only data folder: %v", err)
	}
	if s.Status() != StatusFinal {
		t.Fatalf("the signature was lost in memory: %s", s.Status())
	}
	if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
		t.Errorf("cause: %v", err)
	}
	makeWritable()
	c.Advance(DefaultRetryDelay)
	if err := s.Err(); err != nil {
		t.Fatalf("retry after the folder became writable: %v", err)
	}
	dr, err := LoadDraft(d, st.Key)
	if err != nil || dr.Status() != StatusFinal || dr.Signatures[0].Reader != "Dr. A. Reader" {
		t.Fatalf("saved after retry: %v %+v", err, dr)
	}
	evs, _ := ReadAudit(d, st.Key)
	if len(evs) != 2 || evs[0].Event != AuditEdit || evs[1].Event != AuditSign {
		t.Errorf("audit lines written after the retry: %+v", evs)
	}
}

func TestDamagedDraft(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	path := DraftPath(d, st.Key)
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte(`{"format": 1, "key": "`), 0o600)
	s, err := OpenSession(d, st, SessionOptions{Clock: c})
	if s == nil || err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), ".damaged-") {
		t.Fatalf("damaged draft: %v", err)
	}
	matches, _ := filepath.Glob(path + ".damaged-*")
	if len(matches) != 1 {
		t.Fatalf("damaged file not kept aside: %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); string(b) != `{"format": 1, "key": "` {
		t.Errorf("the damaged file changed")
	}
	if s.Status() != StatusEmpty {
		t.Errorf("new draft status %s", s.Status())
	}

	// A draft from a newer cxrview is left alone.
	os.WriteFile(path, []byte(`{"format": 99, "key": "`+st.Key+`"}`), 0o600)
	if s, err := OpenSession(d, st, SessionOptions{Clock: c}); s != nil || err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Errorf("newer draft: %v", err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "99") {
		t.Error("a newer draft was overwritten")
	}
}

func TestSafeKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"1.2.840.113619.2.55.3", "1.2.840.113619.2.55.3"},
		{"sha256:0a1b", "sha256_0a1b"},
	} {
		if got := safeKey(tc.key); got != tc.want {
			t.Errorf("safeKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	for _, bad := range []string{"../../etc/passwd", "", ".", "..", "a/b", strings.Repeat("1", 200), "x\x00y"} {
		got := safeKey(bad)
		if !strings.HasPrefix(got, "key_") || strings.ContainsAny(got, `/\.`) {
			t.Errorf("safeKey(%q) = %q", bad, got)
		}
	}
	if safeKey("a/b") == safeKey("a_b") {
		t.Error("distinct keys share a file")
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAnswerInterruptedByExit: cxrview dies while a follow-up answer
// streams. Reopening records the question and its partial answer in the
// audit trail, ended when its last saved piece arrived (approximately when
// cxrview died), so a later Generate, which drops the thread, loses nothing.
func TestAnswerInterruptedByExit(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	s, _ := openTest(t, d, st, c)
	if _, err := s.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), cxrModel, GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	pieces := splitPieces("There is no pleural effusion on either side.")
	progressed, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer func() { close(release); <-finished }()
	go func() {
		defer close(finished)
		s.Ask(context.Background(), newFakeEngine(pieces...), cxrModel, "Is there an effusion?", GenerateOptions{}, func(p Progress) {
			if p.Tokens == 3 {
				close(progressed)
				<-release
			}
		})
	}()
	<-progressed
	c.Advance(DefaultMaxDelay) // autosave mid-answer
	onDisk, _ := LoadDraft(d, st.Key)
	autosaved := onDisk.Updated // when the last saved piece arrived
	c.Advance(time.Hour)        // cxrview is restarted much later

	s2, _ := openTest(t, d, st, c)
	th := s2.Draft().Thread
	partial := strings.Join(pieces[:3], "")
	if len(th) != 1 || th[0].Stop != "interrupted" || th[0].Answer != partial || !th[0].Answered.Equal(autosaved) || autosaved.IsZero() {
		t.Fatalf("reopened thread %+v (autosaved at %v)", th, autosaved)
	}
	if _, err := s2.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), cxrModel, GenerateOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if len(s2.Draft().Thread) != 0 {
		t.Fatal("a new AI draft kept the old thread")
	}
	evs, _ := ReadAudit(d, st.Key)
	var asks []AuditEvent
	for _, e := range evs {
		if e.Event == AuditAsk {
			asks = append(asks, e)
		}
	}
	if len(asks) != 1 || asks[0].Thread.Question != "Is there an effusion?" || asks[0].Thread.Answer != partial ||
		asks[0].Thread.Stop != "interrupted" {
		t.Errorf("audited answers %+v", asks)
	}
	// Opening again does not record it twice.
	s3, _ := openTest(t, d, st, c)
	s3.Flush()
	evs2, _ := ReadAudit(d, st.Key)
	if len(evs2) != len(evs) {
		t.Errorf("reopening added %d events", len(evs2)-len(evs))
	}
}

// TestDraftForOtherContent: a draft found by the SOP Instance UID of a
// file whose bytes differ from those it was written for comes with a
// warning naming the file it was written for.
func TestDraftForOtherContent(t *testing.T) {
	d, c := testDirs(t), newManualClock()
	film := imagingtest.CRFilm(t)
	st := crStudy(t)
	s, _ := openTest(t, d, st, c)
	s.SetText("Findings: normal.")
	s.Flush()
	if w := s.Warning(); w != "" {
		t.Errorf("warning on a new draft: %q", w)
	}
	if s2, _ := openTest(t, d, crStudy(t), c); s2.Warning() != "" {
		t.Errorf("warning for the same file: %q", s2.Warning())
	}
	// The same SOP Instance UID, one pixel changed.
	b, err := os.ReadFile(film)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 0x01
	copyPath := filepath.Join(t.TempDir(), "copy.dcm")
	os.WriteFile(copyPath, b, 0o644)
	other, err := OpenStudy(copyPath)
	if err != nil || other.Key != st.Key {
		t.Fatalf("copy: %v, key %s", err, other.Key)
	}
	s3, _ := openTest(t, d, other, c)
	if w := s3.Warning(); !strings.Contains(w, film) || !strings.Contains(w, "content differs") {
		t.Errorf("warning %q", w)
	}
	if s3.Text() != "Findings: normal." {
		t.Errorf("the draft did not come back: %q", s3.Text())
	}
	// Working on it does not make it the copy's: the warning still names
	// the original next time.
	s3.SetText("Findings: normal. Checked.")
	s3.Flush()
	if w := s3.Draft().Source.Path; w != film {
		t.Errorf("draft source became %s", w)
	}
	if s4, _ := openTest(t, d, other, c); !strings.Contains(s4.Warning(), film) {
		t.Errorf("warning after saving %q", s4.Warning())
	}
}

// TestSaveErrorSaysWhatFailed: when only the audit trail cannot be
// written the message says so (the draft is saved); when both fail both
// causes are shown.
func TestSaveErrorSaysWhatFailed(t *testing.T) {
	d, st, c := testDirs(t), pngStudy(t), newManualClock()
	os.MkdirAll(d.Data, 0o700)
	os.WriteFile(filepath.Join(d.Data, "audit"), []byte("a file where the audit folder goes"), 0o600)
	s, _ := openTest(t, d, st, c)
	s.SetText("Findings: normal.")
	err := s.Flush()
	var se *SaveError
	if !errors.As(err, &se) || !se.AuditOnly || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("audit folder blocked: %#v", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "audit trail not saved: "+AuditPath(d, st.Key)) || strings.Contains(msg, "draft not saved") {
		t.Errorf("message %q", msg)
	}
	if got, _ := savedText(t, d, st.Key); got != "Findings: normal." {
		t.Errorf("the draft was not saved: %q", got)
	}

	draftErr, auditErr := errors.New("disk on fire"), errors.New("audit on fire")
	both := &SaveError{Path: "/d/x.json", Err: draftErr, AuditPath: "/d/x.jsonl", AuditErr: auditErr}
	if msg := both.Error(); !strings.Contains(msg, "draft not saved: /d/x.json: disk on fire") ||
		!strings.Contains(msg, "audit trail not saved either: /d/x.jsonl: audit on fire") {
		t.Errorf("both: %q", msg)
	}
	if !errors.Is(both, draftErr) || !errors.Is(both, auditErr) {
		t.Error("errors.Is does not reach both causes")
	}
}
