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
	r := ResizeLanczos(g, nw, nh)
	top, left := (nh-size)/2, (nw-size)/2
	out := image.NewGray(image.Rect(0, 0, size, size))
	for y := range size {
		copy(out.Pix[y*out.Stride:y*out.Stride+size], r.Pix[(top+y)*r.Stride+left:])
	}
	return out
}

// ResizeLanczos resizes g to w×h with Pillow's Image.resize(…, LANCZOS)
// semantics for 8-bit gray images.
func ResizeLanczos(g *image.Gray, w, h int) *image.Gray {
	b := g.Bounds()
	sw, sh := b.Dx(), b.Dy()
	src := g
	if b.Min != (image.Point{}) || g.Stride != sw {
		src = image.NewGray(image.Rect(0, 0, sw, sh))
		for y := range sh {
			copy(src.Pix[y*sw:(y+1)*sw], g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	}
	if w <= 0 || h <= 0 || sw == 0 || sh == 0 {
		return image.NewGray(image.Rect(0, 0, max(w, 0), max(h, 0)))
	}
	needH, needV := w != sw, h != sh
	kh := newKernel(sw, w)
	kv := newKernel(sh, h)
	// Only the source rows the vertical pass reads go through the
	// horizontal pass, as in Pillow.
	yFirst := kv.bounds[0]
	yLast := kv.bounds[2*(h-1)] + kv.bounds[2*(h-1)+1]
	tmp := src
	if needH {
		rows := yLast - yFirst
		if !needV {
			yFirst, rows = 0, sh
		}
		tmp = image.NewGray(image.Rect(0, 0, w, rows))
		parallelRows(rows, w, func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				in := src.Pix[(y+yFirst)*sw : (y+yFirst+1)*sw]
				out := tmp.Pix[y*w : (y+1)*w]
				for x := range w {
					xmin, n := kh.bounds[2*x], kh.bounds[2*x+1]
					k := kh.coeffs[x*kh.size : x*kh.size+n]
					ss := int64(1) << (precisionBits - 1)
					for i, c := range k {
						ss += int64(in[xmin+i]) * int64(c)
					}
					out[x] = clip8(ss)
				}
			}
		})
	}
	if !needV {
		return tmp
	}
	off := 0
	if needH {
		off = yFirst
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	parallelRows(h, w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			ymin, n := kv.bounds[2*y]-off, kv.bounds[2*y+1]
			k := kv.coeffs[y*kv.size : y*kv.size+n]
			row := out.Pix[y*w : (y+1)*w]
			for x := range w {
				ss := int64(1) << (precisionBits - 1)
				for i, c := range k {
					ss += int64(tmp.Pix[(ymin+i)*tmp.Stride+x]) * int64(c)
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

// kernel holds Pillow's precomputed, normalised fixed-point coefficients:
// output i reads inputs bounds[2i] … bounds[2i]+bounds[2i+1]−1 with
// coeffs[i*size:].
type kernel struct {
	size   int
	bounds []int
	coeffs []int32
}

// newKernel is Pillow's precompute_coeffs + normalize_coeffs_8bpc for the
// Lanczos filter (support 3) over the box [0, in).
func newKernel(in, out int) kernel {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := 3 * filterscale
	size := int(math.Ceil(support))*2 + 1
	k := kernel{size: size, bounds: make([]int, 2*out), coeffs: make([]int32, out*size)}
	pre := make([]float64, size)
	for xx := range out {
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
				k.coeffs[xx*size+x] = int32(-0.5 + v)
			} else {
				k.coeffs[xx*size+x] = int32(0.5 + v)
			}
		}
		k.bounds[2*xx], k.bounds[2*xx+1] = xmin, xmax
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
