package imaging

import (
	"fmt"
	"image"
	"testing"

	"cxrview/imaging/imagingtest"
)

// TestCRFilmMatchesDcmtk renders the real CR film (MONOCHROME1, so every
// case also checks the inversion) and compares each pixel with dcmtk's
// dcmj2pnm: the file's own window, explicit windows, SIGMOID and the
// user's invert (dcmtk's inverse presentation shape).
func TestCRFilmMatchesDcmtk(t *testing.T) {
	film := imagingtest.CRFilm(t)
	im, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		view View
		args []string
	}{
		{"file window", View{Window: im.Windows()[0]}, []string{"+Wi", "1"}},
		{"600/400", View{Window: Window{Center: 600, Width: 400}}, []string{"+Ww", "600", "400"}},
		{"300/150", View{Window: Window{Center: 300, Width: 150}}, []string{"+Ww", "300", "150"}},
		{"wide", View{Window: Window{Center: 512, Width: 4000}}, []string{"+Ww", "512", "4000"}},
		{"width 1", View{Window: Window{Center: 400, Width: 1}}, []string{"+Ww", "400", "1"}},
		{"sigmoid", View{Window: Window{Center: 500, Width: 300, Function: Sigmoid}}, []string{"+Ww", "500", "300", "+Wfs"}},
		{"user invert", View{Window: Window{Center: 600, Width: 400}, Invert: true}, []string{"+Ww", "600", "400", "+Pid"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := tempFile(t, "out.pgm")
			dcmtk(t, "dcmj2pnm", append(append([]string{"-O"}, c.args...), film, out)...)
			want := readPNM(t, out).(*image.Gray)
			got := im.Render(c.view)
			maxd, n := diffGray(t, got, want)
			t.Logf("%s: %d of %d pixels differ, by at most %d", c.name, n, len(got.Pix), maxd)
			if maxd > 1 {
				t.Errorf("%s: differs from dcmj2pnm by up to %d gray levels (%d pixels)", c.name, maxd, n)
			}
		})
	}
	_ = fmt.Sprint
}
