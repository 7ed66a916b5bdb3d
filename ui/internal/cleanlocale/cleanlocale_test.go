package cleanlocale_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	_ "cxrview/ui/internal/cleanlocale"
	_ "fyne.io/fyne/v2/widget"
)

// TestNoLocaleNoise runs this test binary again, which imports Fyne's
// widgets beside this package exactly as package ui does, under several
// locales, and checks that Fyne logged nothing while starting.
func TestNoLocaleNoise(t *testing.T) {
	if os.Getenv("CLEANLOCALE_CHILD") == "1" {
		return // the child: its init already ran, and would have logged
	}
	for _, env := range [][]string{
		{"LANG=C.UTF-8"}, {"LC_ALL=C.utf8", "LANG=de_DE.UTF-8"}, {"LANG=POSIX.UTF-8"}, {"LANG=C"}, {},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoLocaleNoise$", "-test.count=1")
		cmd.Env = append([]string{"CLEANLOCALE_CHILD=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "Fyne error") {
			t.Errorf("%v: %v\n%s", env, err, out)
		}
	}
}
