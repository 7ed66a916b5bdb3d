// Package apptest holds test helpers shared by the app and ui tests.
package apptest

import (
	"os"
	"os/exec"
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
