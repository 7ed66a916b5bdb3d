package imaging

import (
	"errors"
	"image"
	"strings"
	"testing"
)

// TestPaletteColourMatchesDcmtk renders an 8-bit PALETTE COLOR image with
// 16-bit palette entries and compares it with dcmtk's colour output.
func TestPaletteColourMatchesDcmtk(t *testing.T) {
	const rows, cols = 16, 40
	px := make([]byte, rows*cols)
	for i := range px {
		px[i] = byte(i * 5)
	}
	var r, g, b []uint16
	for i := range 256 {
		r = append(r, uint16(i*257))
		g = append(g, uint16((255-i)*257))
		b = append(b, uint16((i*7%256)*257))
	}
	s := synth{rows: rows, cols: cols, bitsAlloc: 8, bitsStored: 8, photometric: "PALETTE COLOR", pixels: px, extra: []synthElem{
		us(0x00281101, 256, 0, 16), us(0x00281102, 256, 0, 16), us(0x00281103, 256, 0, 16),
		ow(0x00281201, r), ow(0x00281202, g), ow(0x00281203, b),
	}}
	p := s.write(t, "pal.dcm")
	im, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if im.Samples != 3 {
		t.Fatalf("%d samples", im.Samples)
	}
	out := tempFile(t, "out.ppm")
	dcmtk(t, "dcmj2pnm", p, out)
	want := readPNM(t, out).(*image.RGBA)
	got := im.RenderRGBA(View{})
	for i := range got.Pix {
		if d := int(got.Pix[i]) - int(want.Pix[i]); d > 1 || d < -1 {
			t.Fatalf("sample %d: %d, dcmtk %d", i, got.Pix[i], want.Pix[i])
		}
	}
}

// TestPresentationLUTShape: INVERSE on a MONOCHROME2 image inverts it (as
// dcmtk does), and the user's invert applies on top.
func TestPresentationLUTShape(t *testing.T) {
	s := small12()
	s.extra = append(s.extra, str(0x20500020, "CS", "INVERSE"))
	p := s.write(t, "inv.dcm")
	im, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if !im.Inverse {
		t.Fatalf("INVERSE not read")
	}
	plain, err := Open(small12().write(t, "plain.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	w := Window{Center: 2048, Width: 4096}
	a, b := im.Render(View{Window: w}), plain.Render(View{Window: w, Invert: true})
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			t.Fatalf("pixel %d: %d vs the user-inverted plain image's %d", i, a.Pix[i], b.Pix[i])
		}
	}
	out := tempFile(t, "out.pgm")
	dcmtk(t, "dcmj2pnm", "+Ww", "2048", "4096", p, out)
	maxd, n := diffGray(t, a, readPNM(t, out).(*image.Gray))
	if maxd > 1 {
		t.Errorf("differs from dcmtk by %d (%d pixels)", maxd, n)
	}
}

// paletteRGB is a PALETTE COLOR file that says Samples per Pixel 3 (with
// pixel data for three samples, so nothing is short).
func paletteRGB() synth {
	const rows, cols = 8, 12
	px := make([]byte, 3*rows*cols)
	for i := range px {
		px[i] = byte(i)
	}
	lut := make([]uint16, 256)
	for i := range lut {
		lut[i] = uint16(i * 257)
	}
	return synth{rows: rows, cols: cols, spp: 3, bitsAlloc: 8, bitsStored: 8, photometric: "PALETTE COLOR", pixels: px, extra: []synthElem{
		us(0x00281101, 256, 0, 16), us(0x00281102, 256, 0, 16), us(0x00281103, 256, 0, 16),
		ow(0x00281201, lut), ow(0x00281202, lut), ow(0x00281203, lut),
	}}
}

// TestPhotometricSamplesMismatch: a photometric interpretation and a
// Samples per Pixel that disagree are refused with both named. PALETTE
// COLOR with three samples once decoded to an image without pixels whose
// rendering crashed the program.
func TestPhotometricSamplesMismatch(t *testing.T) {
	gray := small12()
	rgb := synth{rows: 4, cols: 6, spp: 3, bitsAlloc: 8, bitsStored: 8, photometric: "RGB", pixels: make([]byte, 3*4*6)}
	for _, c := range []struct {
		name string
		s    synth
		want string
	}{
		{"PALETTE COLOR, 3 samples", paletteRGB(), "Photometric Interpretation PALETTE COLOR needs Samples per Pixel 1, the file has 3"},
		{"MONOCHROME2, 3 samples", func() synth {
			s := rgb
			s.photometric = "MONOCHROME2"
			return s
		}(), "Photometric Interpretation MONOCHROME2 needs Samples per Pixel 1, the file has 3"},
		{"MONOCHROME1, 3 samples", func() synth {
			s := rgb
			s.photometric = "MONOCHROME1"
			return s
		}(), "MONOCHROME1 needs Samples per Pixel 1"},
		{"RGB, 1 sample", func() synth {
			s := gray
			s.photometric = "RGB"
			return s
		}(), "Photometric Interpretation RGB needs Samples per Pixel 3, the file has 1"},
		{"YBR_FULL, 1 sample", func() synth {
			s := gray
			s.photometric = "YBR_FULL"
			return s
		}(), "YBR_FULL needs Samples per Pixel 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.s.write(t, "mismatch.dcm")
			im, err := Open(p)
			if err == nil {
				// Rendering is what used to crash; do it so the test
				// shows that too.
				im.RenderRGBA(View{})
				t.Fatalf("decoded %d×%d, %d samples, %d RGB bytes; want an error", im.Width, im.Height, im.Samples, len(im.RGB))
			}
			var ie *InternalError
			if errors.As(err, &ie) || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming the file and saying %q", err, c.want)
			}
		})
	}
	// The consistent files still decode.
	for _, s := range []synth{gray, rgb} {
		if _, err := Open(s.write(t, "ok.dcm")); err != nil {
			t.Error(err)
		}
	}
}
