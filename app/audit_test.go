package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditWriteWaitsForLock: while another process holds the trail's
// lock (its write and, if that fails, its cut-back in progress), an append
// waits, so a cut-back can never take its lines.
func TestAuditWriteWaitsForLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "x.jsonl")
	if err := writeAuditLines(path, [][]byte{[]byte("{\"n\":1}\n")}); err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	unlock, err := lockFile(other)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- writeAuditLines(path, [][]byte{[]byte("{\"n\":3}\n")}) }()
	select {
	case err := <-done:
		unlock()
		t.Fatalf("the append did not wait for the lock (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	// The other process finishes its write and releases the file.
	other.Write([]byte("{\"n\":2}\n"))
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got := strings.Fields(string(b)); strings.Join(got, " ") != `{"n":1} {"n":2} {"n":3}` {
		t.Errorf("trail %q", b)
	}
}
