package app

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
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
