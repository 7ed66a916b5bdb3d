package app

import (
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

func TestWriteFileAtomicReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores folder permissions")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if err := WriteFileAtomic(filepath.Join(dir, "x"), []byte("x"), 0o644); err == nil {
		t.Error("write into a read-only folder: no error")
	}
}
