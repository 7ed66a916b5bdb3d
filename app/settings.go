package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Engine kinds a user can choose.
const (
	EngineEmbedded = "embedded" // the runner on this computer
	EngineOllama   = "ollama"   // an Ollama server
)

// Settings are the user's preferences, shared by the viewer and the
// command line, kept as JSON in the configuration folder.
type Settings struct {
	Theme        string   `json:"theme"`       // "dark" (default, reading rooms) or "light"
	ReaderName   string   `json:"reader_name"` // signs reports
	RecentFiles  []string `json:"recent_files,omitempty"`
	TeachingMode bool     `json:"teaching_mode"` // hide everything that identifies a patient
	Overlays     bool     `json:"overlays"`      // corner text on the image

	Engine      string `json:"engine"`                 // EngineEmbedded or EngineOllama
	Model       string `json:"model,omitempty"`        // name in the model store
	OllamaHost  string `json:"ollama_host,omitempty"`  // e.g. http://gpu-server:11434
	OllamaModel string `json:"ollama_model,omitempty"` // model name on that server
	GPULayers   int    `json:"gpu_layers"`             // -1 auto, 0 CPU, n layers
	Threads     int    `json:"threads,omitempty"`      // 0: one per physical core
	Context     int    `json:"context,omitempty"`      // 0: the engine's default
}

// DefaultSettings are the settings of a new user.
func DefaultSettings() Settings {
	return Settings{Theme: "dark", Overlays: true, Engine: EngineEmbedded, GPULayers: -1}
}

const maxRecent = 10

// AddRecent puts path first in the recent files, once.
func (s *Settings) AddRecent(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	out := []string{path}
	for _, p := range s.RecentFiles {
		if p != path && len(out) < maxRecent {
			out = append(out, p)
		}
	}
	s.RecentFiles = out
}

func settingsPath(d Dirs) string { return filepath.Join(d.Config, "settings.json") }

// LoadSettings reads the settings; a missing file gives the defaults. A
// damaged file is an error that names it (the defaults come back with it,
// so the caller can go on).
func LoadSettings(d Dirs) (Settings, error) {
	s := DefaultSettings()
	b, err := os.ReadFile(settingsPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read settings: %w", err)
	}
	if st, err := os.Stat(settingsPath(d)); err == nil && st.Mode().Perm()&0o077 != 0 {
		// Written readable by all by an earlier cxrview.
		os.Chmod(settingsPath(d), 0o600)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return DefaultSettings(), fmt.Errorf("settings file %s is damaged (%v); using defaults", settingsPath(d), err)
	}
	if s.Theme != "light" {
		s.Theme = "dark"
	}
	if s.Engine != EngineOllama {
		s.Engine = EngineEmbedded
	}
	return s, nil
}

// SaveSettings writes the settings atomically, readable by the user
// alone (0600, in a 0700 folder when it makes one): they hold the reader's
// name and recent files whose paths often name patients.
func SaveSettings(d Dirs, s Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(settingsPath(d), append(b, '\n'), 0o600)
}
