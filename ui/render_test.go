package ui

import (
	"fmt"
	"image"
	"math"
	"testing"

	"cxrview/imaging"
)

// grayImage builds a gray test image whose stored value at (x, y) is f(x, y).
func grayImage(w, h, bits int, f func(x, y int) uint16) *imaging.Image {
	im := &imaging.Image{
		Name: "synthetic.dcm", Format: imaging.FormatDICOM, Width: w, Height: h, Frames: 1, Samples: 1,
		Gray: make([]uint16, w*h), BitsStored: bits, Rescale: imaging.ModalityLUT{Slope: 1},
	}
	mask := uint16(1<<bits - 1)
	for y := range h {
		for x := range w {
			im.Gray[y*w+x] = f(x, y) & mask
		}
	}
	return im
}

// linear is the DICOM LINEAR window (PS3.3 C.11.2.1.2.1) written out here
// independently of package imaging, floored to 8 bits.
func linear(x, c, w float64, invert bool) uint8 {
	var y float64
	switch {
	case x <= c-0.5-(w-1)/2:
		y = 0
	case x > c-0.5+(w-1)/2:
		y = 255
	default:
		y = ((x-(c-0.5))/(w-1) + 0.5) * 255
	}
	if invert {
		y = 255 - y
	}
	// As imaging does: values that are whole numbers in exact arithmetic
	// (an identity window) must not floor one level low.
	return uint8(math.Floor(y + 1e-7))
}

func TestTransformRoundTrip(t *testing.T) {
	for rot := range 4 {
		for _, flip := range []bool{false, true} {
			tf := transform{W: 640, H: 480, Zoom: 0.37, CX: 900, CY: 1100, Rot: rot, Flip: flip}
			for _, p := range [][2]float64{{0, 0}, {13.5, 400}, {639, 479}, {320, 240}} {
				u, v := tf.toImage(p[0], p[1])
				x, y := tf.toScreen(u, v)
				if math.Abs(x-p[0]) > 1e-9 || math.Abs(y-p[1]) > 1e-9 {
					t.Errorf("rot %d flip %v: %v → (%g, %g) → (%g, %g)", rot, flip, p, u, v, x, y)
				}
			}
			if x, y := tf.toScreen(900, 1100); x != 320 || y != 240 {
				t.Errorf("rot %d flip %v: the centre point maps to (%g, %g)", rot, flip, x, y)
			}
		}
	}
}

func TestTransformZoomAboutKeepsPoint(t *testing.T) {
	for rot := range 4 {
		for _, flip := range []bool{false, true} {
			tf := transform{W: 800, H: 600, Zoom: 0.5, CX: 400, CY: 500, Rot: rot, Flip: flip}
			x, y := 123.0, 456.0
			u, v := tf.toImage(x, y)
			z := tf.zoomAbout(x, y, 1.7)
			if math.Abs(z.Zoom-0.85) > 1e-12 {
				t.Fatalf("zoom %g, want 0.85", z.Zoom)
			}
			if u2, v2 := z.toImage(x, y); math.Abs(u2-u) > 1e-9 || math.Abs(v2-v) > 1e-9 {
				t.Errorf("rot %d flip %v: point under the cursor moved from (%g, %g) to (%g, %g)", rot, flip, u, v, u2, v2)
			}
		}
	}
}

// TestTransformOrientations checks where the image's top-left corner lands
// for each of the eight orientations reached by rotating and flipping.
func TestTransformOrientations(t *testing.T) {
	base := transform{W: 100, H: 100, Zoom: 1, CX: 50, CY: 50}
	tests := []struct {
		name string
		tf   transform
		x, y float64 // where image point (0, 0) goes
	}{
		{"identity", base, 0, 0},
		{"rotate right", base.rotate(1), 100, 0},
		{"rotate left", base.rotate(-1), 0, 100},
		{"half turn", base.rotate(2), 100, 100},
		{"flip H", base.flipH(), 100, 0},
		{"flip V", base.flipV(), 0, 100},
		{"flip H then rotate right", base.flipH().rotate(1), 100, 100},
		{"flip H twice", base.flipH().flipH(), 0, 0},
	}
	for _, tt := range tests {
		x, y := tt.tf.toScreen(0, 0)
		if math.Abs(x-tt.x) > 1e-9 || math.Abs(y-tt.y) > 1e-9 {
			t.Errorf("%s: (0,0) → (%g, %g), want (%g, %g)", tt.name, x, y, tt.x, tt.y)
		}
	}
}

// TestRenderOneToOne renders at 1:1 and compares every pixel with the
// window formula applied to the stored value under it.
func TestRenderOneToOne(t *testing.T) {
	im := grayImage(300, 200, 12, func(x, y int) uint16 { return uint16(x*13 + y*7) })
	s := newSource(im)
	for _, tc := range []struct {
		c, w   float64
		invert bool
	}{{2048, 4096, false}, {1000, 400, false}, {1500, 1, true}} {
		view := imaging.View{Window: imaging.Window{Center: tc.c, Width: tc.w}, Invert: tc.invert}
		dst := image.NewRGBA(image.Rect(0, 0, 120, 90))
		tf := transform{W: 120, H: 90, Zoom: 1, CX: 150, CY: 100}
		s.render(jobFor(tf, dst), s.lut(view, nil))
		for y := range 90 {
			for x := range 120 {
				u, v := 150-60+x, 100-45+y
				want := linear(float64(im.Gray[v*300+u]), tc.c, tc.w, tc.invert)
				if got := dst.Pix[dst.PixOffset(x, y)]; got != want {
					t.Fatalf("C %g W %g: pixel (%d,%d) = %d, want %d", tc.c, tc.w, x, y, got, want)
				}
			}
		}
	}
}

// TestRenderRotations checks that a quarter-turned render is the plain
// render turned.
func TestRenderRotations(t *testing.T) {
	im := grayImage(40, 30, 8, func(x, y int) uint16 { return uint16(x*5 + y*3) })
	s := newSource(im)
	lut := s.lut(imaging.View{Window: imaging.Window{Center: 128, Width: 256}}, nil)
	plain := image.NewRGBA(image.Rect(0, 0, 40, 30))
	s.render(jobFor(transform{W: 40, H: 30, Zoom: 1, CX: 20, CY: 15}, plain), lut)
	at := func(m *image.RGBA, x, y int) uint8 { return m.Pix[m.PixOffset(x, y)] }

	right := image.NewRGBA(image.Rect(0, 0, 30, 40))
	s.render(jobFor(transform{W: 30, H: 40, Zoom: 1, CX: 20, CY: 15, Rot: 1}, right), lut)
	flip := image.NewRGBA(image.Rect(0, 0, 40, 30))
	s.render(jobFor(transform{W: 40, H: 30, Zoom: 1, CX: 20, CY: 15, Flip: true}, flip), lut)
	for y := range 30 {
		for x := range 40 {
			// Clockwise: image (x, y) goes to screen (H-1-y, x).
			if a, b := at(plain, x, y), at(right, 29-y, x); a != b {
				t.Fatalf("rotated: image (%d,%d) = %d on screen, plain %d", x, y, b, a)
			}
			if a, b := at(plain, x, y), at(flip, 39-x, y); a != b {
				t.Fatalf("flipped: image (%d,%d) = %d on screen, plain %d", x, y, b, a)
			}
		}
	}
}

func TestRenderOutsideIsBackground(t *testing.T) {
	im := grayImage(10, 10, 8, func(x, y int) uint16 { return 255 })
	s := newSource(im)
	dst := image.NewRGBA(image.Rect(0, 0, 30, 30))
	s.render(jobFor(transform{W: 30, H: 30, Zoom: 1, CX: 5, CY: 5}, dst), s.lut(imaging.View{Window: imaging.Window{Center: 128, Width: 256}}, nil))
	if got := dst.Pix[dst.PixOffset(0, 0)]; got != 0 {
		t.Errorf("outside the film: %d, want black", got)
	}
	if got := dst.Pix[dst.PixOffset(15, 15)]; got != 255 {
		t.Errorf("inside the film: %d, want white", got)
	}
}

// TestPyramid checks the box averages and that a fitted view of a large
// film reads the coarse level (a fine checkerboard averages to mid-grey
// instead of aliasing to black or white).
func TestPyramid(t *testing.T) {
	im := grayImage(1024, 1024, 8, func(x, y int) uint16 { return uint16(255 * ((x + y) & 1)) })
	s := newSource(im)
	if len(s.gray) < 4 {
		t.Fatalf("%d levels", len(s.gray))
	}
	if l := s.gray[1]; l.w != 512 || l.pix[0] != 128 {
		t.Errorf("level 1: %d wide, first pixel %d; want 512, 128", l.w, l.pix[0])
	}
	dst := image.NewRGBA(image.Rect(0, 0, 200, 200))
	tf := transform{W: 200, H: 200}.fit(1024, 1024)
	s.render(jobFor(tf, dst), s.lut(imaging.View{Window: imaging.Window{Center: 128, Width: 256}}, nil))
	for y := 0; y < 200; y += 17 {
		for x := 0; x < 200; x += 13 {
			if g := dst.Pix[dst.PixOffset(x, y)]; g < 100 || g > 160 {
				t.Fatalf("fitted checkerboard pixel (%d,%d) = %d, want mid-grey", x, y, g)
			}
		}
	}
	// A small image has one level. Halving rounds odd sizes up, so that
	// the last column or row is kept, not dropped: 5×3 → 3×2 → 2×1 → 1×1,
	// and the first halving's last column is the source's, 4.
	odd := newSource(grayImage(5, 3, 8, func(x, y int) uint16 { return uint16(x) }))
	if l := odd.gray[len(odd.gray)-1]; len(odd.gray) != 1 || l.w != 5 {
		t.Errorf("a small image has %d levels", len(odd.gray))
	}
	l := halve16(odd.gray[0])
	if l.w != 3 || l.h != 2 || l.pix[2] != 4 {
		t.Errorf("halved 5×3: %d×%d, last column %d", l.w, l.h, l.pix[2])
	}
	for _, want := range [][2]int{{2, 1}, {1, 1}} {
		l = halve16(l)
		if l.w != want[0] || l.h != want[1] {
			t.Errorf("halved again: %d×%d, want %d×%d", l.w, l.h, want[0], want[1])
		}
	}
}

// TestRenderSigned checks that signed data averages and windows in signed
// order: −1 must render darker than 0 under a window centred on 0.
func TestRenderSigned(t *testing.T) {
	im := grayImage(2, 1, 12, func(x, y int) uint16 { return []uint16{0xFFF, 0}[x] }) // −1, 0
	im.Signed = true
	s := newSource(im)
	lut := s.lut(imaging.View{Window: imaging.Window{Center: 0, Width: 4}}, nil)
	dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
	s.render(jobFor(transform{W: 2, H: 1, Zoom: 1, CX: 1, CY: 0.5}, dst), lut)
	a, b := dst.Pix[0], dst.Pix[4]
	if want := linear(-1, 0, 4, false); a != want {
		t.Errorf("−1 renders %d, want %d", a, want)
	}
	if want := linear(0, 0, 4, false); b != want {
		t.Errorf("0 renders %d, want %d", b, want)
	}
	l := halve16(s.gray[0])
	// Offset binary: index 2048 is 0, 2047 is −1.
	if got := int(l.pix[0]) - 1<<11; got != 0 && got != -1 {
		t.Errorf("the average of −1 and 0 is %d", got)
	}
}

func TestRenderColour(t *testing.T) {
	im := &imaging.Image{Width: 2, Height: 1, Frames: 1, Samples: 3, BitsStored: 8, RGB: []uint8{255, 0, 0, 0, 0, 255}}
	s := newSource(im)
	dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
	s.render(jobFor(transform{W: 2, H: 1, Zoom: 1, CX: 1, CY: 0.5}, dst), s.lut(imaging.View{}, nil))
	if got := fmt.Sprint(dst.Pix); got != "[255 0 0 255 0 0 255 255]" {
		t.Errorf("colour pixels %s", got)
	}
	s.render(jobFor(transform{W: 2, H: 1, Zoom: 1, CX: 1, CY: 0.5}, dst), s.lut(imaging.View{Invert: true}, nil))
	if got := fmt.Sprint(dst.Pix); got != "[0 255 255 255 255 255 0 255]" {
		t.Errorf("inverted colour pixels %s", got)
	}
}

// TestRenderTiny renders a 1×1 image at every zoom without trouble.
func TestRenderTiny(t *testing.T) {
	s := newSource(grayImage(1, 1, 16, func(x, y int) uint16 { return 40000 }))
	dst := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for _, z := range []float64{minZoom, 0.3, 1, 7, maxZoom} {
		tf := transform{W: 64, H: 48, Zoom: z, CX: 0.5, CY: 0.5}
		s.render(jobFor(tf, dst), s.lut(imaging.View{Window: imaging.Window{Center: 0, Width: 10}}, nil))
		white := 0
		for i := 0; i < len(dst.Pix); i += 4 {
			switch dst.Pix[i] {
			case 255:
				white++
			case 0:
			default:
				t.Fatalf("zoom %g: pixel value %d", z, dst.Pix[i])
			}
		}
		// The film covers z×z screen pixels around the centre.
		want := int(math.Round(min(z, 64) * min(z, 48)))
		if z >= 1 && (white < want*3/4 || white > want*5/4+64) {
			t.Errorf("zoom %g: %d white pixels, want about %d", z, white, want)
		}
		if z < 1 && white > 1 {
			t.Errorf("zoom %g: %d white pixels for a film smaller than a pixel", z, white)
		}
	}
}
