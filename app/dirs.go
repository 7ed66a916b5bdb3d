package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Dirs are the per-user directories cxrview writes to.
type Dirs struct {
	Config string // settings
	Data   string // drafts, audit trails, the model store
	Cache  string // generated benchmark models and other things that can be rebuilt
}

// DefaultDirs returns the operating system's per-user directories for
// cxrview. CXRVIEW_HOME, when set, puts all three under one folder: tests and
// portable installs (a USB stick in a clinic) use it.
func DefaultDirs() (Dirs, error) {
	if home := os.Getenv("CXRVIEW_HOME"); home != "" {
		abs, err := filepath.Abs(home)
		if err != nil {
			return Dirs{}, fmt.Errorf("CXRVIEW_HOME %s: %w", home, err)
		}
		return Dirs{
			Config: filepath.Join(abs, "config"),
			Data:   filepath.Join(abs, "data"),
			Cache:  filepath.Join(abs, "cache"),
		}, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return Dirs{}, fmt.Errorf("find the configuration directory: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Dirs{}, fmt.Errorf("find the cache directory: %w", err)
	}
	data, err := userDataDir()
	if err != nil {
		return Dirs{}, err
	}
	return Dirs{
		Config: filepath.Join(cfg, "cxrview"),
		Data:   filepath.Join(data, "cxrview"),
		Cache:  filepath.Join(cache, "cxrview"),
	}, nil
}

// userDataDir is the XDG data home on Unix-like systems; macOS and Windows
// keep data beside the configuration (Application Support, AppData\Roaming).
func userDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return d, nil
	}
	switch runtime.GOOS {
	case "darwin", "windows", "ios", "plan9":
		return os.UserConfigDir()
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share"), nil
}
