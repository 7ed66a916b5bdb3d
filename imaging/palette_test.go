package imaging

import (
	"image"
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
