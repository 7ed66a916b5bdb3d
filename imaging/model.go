package imaging

import (
	"image"
	"math"
)

// PrepareModelInput turns a rendered 8-bit image into CXR-LLaVA's input
// exactly as its reference code does (model.md §4): the shorter side is
// resized to size (the longer to int(size·long/short)) with PIL's
// antialiased Lanczos-3, then a size×size centre crop is taken at
// top=(H−size)/2, left=(W−size)/2 (integer division).
//
// The resampler reproduces Pillow's Resample.c for mode "L": separable,
// horizontal pass first, coefficients normalised to 22-bit fixed point,
// each pass rounded and clipped to 8 bits.
func PrepareModelInput(g *image.Gray, size int) *image.Gray {
	b := g.Bounds()
	w, h := b.Dx(), b.Dy()
	if size <= 0 || w <= 0 || h <= 0 {
		return image.NewGray(image.Rect(0, 0, max(size, 0), max(size, 0)))
	}
	nw, nh := size, size
	if w <= h {
		nh = int(float64(size) * float64(h) / float64(w))
	} else {
		nw = int(float64(size) * float64(w) / float64(h))
	}
	// Only the crop is computed: every output pixel depends on its own
	// kernel row and column alone, so the result is the crop of the full
	// resize bit for bit, while a film of extreme aspect ratio (65535×1
	// resizes to 33 million columns) costs no more memory than a square.
	top, left := (nh-size)/2, (nw-size)/2
	return resizeRegion(g, nw, nh, image.Rect(left, top, left+size, top+size))
}

// ResizeLanczos resizes g to w×h with Pillow's Image.resize(…, LANCZOS)
// semantics for 8-bit gray images.
func ResizeLanczos(g *image.Gray, w, h int) *image.Gray {
	return resizeRegion(g, w, h, image.Rect(0, 0, max(w, 0), max(h, 0)))
}

// resizeRegion returns the pixels in r of g resized to w×h (r lies within
// w×h), as an image whose origin is r.Min.
func resizeRegion(g *image.Gray, w, h int, r image.Rectangle) *image.Gray {
	b := g.Bounds()
	sw, sh := b.Dx(), b.Dy()
	r = r.Intersect(image.Rect(0, 0, max(w, 0), max(h, 0)))
	rw, rh := r.Dx(), r.Dy()
	out := image.NewGray(image.Rect(0, 0, rw, rh))
	if rw == 0 || rh == 0 || sw == 0 || sh == 0 {
		return out
	}
	src := g
	if b.Min != (image.Point{}) || g.Stride != sw {
		src = image.NewGray(image.Rect(0, 0, sw, sh))
		for y := range sh {
			copy(src.Pix[y*sw:(y+1)*sw], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	}
	needH, needV := w != sw, h != sh
	// Only the source rows the vertical pass reads go through the
	// horizontal pass, as in Pillow.
	yFirst, yLast := r.Min.Y, r.Max.Y
	var kv kernel
	if needV {
		kv = newKernel(sh, h, r.Min.Y, r.Max.Y)
		yFirst = kv.bounds[0]
		yLast = kv.bounds[2*(rh-1)] + kv.bounds[2*(rh-1)+1]
	}
	rows := yLast - yFirst
	tmp := image.NewGray(image.Rect(0, 0, rw, rows))
	if needH {
		kh := newKernel(sw, w, r.Min.X, r.Max.X)
		ParallelRows(rows, rw, func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				in := src.Pix[(y+yFirst)*sw : (y+yFirst+1)*sw]
				row := tmp.Pix[y*rw : (y+1)*rw]
				for x := range rw {
					xmin, n := kh.bounds[2*x], kh.bounds[2*x+1]
					k := kh.coeffs[x*kh.size : x*kh.size+n]
					ss := int64(1) << (precisionBits - 1)
					for i, c := range k {
						ss += int64(in[xmin+i]) * int64(c)
					}
					row[x] = clip8(ss)
				}
			}
		})
	} else {
		for y := range rows {
			copy(tmp.Pix[y*rw:(y+1)*rw], src.Pix[(y+yFirst)*sw+r.Min.X:])
		}
	}
	if !needV {
		return tmp
	}
	ParallelRows(rh, rw, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			ymin, n := kv.bounds[2*y]-yFirst, kv.bounds[2*y+1]
			k := kv.coeffs[y*kv.size : y*kv.size+n]
			row := out.Pix[y*rw : (y+1)*rw]
			for x := range rw {
				ss := int64(1) << (precisionBits - 1)
				for i, c := range k {
					ss += int64(tmp.Pix[(ymin+i)*rw+x]) * int64(c)
				}
				row[x] = clip8(ss)
			}
		}
	})
	return out
}

// precisionBits is Pillow's PRECISION_BITS for 8-bit resampling (32−8−2).
const precisionBits = 32 - 8 - 2

func clip8(ss int64) uint8 {
	if ss >= 1<<precisionBits<<8 {
		return 255
	}
	if ss <= 0 {
		return 0
	}
	return uint8(ss >> precisionBits)
}

// kernel holds Pillow's precomputed, normalised fixed-point coefficients
// for the outputs lo … hi−1 of a resize: output lo+i reads inputs
// bounds[2i] … bounds[2i]+bounds[2i+1]−1 with coeffs[i*size:].
type kernel struct {
	size   int
	bounds []int
	coeffs []int32
}

// newKernel is Pillow's precompute_coeffs + normalize_coeffs_8bpc for the
// Lanczos filter (support 3) over the box [0, in) resized to out, for the
// outputs lo … hi−1 only: each output's coefficients depend on its own
// index alone, so any range gives the entries of the whole table.
func newKernel(in, out, lo, hi int) kernel {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := 3 * filterscale
	size := int(math.Ceil(support))*2 + 1
	n := hi - lo
	k := kernel{size: size, bounds: make([]int, 2*n), coeffs: make([]int32, n*size)}
	pre := make([]float64, size)
	for i := range n {
		xx := lo + i
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5)
		xmin = max(xmin, 0)
		xmax := int(center + support + 0.5)
		xmax = min(xmax, in) - xmin
		ww := 0.0
		for x := range xmax {
			w := lanczos((float64(x+xmin) - center + 0.5) * ss)
			pre[x] = w
			ww += w
		}
		for x := range xmax {
			if ww != 0 {
				pre[x] /= ww
			}
			v := pre[x] * (1 << precisionBits)
			if v < 0 {
				k.coeffs[i*size+x] = int32(-0.5 + v)
			} else {
				k.coeffs[i*size+x] = int32(0.5 + v)
			}
		}
		k.bounds[2*i], k.bounds[2*i+1] = xmin, xmax
	}
	return k
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

// lanczos is Pillow's lanczos_filter: a sinc windowed by sinc(x/3) on
// [−3, 3).
func lanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}
