package ui

import (
	"encoding/binary"
	"image"
	"math"
	"unsafe"

	"cxrview/imaging"
)

// minLevelSide stops the pyramid: a level whose longer side is this small
// is enough for any zoom a viewport can reach.
const minLevelSide = 64

// source is an image prepared for display at any zoom. It holds the stored
// values of the frame and a pyramid of coarser levels, each half the size
// of the one before (2×2 box averages), so that a view of the whole film
// reads about one source pixel per screen pixel instead of filtering
// thousands. Averaging happens before the lookup table, in stored values,
// as most PACS viewers resample; signed data is first mapped to an
// order-preserving unsigned index so that averages stay meaningful.
//
// A source never changes after newSource returns; the render goroutines
// share it without locks.
type source struct {
	im   *imaging.Image
	w, h int
	// flip turns a stored value into its order-preserving index and back:
	// the sign bit of BitsStored for signed data, else 0.
	flip uint16
	bits int
	gray []level16 // Samples == 1
	rgb  []level8  // Samples == 3
}

type level16 struct {
	w, h int
	pix  []uint16
}

type level8 struct {
	w, h int
	pix  []uint8 // RGB triples
}

// newSource builds the display pyramid of im. It allocates about a third
// of the image's own pixel memory (plus a copy of level 0 for signed data).
func newSource(im *imaging.Image) *source {
	s := &source{im: im, w: im.Width, h: im.Height, bits: max(1, min(im.BitsStored, 16))}
	if im.Samples == 3 {
		l := level8{w: im.Width, h: im.Height, pix: im.RGB}
		s.rgb = append(s.rgb, l)
		for max(l.w, l.h) > minLevelSide {
			l = halve8(l)
			s.rgb = append(s.rgb, l)
		}
		return s
	}
	l := level16{w: im.Width, h: im.Height, pix: im.Gray}
	if im.Signed {
		s.flip = 1 << (s.bits - 1)
		pix := make([]uint16, len(im.Gray))
		for i, g := range im.Gray {
			pix[i] = g ^ s.flip
		}
		l.pix = pix
	}
	s.gray = append(s.gray, l)
	for max(l.w, l.h) > minLevelSide {
		l = halve16(l)
		s.gray = append(s.gray, l)
	}
	return s
}

// halve16 averages 2×2 blocks; an odd last row or column is averaged with
// itself, so level pixel i always covers source pixels 2i and 2i+1.
func halve16(l level16) level16 {
	w, h := (l.w+1)/2, (l.h+1)/2
	out := level16{w: w, h: h, pix: make([]uint16, w*h)}
	imaging.ParallelRows(h, w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			r0 := l.pix[2*y*l.w : 2*y*l.w+l.w]
			r1 := r0
			if 2*y+1 < l.h {
				r1 = l.pix[(2*y+1)*l.w : (2*y+1)*l.w+l.w]
			}
			row := out.pix[y*w : y*w+w]
			for x := range row {
				x0, x1 := 2*x, min(2*x+1, l.w-1)
				sum := uint32(r0[x0]) + uint32(r0[x1]) + uint32(r1[x0]) + uint32(r1[x1])
				row[x] = uint16((sum + 2) / 4)
			}
		}
	})
	return out
}

func halve8(l level8) level8 {
	w, h := (l.w+1)/2, (l.h+1)/2
	out := level8{w: w, h: h, pix: make([]uint8, 3*w*h)}
	imaging.ParallelRows(h, w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			y1 := min(2*y+1, l.h-1)
			for x := range w {
				x0, x1 := 2*x, min(2*x+1, l.w-1)
				for c := range 3 {
					sum := uint32(l.pix[3*(2*y*l.w+x0)+c]) + uint32(l.pix[3*(2*y*l.w+x1)+c]) +
						uint32(l.pix[3*(y1*l.w+x0)+c]) + uint32(l.pix[3*(y1*l.w+x1)+c])
					out.pix[3*(y*w+x)+c] = uint8((sum + 2) / 4)
				}
			}
		}
	})
	return out
}

// displayLUT is the imaging lookup table of one View re-indexed by the
// source's order-preserving index and expanded to whole RGBA pixels, so
// that the render loop does one lookup and one 32-bit store per pixel, and
// indexes with a uint16 without bounds checks. Entries past 1<<BitsStored
// are never read: level values are averages of stored values.
type displayLUT struct {
	px [1 << 16]uint32 // gray: RGBA pixel in the host's byte order
	ch [256]uint8      // colour: the table applied to each channel
	bg uint32          // the colour around the film
}

// rgbaWord returns the 32-bit word whose bytes in memory are r, g, b, 0xFF.
func rgbaWord(r, g, b uint8) uint32 {
	return binary.NativeEndian.Uint32([]byte{r, g, b, 0xFF})
}

// lut builds the display table of v into dst (allocated when nil).
func (s *source) lut(v imaging.View, dst *displayLUT) *displayLUT {
	if dst == nil {
		dst = new(displayLUT)
	}
	// Black around the film, as on a light box with the surround masked.
	dst.bg = rgbaWord(0, 0, 0)
	t := s.im.LUT(v).Table
	if s.rgb != nil {
		copy(dst.ch[:], t)
		return dst
	}
	var words [256]uint32
	for g := range words {
		words[g] = rgbaWord(uint8(g), uint8(g), uint8(g))
	}
	n := min(len(t), len(dst.px))
	for i := range n {
		// i and flip are below n = 1<<bits, and so is their XOR.
		dst.px[i] = words[t[i^int(s.flip)]]
	}
	return dst
}

// renderJob says which image point each output pixel shows. The transform
// is a multiple of 90° with an optional mirror, so each image coordinate
// depends on exactly one output axis.
type renderJob struct {
	dst *image.RGBA
	// U0, V0 are the image coordinates of the centre of output pixel (0, 0);
	// DUX is ∂u/∂x per output pixel, and so on.
	U0, V0             float64
	DUX, DUY, DVX, DVY float64
	Zoom               float64 // output pixels per image pixel
}

// nearestFrom is the zoom from which pixels are shown as squares (no
// interpolation), so that single pixels can be inspected; 1:1 is shown
// exactly as stored too.
const nearestFrom = 4.0

// axisSample is one output column's (or row's) position in a level: the
// two level pixels to blend and the weight of the second in 1/256; i0 is
// −1 when the position lies outside the image.
type axisSample struct {
	i0, i1 int32
	f      uint32
}

// samples computes the level positions of n output pixels along one axis:
// image coordinate c0 + d·k for output pixel k, in a level of scale sc
// (level pixels per image pixel), for an image n0 pixels long whose level
// is ln pixels long.
func samples(n int, c0, d, sc float64, n0, ln int, nearest bool) []axisSample {
	dst := make([]axisSample, n)
	for k := range dst {
		c := c0 + d*float64(k)
		if !(c >= 0 && c < float64(n0)) { // NaN falls out too
			dst[k] = axisSample{i0: -1}
			continue
		}
		if nearest {
			i := min(int32(c*sc), int32(ln-1))
			dst[k] = axisSample{i0: i, i1: i}
			continue
		}
		p := c*sc - 0.5
		i := int32(p+1) - 1 // floor for p ≥ −1
		f := uint32((p - float64(i)) * 256)
		i0, i1 := max(i, 0), min(i+1, int32(ln-1))
		if f == 0 || i0 == i1 {
			i1, f = i0, 0
		}
		dst[k] = axisSample{i0: i0, i1: i1, f: f}
	}
	return dst
}

// render draws the job through lut.
func (s *source) render(j renderJob, lut *displayLUT) {
	W, H := j.dst.Rect.Dx(), j.dst.Rect.Dy()
	if W <= 0 || H <= 0 {
		return
	}
	// The coarsest level still at least as fine as the screen.
	L := 0
	if j.Zoom < 1 && j.Zoom > 0 {
		L = int(math.Floor(math.Log2(1 / j.Zoom)))
	}
	nlev := max(len(s.gray), len(s.rgb))
	L = max(0, min(L, nlev-1))
	sc := math.Ldexp(1, -L)
	var lw, lh int
	if s.gray != nil {
		lw, lh = s.gray[L].w, s.gray[L].h
	} else {
		lw, lh = s.rgb[L].w, s.rgb[L].h
	}
	nearest := j.Zoom >= nearestFrom || math.Abs(j.Zoom-1) < 1e-9

	// swapped: u follows the output rows and v the columns (quarter turns).
	swapped := j.DUX == 0 && j.DUY != 0
	var cols, rows []axisSample
	if !swapped {
		cols = samples(W, j.U0, j.DUX, sc, s.w, lw, nearest)
		rows = samples(H, j.V0, j.DVY, sc, s.h, lh, nearest)
	} else {
		cols = samples(W, j.V0, j.DVX, sc, s.h, lh, nearest)
		rows = samples(H, j.U0, j.DUY, sc, s.w, lw, nearest)
	}
	imaging.ParallelRows(H, W, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			off := y * j.dst.Stride
			pix := j.dst.Pix[off : off+4*W : off+4*W]
			// image.RGBA rows are 4-byte pixels; viewing one as words lets
			// the loop store a whole pixel at once.
			row := unsafe.Slice((*uint32)(unsafe.Pointer(&pix[0])), W)
			r := rows[y]
			switch {
			case r.i0 < 0:
				for x := range row {
					row[x] = lut.bg
				}
			case s.gray != nil && !swapped:
				grayRows(row, s.gray[L], r, cols, lut)
			case s.gray != nil:
				grayCols(row, s.gray[L], r, cols, lut)
			default:
				rgbRow(pix, s.rgb[L], r, cols, swapped, lut)
			}
		}
	})
}

// blend mixes a, b (weights 256−f, f) on one line and c, d on the next
// (weight g) in fixed point; with f = g = 0 it returns a exactly. The
// largest intermediate, 65535·256·256 + 2^15, fits in 32 bits.
func blend(a, b, c, d uint16, f, g uint32) uint16 {
	top := uint32(a)*(256-f) + uint32(b)*f
	bot := uint32(c)*(256-f) + uint32(d)*f
	return uint16((top*(256-g) + bot*g + 1<<15) >> 16)
}

// grayRows draws one output row that reads one or two level rows.
func grayRows(row []uint32, l level16, r axisSample, cols []axisSample, lut *displayLUT) {
	r0 := l.pix[int(r.i0)*l.w : int(r.i0)*l.w+l.w]
	if r.f == 0 {
		for x, c := range cols {
			switch {
			case c.i0 < 0:
				row[x] = lut.bg
			case c.f == 0:
				row[x] = lut.px[r0[c.i0]]
			default:
				v := (uint32(r0[c.i0])*(256-c.f) + uint32(r0[c.i1])*c.f + 128) >> 8
				row[x] = lut.px[uint16(v)]
			}
		}
		return
	}
	r1 := l.pix[int(r.i1)*l.w : int(r.i1)*l.w+l.w]
	for x, c := range cols {
		if c.i0 < 0 {
			row[x] = lut.bg
			continue
		}
		row[x] = lut.px[blend(r0[c.i0], r0[c.i1], r1[c.i0], r1[c.i1], c.f, r.f)]
	}
}

// grayCols draws one output row that runs down one or two level columns
// (the view is turned a quarter).
func grayCols(row []uint32, l level16, r axisSample, cols []axisSample, lut *displayLUT) {
	p := l.pix
	u0, u1 := int(r.i0), int(r.i1)
	for x, c := range cols {
		if c.i0 < 0 {
			row[x] = lut.bg
			continue
		}
		a0, a1 := int(c.i0)*l.w, int(c.i1)*l.w
		row[x] = lut.px[blend(p[a0+u0], p[a0+u1], p[a1+u0], p[a1+u1], r.f, c.f)]
	}
}

// rgbRow draws one output row of a colour image; each channel goes through
// the (identity or inverting) colour table.
func rgbRow(pix []byte, l level8, r axisSample, cols []axisSample, swapped bool, lut *displayLUT) {
	for x, c := range cols {
		p := pix[4*x : 4*x+4 : 4*x+4]
		if c.i0 < 0 {
			p[0], p[1], p[2], p[3] = 0, 0, 0, 0xFF
			continue
		}
		u0, u1, v0, v1, fu, fv := c.i0, c.i1, r.i0, r.i1, c.f, r.f
		if swapped {
			u0, u1, v0, v1, fu, fv = r.i0, r.i1, c.i0, c.i1, r.f, c.f
		}
		for k := range 3 {
			at := func(u, v int32) uint16 { return uint16(l.pix[3*(int(v)*l.w+int(u))+k]) }
			p[k] = lut.ch[uint8(blend(at(u0, v0), at(u1, v0), at(u0, v1), at(u1, v1), fu, fv))]
		}
		p[3] = 0xFF
	}
}

// jobFor builds the render job for an output of pw×ph pixels showing the
// viewport transform t (whose size is in units).
func jobFor(t transform, dst *image.RGBA) renderJob {
	pw, ph := dst.Rect.Dx(), dst.Rect.Dy()
	sx, sy := 1.0, 1.0
	if t.W > 0 {
		sx = float64(pw) / t.W
	}
	if t.H > 0 {
		sy = float64(ph) / t.H
	}
	at := func(px, py float64) (float64, float64) { return t.toImage((px+0.5)/sx, (py+0.5)/sy) }
	u0, v0 := at(0, 0)
	u1, v1 := at(1, 0)
	u2, v2 := at(0, 1)
	return renderJob{
		dst: dst, U0: u0, V0: v0,
		DUX: snap(u1 - u0), DVX: snap(v1 - v0), DUY: snap(u2 - u0), DVY: snap(v2 - v0),
		Zoom: t.Zoom * sx,
	}
}

// snap removes the rounding noise that turns an exact 0 into 1e-17 after a
// quarter turn, which would hide that an axis does not vary.
func snap(d float64) float64 {
	if math.Abs(d) < 1e-12 {
		return 0
	}
	return d
}
