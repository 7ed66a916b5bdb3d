package app

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cxrview/engine"
)

// Autosave timing. A change is saved once the text has been quiet for
// DefaultQuiet, and never later than DefaultMaxDelay after the first unsaved
// change, so that continuous typing is still on disk within 2 s (the write
// itself takes milliseconds). A failed save is retried after
// DefaultRetryDelay, or at once on the next change.
const (
	DefaultQuiet      = 300 * time.Millisecond
	DefaultMaxDelay   = time.Second
	DefaultRetryDelay = 5 * time.Second
)

// Errors the report panel tells apart.
var (
	ErrBusy         = errors.New("the model is still running on this study")
	ErrSigned       = errors.New("the report is signed: edit it to write an amendment")
	ErrWouldReplace = errors.New("the draft has edits that a new AI draft would replace")
	ErrNoReader     = errors.New("no reader name: set your name in Settings before signing")
	ErrEmptyReport  = errors.New("the report is empty")
	ErrTestModel    = errors.New("the draft comes from a TEST MODEL (random weights): it is not a report and cannot be signed or exported as one; clear it and write or generate a real draft")
	ErrIncomplete   = errors.New("the AI draft is incomplete: edit it or generate it again before signing")
	ErrUnchanged    = errors.New("the report is already signed as it stands")
)

// SaveError says that a draft or its audit trail could not be written. The
// session keeps everything in memory and tries again at the next change
// and every RetryDelay, so the user loses nothing while they free space.
type SaveError struct {
	// Path is the draft file when it could not be written, else the
	// audit trail.
	Path string
	// Err is the draft's write error, else the audit trail's.
	Err error
	// AuditPath and AuditErr are the audit trail's failure when the
	// draft failed too.
	AuditPath string
	AuditErr  error
	// AuditOnly is set when only the audit trail failed (Path and Err
	// are then its own): the draft is not affected.
	AuditOnly bool
}

func (e *SaveError) Error() string {
	if e.AuditOnly {
		return fmt.Sprintf("audit trail not saved: %s: %v; the draft is not affected, the audit lines stay in memory and cxrview keeps trying",
			e.Path, rootCause(e.Err))
	}
	s := fmt.Sprintf("draft not saved: %s: %v", e.Path, rootCause(e.Err))
	if e.AuditErr != nil {
		s += fmt.Sprintf("; audit trail not saved either: %s: %v", e.AuditPath, rootCause(e.AuditErr))
	}
	return s + "; the text stays in memory and cxrview keeps trying"
}

// Unwrap returns the write errors (errors.Is(err, syscall.ENOSPC) works).
func (e *SaveError) Unwrap() []error {
	if e.AuditErr != nil {
		return []error{e.Err, e.AuditErr}
	}
	return []error{e.Err}
}

// SessionOptions tune a Session; the zero value is right for the viewer.
type SessionOptions struct {
	Clock      Clock         // nil: SystemClock
	Quiet      time.Duration // 0: DefaultQuiet
	MaxDelay   time.Duration // 0: DefaultMaxDelay
	RetryDelay time.Duration // 0: DefaultRetryDelay
	// OnSave, when set, is called after every save attempt with its
	// result (nil: saved), from the goroutine that saved. The viewer shows
	// the error and clears it on the next nil.
	OnSave func(error)
}

// Session is the report work on one study: it holds the draft, saves it
// shortly after every change, appends to the audit trail, runs the model
// for the draft and the follow-up thread, signs and exports. It is safe
// for concurrent use: the viewer calls it from the UI goroutine while a
// generation streams in from another.
type Session struct {
	dirs  Dirs
	study *Study
	opts  SessionOptions
	clock Clock

	// saveMu serialises writes to disk; mu guards the state below and is
	// never held during a write.
	saveMu sync.Mutex
	mu     sync.Mutex
	d      *Draft
	audit  auditLog
	// audited is the text as the audit trail last recorded it: the next
	// edit event is the diff from it.
	audited string

	changeSeq, savedSeq      uint64
	firstUnsaved, lastChange time.Time
	timer                    Timer
	timerSeq                 uint64
	saveErr                  error

	busy  string // "generate" or "ask" while the model runs
	input *modelInput
	// warning is set when the draft was written for a file whose content
	// differs from the study's.
	warning string
}

type modelInput struct {
	view ViewRecord
	size int
	img  *image.Gray
	hash string
}

// OpenSession opens the report work on st: its saved draft, thread and
// status come back, or a new empty draft starts (written at the first
// change). A damaged draft file is moved aside (kept, with ".damaged-" and
// the time added to its name) and a new draft starts: the session comes
// back together with an error saying so.
func OpenSession(d Dirs, st *Study, o SessionOptions) (*Session, error) {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	s := &Session{dirs: d, study: st, opts: o, clock: o.Clock, audit: auditLog{path: AuditPath(d, st.Key)}}
	now := s.clock.Now()
	dr, err := LoadDraft(d, st.Key)
	var warn error
	switch {
	case err == nil:
		s.d = dr
		if h := dr.Source.ContentHash; h != "" && st.Meta.ContentHash != "" && h != st.Meta.ContentHash {
			// Same SOP Instance UID, other bytes: a re-encoded copy
			// (lossy, another transfer syntax) or another image with a
			// reused UID. The source stays the draft's: it says what the
			// draft was written for.
			s.warning = fmt.Sprintf("this draft was written for %s, whose content differs from %s (same SOP Instance UID): check that it is the same image",
				dr.Source.Path, st.Path)
		} else {
			s.d.Source.Path = st.Path // the file may have moved; the key is what matters
		}
	case errors.Is(err, ErrNoDraft):
		s.d = newDraft(st, now)
	case !errors.Is(err, errDamagedDraft):
		return nil, err // unreadable, or from a newer cxrview: leave it alone
	default:
		path := DraftPath(d, st.Key)
		aside := path + ".damaged-" + now.Format("20060102T150405")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%v; moving it aside failed: %v", err, rerr)
		}
		s.d = newDraft(st, now)
		warn = fmt.Errorf("%v; it was kept as %s and a new draft started", err, aside)
	}
	s.audited = s.d.Text
	s.mu.Lock()
	defer s.mu.Unlock()
	// A generation or follow-up answer that was running when cxrview
	// ended is in the draft but never reached the audit trail: record it
	// now, ended when the last change saved before arrived (Updated:
	// approximately when cxrview died).
	ended := s.d.Updated
	if ended.IsZero() {
		ended = now
	}
	changed := false
	if g := s.d.AI; g != nil && g.Stop == "interrupted" && g.Finished.IsZero() {
		g.Finished = ended
		s.queueLocked(AuditEvent{Event: AuditGenerate, Generation: cloneGeneration(g)})
		changed = true
	}
	for i := range s.d.Thread {
		if e := &s.d.Thread[i]; e.Stop == "interrupted" && e.Answered.IsZero() {
			e.Answered = ended
			out := *e
			out.Stats = cloneStats(e.Stats)
			s.queueLocked(AuditEvent{Event: AuditAsk, Thread: &out})
			changed = true
		}
	}
	if changed {
		s.changedLocked()
	}
	return s, warn
}

// Warning is what the report panel should show about the draft before the
// reader relies on it, or "": a draft found by the image's SOP Instance
// UID whose file content differs from the one it was written for.
func (s *Session) Warning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warning
}

// Study is the study the session works on.
func (s *Session) Study() *Study { return s.study }

// Draft returns a copy of the draft as it stands.
func (s *Session) Draft() *Draft {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Clone()
}

// Status is the report's status.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Status()
}

// Text is the report text as it stands.
func (s *Session) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Text
}

// Labels are the warnings to show with the report text (see Draft.Labels).
func (s *Session) Labels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Labels()
}

// Busy reports whether a generation or a follow-up answer is running.
func (s *Session) Busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy != ""
}

// Err is the error of the latest save, nil once a save succeeds.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveErr
}

// SetText records the user's text. The change is saved within
// MaxDelay+write time and reaches the audit trail as a diff. Editing a
// signed report starts an amendment (StatusAmending). While a generation
// streams into the text the editor must be read-only: SetText returns
// ErrBusy.
func (s *Session) SetText(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == "generate" {
		return ErrBusy
	}
	if text == s.d.Text {
		return nil
	}
	s.d.Text = text
	s.changedLocked()
	return nil
}

// Sign makes the report final with the reader's name and the time: the
// first signature gives StatusFinal, later ones (after edits to a signed
// report) StatusAmended, each kept as a version. The signature is saved at
// once; a failure to save comes back as a *SaveError, with the report
// signed in memory and saved at the next attempt.
func (s *Session) Sign(reader string) (Signature, error) {
	reader = strings.TrimSpace(reader)
	if reader == "" {
		return Signature{}, ErrNoReader
	}
	s.mu.Lock()
	if err := s.canSignLocked(); err != nil {
		s.mu.Unlock()
		return Signature{}, err
	}
	s.auditEditsLocked()
	d := s.d
	sig := Signature{
		Version:     len(d.Signatures) + 1,
		Reader:      reader,
		Time:        s.clock.Now(),
		Text:        d.Text,
		TextSHA256:  textHash(d.Text),
		DocumentUID: NewUID(),
	}
	if d.AI != nil {
		sig.AIModel = d.AI.Model.Label()
	}
	d.Signatures = append(d.Signatures, sig)
	s.changedLocked()
	s.queueLocked(AuditEvent{Event: AuditSign, Signature: &sig})
	s.mu.Unlock()
	return sig, s.Flush()
}

// CanSign says why the report cannot be signed now, or returns nil; the
// panel greys out Sign and shows the reason.
func (s *Session) CanSign() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canSignLocked()
}

func (s *Session) canSignLocked() error {
	d := s.d
	switch st := d.Status(); {
	case s.busy != "":
		return ErrBusy
	case strings.TrimSpace(d.Text) == "":
		return ErrEmptyReport
	case st.Signed():
		return ErrUnchanged
	case d.TestModel():
		return ErrTestModel
	case d.AI != nil && d.Text == d.AI.Text && !d.AI.Complete:
		return ErrIncomplete
	}
	return nil
}

// Clear discards an unsigned draft: the text, the AI draft and the thread
// (all of them stay in the audit trail). It is how a TEST MODEL draft is
// left behind. A signed report cannot be cleared.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.busy != "":
		return ErrBusy
	case len(s.d.Signatures) > 0:
		return ErrSigned
	}
	s.auditEditsLocked()
	s.queueLocked(AuditEvent{Event: AuditClear, Text: s.d.Text})
	s.d.Text, s.d.AI, s.d.Thread = "", nil, nil
	s.audited = ""
	s.changedLocked()
	return nil
}

// Turns is the conversation to send for a follow-up question: the first
// question with the AI draft as the model wrote it (not as edited: it is
// the model's side of the conversation), each answered follow-up, then
// question. Follow-ups whose answer broke off are left out. Without an AI
// draft the conversation starts with question.
func (s *Session) Turns(question string) []engine.Turn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.turnsLocked(question)
}

func (s *Session) turnsLocked(question string) []engine.Turn {
	var turns []engine.Turn
	if g := s.d.AI; g != nil && strings.TrimSpace(g.Text) != "" {
		turns = append(turns, engine.Turn{User: g.Prompt, Assistant: g.Text})
	}
	for _, e := range s.d.Thread {
		// Answers that broke off (an engine error, Stop) are left out:
		// the model would read its own fragment as a finished answer.
		if (e.Complete || e.Stop == "length") && strings.TrimSpace(e.Answer) != "" && strings.TrimSpace(e.Question) != "" {
			turns = append(turns, engine.Turn{User: e.Question, Assistant: e.Answer})
		}
	}
	return append(turns, engine.Turn{User: question})
}

// Flush writes any unsaved change and pending audit lines now, for exit
// and before anything that must be on disk. It returns the save error.
func (s *Session) Flush() error {
	s.mu.Lock()
	s.stopTimerLocked()
	need := s.savedSeq < s.changeSeq || len(s.audit.pending) > 0
	s.mu.Unlock()
	if !need {
		return nil
	}
	return s.persist()
}

// Close flushes; the viewer calls it when the study's tab closes. A
// generation still running must be cancelled first, or what it adds later
// is saved by the autosave timer only.
func (s *Session) Close() error { return s.Flush() }

// changedLocked notes a change to the draft and schedules its save.
func (s *Session) changedLocked() {
	now := s.clock.Now()
	s.d.Updated = now
	if s.savedSeq == s.changeSeq {
		s.firstUnsaved = now
	}
	s.changeSeq++
	s.lastChange = now
	due := s.lastChange.Add(s.opts.Quiet)
	if lim := s.firstUnsaved.Add(s.opts.MaxDelay); lim.Before(due) {
		due = lim
	}
	s.scheduleLocked(due.Sub(now))
}

// queueLocked adds an audit event; it is written with the next save.
func (s *Session) queueLocked(ev AuditEvent) {
	ev.Time = s.clock.Now()
	ev.Key = s.study.Key
	ev.Status = s.d.Status()
	if err := s.audit.queue(ev); err != nil {
		s.saveErr = &SaveError{Path: s.audit.path, Err: err, AuditOnly: true}
	}
}

// auditEditsLocked queues the user's changes since the last audit event as
// one edit. It is not called while a generation streams in: model text is
// not an edit.
func (s *Session) auditEditsLocked() {
	if s.d.Text == s.audited {
		return
	}
	s.queueLocked(AuditEvent{Event: AuditEdit, Diff: Diff(s.audited, s.d.Text)})
	s.audited = s.d.Text
}

func (s *Session) scheduleLocked(after time.Duration) {
	s.stopTimerLocked()
	s.timerSeq++
	seq := s.timerSeq
	s.timer = s.clock.AfterFunc(max(after, 0), func() { s.fire(seq) })
}

func (s *Session) stopTimerLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerSeq++ // a timer already firing finds itself stale
}

func (s *Session) fire(seq uint64) {
	s.mu.Lock()
	if seq != s.timerSeq {
		s.mu.Unlock()
		return
	}
	s.timer = nil
	s.mu.Unlock()
	s.persist()
}

// persist writes the pending audit lines, then the draft if it changed.
// The state is copied under mu and written without it, so the editor never
// waits for the disk.
func (s *Session) persist() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()

	s.mu.Lock()
	if s.busy != "generate" {
		s.auditEditsLocked()
	}
	lines := len(s.audit.pending)
	pending := append([][]byte(nil), s.audit.pending...)
	seq := s.changeSeq
	dirty := s.savedSeq < seq
	var data []byte
	var merr error
	if dirty {
		data, merr = s.d.marshal()
	}
	s.mu.Unlock()

	aerr := writeAuditLines(s.audit.path, pending)
	var derr error
	if dirty {
		derr = merr
		if derr == nil {
			// Drafts hold patient data: the folder is the user's alone.
			path := DraftPath(s.dirs, s.study.Key)
			os.MkdirAll(filepath.Dir(path), 0o700)
			derr = WriteFileAtomic(path, data, 0o600)
		}
	}

	s.mu.Lock()
	var err error
	if aerr == nil {
		s.audit.pending = s.audit.pending[lines:]
	}
	if dirty && derr == nil {
		s.savedSeq = max(s.savedSeq, seq)
	}
	if derr != nil || aerr != nil {
		se := &SaveError{Path: DraftPath(s.dirs, s.study.Key), Err: derr, AuditPath: s.audit.path, AuditErr: aerr}
		if derr == nil {
			se.Path, se.Err, se.AuditPath, se.AuditErr, se.AuditOnly = s.audit.path, aerr, "", nil, true
		}
		err = se
		s.saveErr = err
		if s.timer == nil {
			s.scheduleLocked(s.opts.RetryDelay)
		}
	} else {
		s.saveErr = nil
		if s.savedSeq < s.changeSeq && s.timer == nil {
			// Changed while writing and no timer pending: save again.
			s.scheduleLocked(0)
		}
	}
	cb := s.opts.OnSave
	s.mu.Unlock()
	if cb != nil {
		cb(err)
	}
	return err
}

func cloneGeneration(g *Generation) *Generation {
	if g == nil {
		return nil
	}
	c := *g
	c.Stats = cloneStats(g.Stats)
	c.View = cloneView(g.View)
	return &c
}
