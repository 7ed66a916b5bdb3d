package imaging_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging"
	"cxrview/imaging/imagingtest"
)

func TestFindImages(t *testing.T) {
	film := imagingtest.CRFilm(t)
	dir := t.TempDir()
	data, err := os.ReadFile(film)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "p1", "s1"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".cache"), 0o755)
	os.WriteFile(filepath.Join(dir, "p1", "s1", "view1"), data, 0o644) // DICOM without an extension
	os.WriteFile(filepath.Join(dir, "a.png"), []byte("\x89PNG\r\n\x1a\nrest"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("report text"), 0o644)
	os.WriteFile(filepath.Join(dir, ".cache", "x.dcm"), data, 0o644)
	got, err := imaging.FindImages([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "p1", "s1", "view1")}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("found %v, want %v", got, want)
	}
	if f, ok, err := imaging.Sniff(film); err != nil || !ok || f != imaging.FormatDICOM {
		t.Errorf("sniff film: %v %v %v", f, ok, err)
	}
	empty := t.TempDir()
	if _, err := imaging.FindImages([]string{empty}); err == nil || !strings.Contains(err.Error(), "no DICOM") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := imaging.FindImages([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing path: no error")
	}
}
