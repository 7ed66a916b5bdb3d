package imagingtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestCRFilm(t *testing.T) {
	p := CRFilm(t)
	st, err := os.Stat(p)
	if err != nil || st.Size() < 7_000_000 {
		t.Fatalf("%s: %v %v", p, st, err)
	}
	head := make([]byte, 132)
	f, _ := os.Open(p)
	defer f.Close()
	f.Read(head)
	if string(head[128:]) != "DICM" {
		t.Errorf("%s is not a DICOM file", p)
	}
}

func TestRequireTool(t *testing.T) {
	if p := RequireTool(t, "sh", "dash"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("sh found at %q", p)
	}
	r := &recorder{TB: t}
	RequireTool(r, "no-such-tool-cxrview", "cxrview-tools")
	if !strings.Contains(r.failed, "apt-get install cxrview-tools") {
		t.Errorf("message %q does not name the package", r.failed)
	}
}
