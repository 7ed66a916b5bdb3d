package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Audit events.
const (
	AuditGenerate = "generate" // a generation ended (complete or not); Generation holds it all
	AuditAsk      = "ask"      // a follow-up question was answered (or failed)
	AuditEdit     = "edit"     // the user changed the report text; Diff holds the change
	AuditReplace  = "replace"  // a new AI draft replaced the text; Text holds the old text
	AuditClear    = "clear"    // the user discarded the draft; Text holds it
	AuditRestore  = "restore"  // a failed generation's fragment was dropped and the text before it came back; Text holds it
	AuditSign     = "sign"     // the reader signed; Signature holds the version
	AuditExport   = "export"   // an export was written (or failed: Error)
)

// AuditEvent is one line of a study's audit trail. Lines are only ever
// appended: the trail holds the model, prompt, sampling and timings of every
// generation with its text exactly as generated, every user edit as a diff,
// every signature and every export.
type AuditEvent struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Key    string    `json:"key"`
	Status Status    `json:"status"` // the report's status after the event

	Generation *Generation  `json:"generation,omitempty"`
	Thread     *ThreadEntry `json:"thread,omitempty"`
	Signature  *Signature   `json:"signature,omitempty"`

	Diff string `json:"diff,omitempty"`
	Text string `json:"text,omitempty"`

	Format     Format `json:"format,omitempty"`
	Path       string `json:"path,omitempty"`
	Anonymized bool   `json:"anonymized,omitempty"`

	Error string `json:"error,omitempty"`
}

// auditLog is one study's trail and the lines not yet written to it.
// Lines that cannot be written (a full disk) wait in memory and go out, in
// order, with the next save.
type auditLog struct {
	path    string
	pending [][]byte
}

// queue encodes ev and adds it to the lines to write.
func (a *auditLog) queue(ev AuditEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	a.pending = append(a.pending, append(b, '\n'))
	return nil
}

// writeAuditLines appends lines to the trail at path with one write and an
// fsync (O_APPEND: the trail is never rewritten). A failed write is cut
// back off the file so that no half line stays in the trail. The file is
// locked meanwhile (flock, where there is one), so that the cut never
// takes another process's lines with it; without a lock the cut is made
// only if the file still ends where this write left it.
func writeAuditLines(path string, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit trail %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit trail %s: %w", path, err)
	}
	unlock, err := lockFile(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("audit trail %s: lock: %w", path, err)
	}
	var size int64 = -1
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	var buf []byte
	for _, l := range lines {
		buf = append(buf, l...)
	}
	n, err := f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if st, serr := f.Stat(); size >= 0 && serr == nil && st.Size() == size+int64(n) {
			f.Truncate(size)
		}
		unlock()
		f.Close()
		return fmt.Errorf("audit trail %s: %w", path, err)
	}
	unlock()
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit trail %s: %w", path, err)
	}
	return nil
}

// ReadAudit returns a study's audit trail, oldest first. A study without
// one has none; a line that cannot be read is an error naming it.
func ReadAudit(d Dirs, key string) ([]AuditEvent, error) {
	path := AuditPath(d, key)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var ev AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("audit trail %s line %d: %v", path, n, err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read audit trail %s: %w", path, err)
	}
	return out, nil
}
