package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTeachingErrorsNameNoPath: in teaching mode the messages of a
// multi-item open, of a folder without images and the status line while a
// folder is read name no file or folder (their names are often patients').
func TestTeachingErrorsNameNoPath(t *testing.T) {
	root := filepath.Join(t.TempDir(), "DOE_JOHN_1950")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(root, "film.png")
	writePNG(t, good, 20, 20, func(x, y int) uint8 { return uint8(x) })
	empty := filepath.Join(t.TempDir(), "JONES_MARY")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	identifying := []string{"DOE_JOHN", "SMITH_ANNA", "JONES_MARY", "BROWN_LEE"}

	tv := newTestViewer(t, Options{})
	tv.win.Canvas().OnTypedRune()('t')
	if !tv.teaching {
		t.Fatal("T did not turn teaching mode on")
	}
	tv.OpenPaths([]string{good, filepath.Join(root, "SMITH_ANNA.dcm"), filepath.Join(t.TempDir(), "BROWN_LEE")})
	tv.pump(nil)
	d := tv.dialogTexts()
	if !strings.Contains(d, "Some items cannot be opened") || !strings.Contains(d, "Item 2") || !strings.Contains(d, "Item 3") {
		t.Errorf("multi-item error %q", d)
	}
	if hits := containsAny([]string{d}, identifying); len(hits) > 0 {
		t.Errorf("the multi-item error names a path: %q", d)
	}
	tv.closeDialogs()

	tv.OpenFolder(empty)
	if msg := tv.status.message.Text; strings.Contains(msg, "JONES_MARY") || strings.Contains(msg, "the image") {
		t.Errorf("status while reading the folder: %q", msg)
	}
	tv.pump(nil)
	d = tv.dialogTexts()
	if !strings.Contains(d, "the folder has no files") || strings.Contains(d, "JONES_MARY") || strings.Contains(d, "Folder:") {
		t.Errorf("folder error in teaching mode: %q", d)
	}
}
