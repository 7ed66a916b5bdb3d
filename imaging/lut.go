package imaging

import (
	"fmt"
	"image"
	"math"
)

// View is how the user looks at an image: a VOI window and an invert that
// applies on top of the file's own MONOCHROME1 / INVERSE handling.
type View struct {
	Window Window
	Invert bool
}

// LUT is the whole display pipeline of one View collapsed into a table:
// stored value → 8-bit gray. Rendering is one lookup per pixel.
type LUT struct {
	// Table is indexed by stored value (Image.Gray), len 1<<BitsStored; for
	// colour images it is indexed by 8-bit luma.
	Table    []uint8
	View     View
	Inverted bool // the net inversion: file's Inverse XOR View.Invert

	// full is Table padded to 65536 entries so that indexing with a uint16
	// needs no bounds check in the render loop.
	full *[1 << 16]uint8
}

// LUT builds the lookup table for v: Modality LUT, VOI (window or VOI LUT),
// then the presentation inversion, quantised to 8 bits.
//
// Quantisation follows dcmtk (dcmj2pnm): the VOI output y in [0, 255] is
// inverted, if at all, as 255−y and only then floored, so a MONOCHROME1
// film renders exactly like dcmtk's.
func (im *Image) LUT(v View) *LUT {
	full := new([1 << 16]uint8)
	l := &LUT{View: v, full: full}
	if im.Samples != 1 {
		l.Inverted = v.Invert
		for i := range 256 {
			full[i] = uint8(i)
			if l.Inverted {
				full[i] = 255 - uint8(i)
			}
		}
		l.Table = full[:256]
		return l
	}
	l.Inverted = im.Inverse != v.Invert
	bits := max(1, min(im.BitsStored, 16))
	n := 1 << bits
	w := v.Window
	for s := range n {
		y := voi(w, im.modality(s))
		if l.Inverted {
			y = 255 - y
		}
		// The epsilon keeps values that are whole numbers in exact
		// arithmetic (an identity window) from flooring one level low.
		full[s] = uint8(max(0, min(255, math.Floor(y+1e-7))))
	}
	l.Table = full[:n]
	return l
}

// Render returns the frame rendered through v at full resolution. Colour
// images are converted to luma as PIL's convert("L") does.
func (im *Image) Render(v View) *image.Gray {
	return im.RenderInto(nil, v)
}

// RenderInto renders into dst and returns it; a viewer that re-renders on
// every window change reuses one buffer this way. When dst is nil or not
// Width×Height a new image is allocated.
func (im *Image) RenderInto(dst *image.Gray, v View) *image.Gray {
	return im.LUT(v).Apply(im, dst)
}

// Apply renders im through the table into dst (allocated when nil or of
// the wrong size) and returns it, splitting the rows across the cores.
func (l *LUT) Apply(im *Image, dst *image.Gray) *image.Gray {
	w, h := im.Width, im.Height
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = image.NewGray(image.Rect(0, 0, max(w, 0), max(h, 0)))
	}
	if im.check() != nil {
		// Decoders never return such an image; one built by hand renders
		// black rather than reading past its buffers.
		clear(dst.Pix)
		return dst
	}
	ParallelRows(h, w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			off := dst.PixOffset(dst.Rect.Min.X, dst.Rect.Min.Y+y)
			row := dst.Pix[off : off+w]
			if im.Samples == 1 {
				lookupRow(row, im.Gray[y*w:y*w+w], l.full)
				continue
			}
			src := im.RGB[3*y*w : 3*(y*w+w)]
			t := l.full
			for x := range row {
				p := src[3*x : 3*x+3 : 3*x+3]
				row[x] = t[luma(p[0], p[1], p[2])]
			}
		}
	})
	return dst
}

// lookupRow maps one row through the table, eight pixels per step so the
// compiler can drop the bounds checks; a uint16 index into a 65536-entry
// array needs none.
func lookupRow(dst []uint8, src []uint16, t *[1 << 16]uint8) {
	dst = dst[:len(src)]
	for len(src) >= 8 {
		s := src[:8:8]
		d := dst[:8:8]
		d[0], d[1], d[2], d[3] = t[s[0]], t[s[1]], t[s[2]], t[s[3]]
		d[4], d[5], d[6], d[7] = t[s[4]], t[s[5]], t[s[6]], t[s[7]]
		src, dst = src[8:], dst[8:]
	}
	for i, g := range src {
		dst[i] = t[g]
	}
}

// luma is PIL's ITU-R 601-2 conversion: L = R·299/1000 + G·587/1000 +
// B·114/1000, in its 16-bit fixed point with rounding.
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// RenderRGBA renders for display: gray through the LUT, colour as stored
// (inverted only when the user asks).
func (im *Image) RenderRGBA(v View) *image.RGBA {
	w, h := im.Width, im.Height
	dst := image.NewRGBA(image.Rect(0, 0, max(w, 0), max(h, 0)))
	if im.check() != nil {
		return dst // see Apply
	}
	l := im.LUT(v)
	ParallelRows(h, w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			row := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
			if im.Samples == 1 {
				src := im.Gray[y*w : y*w+w]
				for x, g := range src {
					c := l.full[g]
					p := row[4*x : 4*x+4 : 4*x+4]
					p[0], p[1], p[2], p[3] = c, c, c, 255
				}
				continue
			}
			src := im.RGB[3*y*w : 3*(y*w+w)]
			for x := range w {
				p := row[4*x : 4*x+4 : 4*x+4]
				s := src[3*x : 3*x+3 : 3*x+3]
				p[0], p[1], p[2], p[3] = l.full[s[0]], l.full[s[1]], l.full[s[2]], 255
			}
		}
	})
	return dst
}

// check verifies what every renderer relies on: the pixel buffer of the
// image's Samples holds Width×Height pixels.
func (im *Image) check() error {
	if im.Width < 0 || im.Height < 0 {
		return fmt.Errorf("image of %d×%d pixels", im.Width, im.Height)
	}
	n := im.Width * im.Height
	switch im.Samples {
	case 1:
		if len(im.Gray) != n {
			return fmt.Errorf("gray image of %d×%d pixels holds %d values", im.Width, im.Height, len(im.Gray))
		}
	case 3:
		if len(im.RGB) != 3*n {
			return fmt.Errorf("colour image of %d×%d pixels holds %d samples", im.Width, im.Height, len(im.RGB))
		}
	default:
		return fmt.Errorf("%d samples per pixel", im.Samples)
	}
	return nil
}

// Value returns what the status bar shows under the pointer: the stored
// value (sign-extended), the modality value and its unit ("HU" for CT, ""
// when the file does not say). Colour images report luma. Outside the image
// it returns zeros.
func (im *Image) Value(x, y int) (stored int, modality float64, unit string) {
	if x < 0 || y < 0 || x >= im.Width || y >= im.Height || im.check() != nil {
		return 0, 0, ""
	}
	i := y*im.Width + x
	if im.Samples != 1 {
		l := int(luma(im.RGB[3*i], im.RGB[3*i+1], im.RGB[3*i+2]))
		return l, float64(l), ""
	}
	s := int(im.Gray[i])
	return im.signExtend(s), im.modality(s), im.unit()
}

func (im *Image) unit() string {
	switch {
	case im.isHounsfield():
		return "HU"
	case im.Rescale.Type == "US":
		return ""
	}
	return im.Rescale.Type
}
