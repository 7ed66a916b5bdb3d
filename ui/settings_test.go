package ui

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"cxrview/app"
)

// TestSettingsWriter: changes reach the file in the order they were made,
// on top of edits made to the file from elsewhere; a damaged file is
// replaced by the window's settings; a failure is reported.
func TestSettingsWriter(t *testing.T) {
	dirs := app.Dirs{Config: t.TempDir()}
	var mu sync.Mutex
	var last app.Settings
	var errs []error
	w := &settingsWriter{dirs: dirs, written: func(s app.Settings, _ uint64, err error) {
		mu.Lock()
		defer mu.Unlock()
		last = s
		if err != nil {
			errs = append(errs, err)
		}
	}}
	window := app.DefaultSettings()
	// Another cxrview set the reader's name.
	other := app.DefaultSettings()
	other.ReaderName = "Dr Elsewhere"
	if err := app.SaveSettings(dirs, other); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		on := i%2 == 0
		change := func(s *app.Settings) { s.Overlays = on }
		change(&window)
		w.add(change, window)
		p := filepath.Join("/films", string(rune('a'+i%26))+".dcm")
		recent := func(s *app.Settings) { s.AddRecent(p) }
		recent(&window)
		w.add(recent, window)
	}
	w.wait()
	s, err := app.LoadSettings(dirs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Overlays != window.Overlays || s.ReaderName != "Dr Elsewhere" || len(s.RecentFiles) != 10 || s.RecentFiles[0] != window.RecentFiles[0] {
		t.Errorf("saved overlays %v (want %v), reader %q, recent %q", s.Overlays, window.Overlays, s.ReaderName, s.RecentFiles)
	}
	mu.Lock()
	if last.Overlays != s.Overlays || len(errs) > 0 {
		t.Errorf("last write reported %+v, errors %v", last, errs)
	}
	mu.Unlock()

	// A damaged file: the window's settings replace it.
	path := filepath.Join(dirs.Config, "settings.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	window.ReaderName = "Dr Window"
	w.add(func(s *app.Settings) { s.ReaderName = "Dr Window" }, window)
	w.wait()
	if s, err := app.LoadSettings(dirs); err != nil || s.ReaderName != "Dr Window" || s.RecentFiles[0] != window.RecentFiles[0] {
		t.Errorf("over a damaged file: %+v, %v", s, err)
	}

	// A folder that cannot be written: the error is reported.
	bad := &settingsWriter{dirs: app.Dirs{Config: filepath.Join(path, "not-a-folder")}, written: w.written}
	bad.add(func(s *app.Settings) { s.Theme = "light" }, window)
	bad.wait()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 {
		t.Errorf("errors %v, want one", errs)
	}
}
