package imaging

import (
	"encoding/binary"
	"image"
	"math"
	"strings"
	"testing"
)

// seq encodes a defined-length sequence of items for synth files.
func seq(tag uint32, items ...[]synthElem) synthElem {
	var val []byte
	for _, it := range items {
		var body []byte
		for _, e := range it {
			body = append(body, encodeElem(e)...)
		}
		val = binary.LittleEndian.AppendUint32(val, 0xE000FFFE)
		val = binary.LittleEndian.AppendUint32(val, uint32(len(body)))
		val = append(val, body...)
	}
	return synthElem{tag, "SQ", val}
}

func encodeElem(e synthElem) []byte {
	var out []byte
	out = binary.LittleEndian.AppendUint16(out, uint16(e.tag>>16))
	out = binary.LittleEndian.AppendUint16(out, uint16(e.tag))
	out = append(out, e.vr...)
	if longVR(e.vr) {
		out = append(out, 0, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.val)))
	} else {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(e.val)))
	}
	return append(out, e.val...)
}

func ow(tag uint32, v []uint16) synthElem {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return synthElem{tag, "OW", b}
}

func TestVOIFunctions(t *testing.T) {
	cases := []struct {
		w    Window
		x    float64
		want float64
	}{
		// PS3.3 C.11.2.1.2.1: LINEAR.
		{Window{Center: 2048, Width: 4096}, 0, 0},
		{Window{Center: 2048, Width: 4096}, 4095, 255},
		{Window{Center: 2048, Width: 4096}, 2047.5, 127.5},
		{Window{Center: 100, Width: 1}, 99.5, 0},
		{Window{Center: 100, Width: 1}, 99.6, 255},
		{Window{Center: 0, Width: 0.5}, 0, 255}, // width below 1 reads as 1
		// LINEAR_EXACT.
		{Window{Center: 100, Width: 50, Function: LinearExact}, 75, 0},
		{Window{Center: 100, Width: 50, Function: LinearExact}, 100, 127.5},
		{Window{Center: 100, Width: 50, Function: LinearExact}, 125, 255},
		{Window{Center: 100, Width: 50, Function: LinearExact}, 87.5, 63.75},
		// SIGMOID: half way at the centre, 1/(1+e^-4) one width above.
		{Window{Center: 100, Width: 50, Function: Sigmoid}, 100, 127.5},
		{Window{Center: 100, Width: 50, Function: Sigmoid}, 150, 255 / (1 + math.Exp(-4))},
		// VOI LUT: clamped at both ends, scaled by the entry depth.
		{Window{Function: TableLUT, LUT: &VOILUT{First: 10, Bits: 8, Data: []uint16{0, 51, 255}}}, 5, 0},
		{Window{Function: TableLUT, LUT: &VOILUT{First: 10, Bits: 8, Data: []uint16{0, 51, 255}}}, 11, 51},
		{Window{Function: TableLUT, LUT: &VOILUT{First: 10, Bits: 8, Data: []uint16{0, 51, 255}}}, 99, 255},
		{Window{Function: TableLUT, LUT: &VOILUT{First: 0, Bits: 12, Data: []uint16{4095}}}, 0, 255},
	}
	for _, c := range cases {
		if got := voi(c.w, c.x); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%+v at %v: %v, want %v", c.w, c.x, got, c.want)
		}
	}
}

// TestLUTSignedRescale builds the LUT of a signed 12-bit CT-like image with
// a rescale and checks every entry against the pipeline written out.
func TestLUTSignedRescale(t *testing.T) {
	im := &Image{Samples: 1, BitsStored: 12, Signed: true, Width: 1, Height: 1, Gray: []uint16{0},
		Rescale: ModalityLUT{Slope: 2, Intercept: -1024, Type: "HU"}}
	w := Window{Center: 40, Width: 400}
	for _, inv := range []bool{false, true} {
		l := im.LUT(View{Window: w, Invert: inv})
		if len(l.Table) != 4096 {
			t.Fatalf("table of %d entries", len(l.Table))
		}
		for s := range 4096 {
			v := s
			if s >= 2048 {
				v -= 4096
			}
			x := float64(v)*2 - 1024
			lo, hi := w.Center-0.5-(w.Width-1)/2, w.Center-0.5+(w.Width-1)/2
			y := 0.0
			switch {
			case x <= lo:
			case x > hi:
				y = 255
			default:
				y = ((x-(w.Center-0.5))/(w.Width-1) + 0.5) * 255
			}
			if inv {
				y = 255 - y
			}
			if want := uint8(math.Floor(y)); l.Table[s] != want {
				t.Fatalf("invert %v: stored %d (value %v HU): %d, want %d", inv, s, x, l.Table[s], want)
			}
		}
	}
	if s, m, u := (&Image{Samples: 1, BitsStored: 12, Signed: true, Width: 2, Height: 1, Gray: []uint16{4095, 5},
		Rescale: ModalityLUT{Slope: 2, Intercept: -1024}, Meta: Meta{Modality: "CT"}}).Value(0, 0); s != -1 || m != -1026 || u != "HU" {
		t.Errorf("Value: %d %v %q", s, m, u)
	}
}

// TestLUTSequencesMatchDcmtk writes a file with a Modality LUT Sequence and
// two VOI LUT Sequence items and compares the rendering with dcmtk's.
func TestLUTSequencesMatchDcmtk(t *testing.T) {
	const rows, cols = 32, 64
	raw := ramp16(rows, cols, 1, 10, 3)
	mod := make([]uint16, 1024) // a non-linear modality LUT
	for i := range mod {
		mod[i] = uint16(math.Sqrt(float64(i)) * 128)
	}
	voi1 := make([]uint16, 4096)
	for i := range voi1 {
		voi1[i] = uint16(255 * (1 - math.Exp(-float64(i)/900)))
	}
	voi2 := make([]uint16, 2048)
	for i := range voi2 {
		voi2[i] = uint16(i * 2)
	}
	s := synth{rows: rows, cols: cols, bitsAlloc: 16, bitsStored: 10, pixels: raw, extra: []synthElem{
		seq(0x00283000, []synthElem{us(0x00283002, 1024, 0, 16), str(0x00283004, "LO", "US"), ow(0x00283006, mod)}),
		seq(0x00283010,
			[]synthElem{us(0x00283002, 4096, 0, 8), str(0x00283003, "LO", "exp"), ow(0x00283006, voi1)},
			[]synthElem{us(0x00283002, 2048, 100, 12), str(0x00283003, "LO", "ramp"), ow(0x00283006, voi2)}),
	}}
	p := s.write(t, "luts.dcm")
	im, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ws := im.Windows()
	if len(ws) != 2 || ws[0].LUT == nil || ws[1].Explanation != "ramp" || im.Rescale.Table == nil {
		t.Fatalf("windows %+v, modality LUT %v", ws, im.Rescale.Table != nil)
	}
	for i, args := range [][]string{{"+Wl", "1"}, {"+Wl", "2"}} {
		out := tempFile(t, "out.pgm")
		dcmtk(t, "dcmj2pnm", append(append([]string{"-O"}, args...), p, out)...)
		maxd, n := diffGray(t, im.Render(View{Window: ws[i]}), readPNM(t, out).(*image.Gray))
		t.Logf("%v: %d pixels differ, by at most %d", args, n, maxd)
		if maxd > 1 {
			t.Errorf("%v: differs from dcmtk by %d", args, maxd)
		}
	}
	// A window over the modality LUT's output.
	out := tempFile(t, "out.pgm")
	dcmtk(t, "dcmj2pnm", "-O", "+Ww", "2000", "3000", p, out)
	maxd, _ := diffGray(t, im.Render(View{Window: Window{Center: 2000, Width: 3000}}), readPNM(t, out).(*image.Gray))
	if maxd > 1 {
		t.Errorf("window over the modality LUT differs from dcmtk by %d", maxd)
	}
}

func TestPresetsAndAutoWindow(t *testing.T) {
	// A ramp of 1000 distinct values, one pixel each.
	g := make([]uint16, 1000)
	for i := range g {
		g[i] = uint16(i)
	}
	im := &Image{Samples: 1, BitsStored: 10, Width: 1000, Height: 1, Gray: g, Rescale: ModalityLUT{Slope: 1}, Meta: Meta{Modality: "CR"}}
	a := im.AutoWindow()
	// 1st and 99th percentile: values 10 and 990 map to black and white.
	if lo, hi := a.Center-0.5-(a.Width-1)/2, a.Center-0.5+(a.Width-1)/2; lo != 10 || hi != 990 {
		t.Errorf("auto window spans %v..%v, want 10..990", lo, hi)
	}
	if im.DefaultWindow() != a {
		t.Errorf("default window without file windows is not Auto")
	}
	names := func(ws []Window) string {
		var s []string
		for _, w := range ws {
			s = append(s, w.Name)
		}
		return strings.Join(s, ",")
	}
	ps := im.Presets()
	if got := names(ps); got != "Lung,Mediastinum,Bone,Auto" {
		t.Fatalf("presets %s", got)
	}
	if !(ps[0].Center < ps[1].Center && ps[1].Center < ps[2].Center) {
		t.Errorf("MONOCHROME2 presets should rise from lung to bone: %v %v %v", ps[0].Center, ps[1].Center, ps[2].Center)
	}
	im.Inverse = true
	ps = im.Presets()
	if !(ps[0].Center > ps[1].Center && ps[1].Center > ps[2].Center) {
		t.Errorf("MONOCHROME1 presets should fall from lung to bone: %v %v %v", ps[0].Center, ps[1].Center, ps[2].Center)
	}
	im.windows = []Window{{Center: 5, Width: 10, Name: "File 1"}}
	im.Meta.Modality, im.Rescale.Type = "CT", ""
	ps = im.Presets()
	if got := names(ps); got != "File 1,Lung,Mediastinum,Bone,Auto" || ps[1].Center != -600 || ps[1].Width != 1500 {
		t.Errorf("CT presets %s %+v", got, ps[1])
	}
	if im.DefaultWindow().Name != "File 1" {
		t.Errorf("default window is not the file's first")
	}
}

// TestRenderMatchesLUT renders a large image on all cores and checks each
// pixel against the table, in gray and RGBA, with an offset destination.
func TestRenderMatchesLUT(t *testing.T) {
	const w, h = 517, 389
	g := make([]uint16, w*h)
	for i := range g {
		g[i] = uint16(i*7919) & 0xFFF
	}
	im := &Image{Samples: 1, BitsStored: 12, Width: w, Height: h, Gray: g, Rescale: ModalityLUT{Slope: 1}}
	v := View{Window: Window{Center: 1500, Width: 2000}, Invert: true}
	l := im.LUT(v)
	got := im.Render(v)
	rgba := im.RenderRGBA(v)
	dst := image.NewGray(image.Rect(10, 20, 10+w, 20+h))
	im.RenderInto(dst, v)
	for i, s := range g {
		x, y := i%w, i/w
		want := l.Table[s]
		if got.Pix[i] != want || rgba.Pix[4*i] != want || rgba.Pix[4*i+3] != 255 || dst.GrayAt(10+x, 20+y).Y != want {
			t.Fatalf("pixel %d: %d %d %d, want %d", i, got.Pix[i], rgba.Pix[4*i], dst.GrayAt(10+x, 20+y).Y, want)
		}
	}
	if im.RenderInto(image.NewGray(image.Rect(0, 0, 3, 3)), v).Rect.Dx() != w {
		t.Errorf("RenderInto kept a destination of the wrong size")
	}
	// Colour: luma for Render, the samples for RenderRGBA.
	c := &Image{Samples: 3, BitsStored: 8, Width: 2, Height: 1, RGB: []uint8{255, 0, 0, 10, 200, 30}}
	if r := c.Render(View{}); r.Pix[0] != 76 || r.Pix[1] != luma(10, 200, 30) {
		t.Errorf("luma %v", r.Pix)
	}
	if r := c.RenderRGBA(View{Invert: true}); r.Pix[0] != 0 || r.Pix[1] != 255 || r.Pix[4] != 245 {
		t.Errorf("inverted colour %v", r.Pix)
	}
}

func TestLuma(t *testing.T) {
	// PIL's convert("L") of pure primaries and white.
	for _, c := range []struct{ r, g, b, want uint8 }{{255, 0, 0, 76}, {0, 255, 0, 150}, {0, 0, 255, 29}, {255, 255, 255, 255}, {0, 0, 0, 0}} {
		if got := luma(c.r, c.g, c.b); got != c.want {
			t.Errorf("luma(%d,%d,%d) = %d, want %d", c.r, c.g, c.b, got, c.want)
		}
	}
}
