package app

import (
	"cxrview/app/apptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSettingsRoundTrip(t *testing.T) {
	d := Dirs{Config: t.TempDir()}
	s, err := LoadSettings(d)
	if err != nil || s.Theme != "dark" || s.Engine != EngineEmbedded || s.GPULayers != -1 {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	s.ReaderName = "Dr. A. Reader"
	s.Theme = "light"
	for i := 0; i < 15; i++ {
		s.AddRecent(filepath.Join("/films", string(rune('a'+i))+".dcm"))
	}
	s.AddRecent("/films/c.dcm")
	if err := SaveSettings(d, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSettings(d)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReaderName != s.ReaderName || got.Theme != "light" || len(got.RecentFiles) != maxRecent || got.RecentFiles[0] != "/films/c.dcm" {
		t.Errorf("round trip: %+v", got)
	}
	for i, p := range got.RecentFiles[1:] {
		if p == "/films/c.dcm" {
			t.Errorf("recent file repeated at %d", i+1)
		}
	}
}

func TestSettingsDamaged(t *testing.T) {
	d := Dirs{Config: t.TempDir()}
	os.WriteFile(filepath.Join(d.Config, "settings.json"), []byte("{not json"), 0o644)
	s, err := LoadSettings(d)
	if err == nil || !strings.Contains(err.Error(), "settings.json") {
		t.Errorf("damaged file: %v", err)
	}
	if s.Theme != "dark" {
		t.Errorf("no defaults after damage: %+v", s)
	}
}

func TestWriteFileAtomicFailures(t *testing.T) {
	// A folder that cannot be created: a plain file stands in its place.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if err := WriteFileAtomic(filepath.Join(file, "settings.json"), []byte("x"), 0o644); err == nil {
		t.Error("write below a plain file: no error")
	}
	// A full disk: the old content stays and no temporary file is left.
	dir := apptest.FullDisk(t)
	path := filepath.Join(dir, "draft.json")
	err := WriteFileAtomic(path, make([]byte, 256<<10), 0o644)
	if err == nil || !strings.Contains(err.Error(), "draft.json") {
		t.Errorf("write to a full disk: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestPrivateFiles: settings (the reader's name, recent paths that name
// patients) are readable by the user alone, in a folder made private;
// exports keep ordinary modes; a settings file an older cxrview left
// readable by all is made private when read.
func TestPrivateFiles(t *testing.T) {
	root := t.TempDir()
	d := Dirs{Config: filepath.Join(root, "new", "config")}
	if err := SaveSettings(d, DefaultSettings()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		settingsPath(d):            0o600,
		d.Config:                   0o700,
		filepath.Join(root, "new"): 0o700,
	} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v (%v)", path, st.Mode().Perm(), want, err)
		}
	}
	pub := filepath.Join(root, "exports", "x.report.txt")
	if err := WriteFileAtomic(pub, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Dir(pub)); st.Mode().Perm() != 0o755 {
		t.Errorf("export folder mode %v", st.Mode().Perm())
	}
	os.Chmod(settingsPath(d), 0o644)
	if _, err := LoadSettings(d); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(settingsPath(d)); st.Mode().Perm() != 0o600 {
		t.Errorf("old settings file left %v", st.Mode().Perm())
	}
}
