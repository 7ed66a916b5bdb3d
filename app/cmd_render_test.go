package app

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging"
	"cxrview/imaging/imagingtest"
)

func TestRenderCRFilm(t *testing.T) {
	film := imagingtest.CRFilm(t)
	im, err := imaging.Open(film)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		view imaging.View
	}{
		{"default", nil, imaging.View{Window: im.DefaultWindow()}},
		{"window", []string{"--window", "600,400"}, imaging.View{Window: imaging.Window{Center: 600, Width: 400}}},
		{"voi", []string{"--voi", "1", "--invert"}, imaging.View{Window: im.Windows()[0], Invert: true}},
	} {
		out := filepath.Join(dir, c.name+".png")
		env, _, errb := testEnv(t)
		args := append(append([]string{"render"}, c.args...), film, out)
		if code := Run(context.Background(), env, args); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, code, errb)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok || g.Rect.Dx() != 1760 || g.Rect.Dy() != 2140 {
			t.Fatalf("%s: %T %v, want 1760×2140 gray", c.name, img, img.Bounds())
		}
		if want := im.Render(c.view); !bytes.Equal(g.Pix, want.Pix) {
			t.Errorf("%s: the PNG differs from imaging's rendering", c.name)
		}
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", c.name, st.Mode())
		}
	}
	// Flags may follow the file names.
	env, _, errb := testEnv(t)
	if code := Run(context.Background(), env, []string{"render", film, filepath.Join(dir, "late.png"), "--invert"}); code != 0 {
		t.Errorf("flags after files: exit %d: %s", code, errb)
	}
}

func TestParseWindow(t *testing.T) {
	for _, c := range []struct {
		in   string
		c, w float64
		ok   bool
	}{{"40,400", 40, 400, true}, {"-600/1500", -600, 1500, true}, {" 1 , 2 ", 1, 2, true}, {"1", 0, 0, false}, {"a,b", 0, 0, false}, {"5,0.5", 0, 0, false}} {
		w, err := parseWindow(c.in)
		if (err == nil) != c.ok || (c.ok && (w.Center != c.c || w.Width != c.w)) {
			t.Errorf("%q: %+v %v", c.in, w, err)
		}
	}
}

// TestRenderNeverOverwritesItsInput: `cxrview render a.png a.png` (or
// through a link) refuses, and the image is unchanged.
func TestRenderNeverOverwritesItsInput(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, g)
	in := filepath.Join(dir, "a.png")
	os.WriteFile(in, b.Bytes(), 0o644)
	link := filepath.Join(dir, "link.png")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link, filepath.Join(dir, ".", "a.png")} {
		env, _, errb := testEnv(t)
		if code := Run(context.Background(), env, []string{"render", "--invert", in, out}); code != 1 || !strings.Contains(errb.String(), "would overwrite the image itself") {
			t.Errorf("render %s over itself: exit %d, %q", out, code, errb)
		}
		if now, _ := os.ReadFile(in); !bytes.Equal(now, b.Bytes()) {
			t.Fatal("the input image was changed")
		}
	}
}
