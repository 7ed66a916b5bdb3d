// Package imagingtest finds the test inputs that cxrview's tests share: the
// real CR chest film shipped in the dicom module's testdata, and the Debian
// tools (dcmtk, gdcm) used as oracles.
package imagingtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CRFilmModule is the module whose testdata holds the CR film.
const CRFilmModule = "github.com/suyashkumar/dicom@v1.0.7"

// CRFilm returns the path of testdata/4.dcm of the dicom module: a
// 2140×1760 MONOCHROME1 CR chest film (TCIA COVID-19-AR), 10 of 16 bits,
// implicit VR little endian. The test fails when it is missing.
func CRFilm(tb testing.TB) string {
	tb.Helper()
	dir, err := moduleDir()
	if err != nil {
		tb.Fatalf("imagingtest: locate %s: %v (run `go mod download %s`)", CRFilmModule, err, CRFilmModule)
	}
	p := filepath.Join(dir, "testdata", "4.dcm")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("imagingtest: the CR film is missing: %v (run `go mod download %s`)", err, CRFilmModule)
	}
	return p
}

func moduleDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err == nil {
		if cache := strings.TrimSpace(string(out)); cache != "" {
			p := filepath.Join(cache, filepath.FromSlash(CRFilmModule))
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	out, err = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", strings.Split(CRFilmModule, "@")[0]).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", &toolError{string(ee.Stderr)}
		}
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", &toolError{"go list printed no directory"}
	}
	return dir, nil
}

type toolError struct{ msg string }

func (e *toolError) Error() string { return strings.TrimSpace(e.msg) }

// RequireTool returns the path of the executable name, or fails the test
// saying which Debian package provides it.
func RequireTool(tb testing.TB, name, debianPkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("imagingtest: %s not found: install the Debian package %s (apt-get install %s)", name, debianPkg, debianPkg)
	}
	return p
}
