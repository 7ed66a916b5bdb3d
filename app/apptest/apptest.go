// Package apptest holds test helpers shared by the app and ui tests.
package apptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// FullDisk returns a folder on a 64 KiB file system that is already full,
// for tests of what happens when a save fails for lack of space. It mounts
// a tmpfs, which needs root (as `make test` in CI runs); elsewhere the test
// is skipped with that reason.
func FullDisk(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("simulating a full disk mounts a tmpfs, which needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	// Fill it: create files until the space runs out.
	block := make([]byte, 4096)
	for i := 0; ; i++ {
		f, err := os.CreateTemp(dir, "fill-*")
		if err != nil {
			break
		}
		_, err = f.Write(block)
		f.Close()
		if err != nil || i > 64 {
			break
		}
	}
	return dir
}

// EngineBinary returns a cxrview-engine binary for tests that run the real
// runner: $CXRVIEW_BIN/cxrview-engine when `make test` provides it, else one
// built from this module into a temporary folder. It also points
// CXRVIEW_LIBDIR at the repository's lib/ollama (the CPU backends) when that
// exists, so the runner uses the same code as the product.
func EngineBinary(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	if lib := filepath.Join(root, "lib", "ollama"); dirExists(lib) && os.Getenv("CXRVIEW_LIBDIR") == "" {
		t.Setenv("CXRVIEW_LIBDIR", lib)
	}
	if bin := os.Getenv("CXRVIEW_BIN"); bin != "" {
		p := filepath.Join(bin, "cxrview-engine")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		t.Fatalf("CXRVIEW_BIN=%s has no cxrview-engine (run make build)", bin)
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cxrview-engine-bin-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "cxrview-engine")
		cmd := exec.Command("go", "build", "-o", built, "./engine/cmd/cxrview-engine")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build the engine: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// ReadOnlyDir returns an empty folder that cannot be written, and a function
// that makes it writable again. As root (CI), permissions do not stop
// writes, so the folder is a tmpfs mounted read-only; otherwise it is a
// folder with mode 0500.
func ReadOnlyDir(t testing.TB) (dir string, makeWritable func()) {
	t.Helper()
	dir = t.TempDir()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatalf("make %s read-only: %v", dir, err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return dir, func() { os.Chmod(dir, 0o700) }
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a read-only tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir, func() {
		if out, err := exec.Command("mount", "-o", "remount,rw", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount %s read-write: %v: %s", dir, err, out)
		}
	}
}

// FreeFullDisk deletes the files FullDisk filled dir with, so that a test
// can check that saving resumes once space is free again.
func FreeFullDisk(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("free %s: %v", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "fill-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
