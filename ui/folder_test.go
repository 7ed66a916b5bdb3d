package ui

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNaturalCompare(t *testing.T) {
	names := []string{"img10.dcm", "IMG2.dcm", "img1.dcm", "img002b.dcm", "a", "img02.dcm", "img2a.dcm"}
	slices.SortStableFunc(names, naturalCompare)
	want := []string{"a", "img1.dcm", "IMG2.dcm", "img02.dcm", "img2a.dcm", "img002b.dcm", "img10.dcm"}
	if !slices.Equal(names, want) {
		t.Errorf("%q, want %q", names, want)
	}
}

func TestLooksLikeImage(t *testing.T) {
	dir := t.TempDir()
	pre := make([]byte, 132)
	copy(pre[128:], "DICM")
	files := map[string][]byte{
		"withpreamble":  pre,
		"nopreamble":    {0x08, 0x00, 0x05, 0x00, 'C', 'S', 10, 0},
		"png":           []byte("\x89PNG\r\n\x1a\nrest"),
		"jpeg":          {0xFF, 0xD8, 0xFF, 0xE0},
		"empty.dcm":     nil,
		"text":          []byte("hello, world, this is text"),
		"short":         {0x08},
		"group7fe0only": {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0},
	}
	want := map[string]bool{"withpreamble": true, "nopreamble": true, "png": true, "jpeg": true, "empty.dcm": true}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		if got := looksLikeImage(p); got != want[name] {
			t.Errorf("%s: %v", name, got)
		}
	}
}
