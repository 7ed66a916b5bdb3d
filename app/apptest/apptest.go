// Package apptest holds test helpers shared by the app and ui tests.
package apptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
