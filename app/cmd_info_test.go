package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

func TestInfoCRFilm(t *testing.T) {
	film := imagingtest.CRFilm(t)
	env, out, errb := testEnv(t)
	if code := Run(context.Background(), env, []string{"info", film}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	for _, want := range []string{
		"DICOM 1760 × 2140, gray, 10 bits stored, frame 1 of 1",
		"COVID-19-AR-16406488",
		"Study          2012-01-15 21:32:47  XR CHEST AP ONLY",
		"Modality       CR",
		"0.2 × 0.2 mm (PixelSpacing)",
		"1.2.840.10008.1.2 (Implicit VR Little Endian)",
		"center 511, width 1023, LINEAR",
		"MONOCHROME1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}

	env, out, _ = testEnv(t)
	if code := Run(context.Background(), env, []string{"info", "--json", film}); code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	var j infoJSON
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if j.Width != 1760 || j.Meta.Modality != "CR" || j.Meta.SpacingSource != "PixelSpacing" || len(j.Windows) != 1 || j.Key != j.Meta.SOPInstanceUID || !j.Inverse {
		t.Errorf("JSON %+v", j)
	}
}

func TestInfoAndRenderBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not an image\n"), 0o644)
	trunc := filepath.Join(dir, "cut.dcm")
	data, err := os.ReadFile(imagingtest.CRFilm(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"info", text}, 1, text + ": not a DICOM, PNG or JPEG file"},
		{[]string{"info", filepath.Join(dir, "missing.dcm")}, 1, "no such file"},
		{[]string{"info"}, 2, "want one FILE"},
		{[]string{"info", trunc}, 1, "pixel data truncated"},
		{[]string{"render", trunc, filepath.Join(dir, "o.png")}, 1, "pixel data truncated"},
		{[]string{"render", text, filepath.Join(dir, "o.png")}, 1, "not a DICOM, PNG or JPEG file"},
		{[]string{"render", "--window", "abc", text, "o.png"}, 2, "want center,width"},
		{[]string{"render", "--window", "10,0", text, "o.png"}, 2, "must be at least 1"},
		{[]string{"render", "--window", "1,2", "--voi", "1", text, "o.png"}, 2, "exclude each other"},
		{[]string{"render", "--frame", "3", imagingtest.CRFilm(t), filepath.Join(dir, "o.png")}, 1, "the file has 1 frame(s)"},
		{[]string{"render", "--voi", "2", imagingtest.CRFilm(t), filepath.Join(dir, "o.png")}, 1, "the file has 1 window(s)"},
		{[]string{"render", imagingtest.CRFilm(t), filepath.Join(dir, "no", "such", "dir.png")}, 1, "write"},
	} {
		env, _, errb := testEnv(t)
		code := Run(context.Background(), env, c.args)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errb, c.code, c.want)
		}
		if c.code == 1 && strings.Count(strings.TrimRight(errb.String(), "\n"), "\n") != 0 {
			t.Errorf("%v: more than one line on stderr: %q", c.args, errb)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o.png")); err == nil {
		t.Errorf("a failed render left o.png behind")
	}
}
