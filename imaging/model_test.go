package imaging

import (
	"bytes"
	"image"
	"math"
	"runtime"
	"testing"

	"cxrview/imaging/imagingtest"
)

// refResize is an independent, slow float64 resampler with Pillow's
// semantics: antialiased Lanczos-3 (support scaled by the reduction),
// sample centres at (i+0.5)·scale, weights normalised per output pixel,
// horizontal pass first, each pass rounded and clipped to 8 bits (Pillow
// resizes "L" images through an 8-bit intermediate; on sharp edges the
// clipping of Lanczos overshoot changes the result by tens of levels, so
// the reference must do it too). Weights stay float64 here where Pillow
// uses 22-bit fixed point.
func refResize(src *image.Gray, w, h int) []float64 {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	weights := func(in, out int) ([][]float64, []int) {
		scale := float64(in) / float64(out)
		fs := math.Max(scale, 1)
		support := 3 * fs
		ws := make([][]float64, out)
		starts := make([]int, out)
		for i := range out {
			center := (float64(i) + 0.5) * scale
			lo := max(int(math.Floor(center-support)), 0)
			hi := min(int(math.Ceil(center+support)), in)
			var sum float64
			for j := lo; j < hi; j++ {
				x := (float64(j) + 0.5 - center) / fs
				v := 0.0
				if x > -3 && x < 3 {
					v = 1
					if x != 0 {
						v = 3 * math.Sin(math.Pi*x) * math.Sin(math.Pi*x/3) / (math.Pi * math.Pi * x * x)
					}
				}
				ws[i] = append(ws[i], v)
				sum += v
			}
			for k := range ws[i] {
				ws[i][k] /= sum
			}
			starts[i] = lo
		}
		return ws, starts
	}
	wx, sx := weights(sw, w)
	wy, sy := weights(sh, h)
	tmp := make([]float64, w*sh)
	for y := range sh {
		for x := range w {
			var acc float64
			for k, c := range wx[x] {
				acc += c * float64(src.Pix[y*src.Stride+sx[x]+k])
			}
			tmp[y*w+x] = clampRound(acc)
		}
	}
	out := make([]float64, w*h)
	for y := range h {
		for x := range w {
			var acc float64
			for k, c := range wy[y] {
				acc += c * tmp[(sy[y]+k)*w+x]
			}
			out[y*w+x] = clampRound(acc)
		}
	}
	return out
}

func clampRound(v float64) float64 { return math.Max(0, math.Min(255, math.Floor(v+0.5))) }

// modelTolerance is the largest difference from the float64 reference:
// the fixed-point weights can move a value across a rounding boundary.
const modelTolerance = 1

func TestPrepareModelInput(t *testing.T) {
	film := imagingtest.CRFilm(t)
	im, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	rendered := im.Render(View{Window: im.DefaultWindow()})
	noise := func(w, h int) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		x := uint32(1)
		for i := range g.Pix {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			g.Pix[i] = uint8(x)
			if (i/w/7+i%w/9)%2 == 0 {
				g.Pix[i] = uint8(i % 256)
			}
		}
		return g
	}
	for _, c := range []struct {
		name      string
		src       *image.Gray
		rw, rh    int // resized size
		top, left int // crop origin
	}{
		{"CR film 1760×2140", rendered, 512, 622, 55, 0},
		{"landscape 700×300", noise(700, 300), 1194, 512, 0, 341},
		{"upscale 300×200", noise(300, 200), 768, 512, 0, 128},
		{"square 512", noise(512, 512), 512, 512, 0, 0},
		{"odd 1001×777", noise(1001, 777), 659, 512, 0, 73},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := PrepareModelInput(c.src, 512)
			if got.Rect != image.Rect(0, 0, 512, 512) {
				t.Fatalf("size %v", got.Rect)
			}
			ref := refResize(c.src, c.rw, c.rh)
			maxd, n := 0.0, 0
			for y := range 512 {
				for x := range 512 {
					d := math.Abs(float64(got.Pix[y*512+x]) - ref[(y+c.top)*c.rw+x+c.left])
					if d > 0 {
						n++
					}
					maxd = math.Max(maxd, d)
				}
			}
			t.Logf("%s: %d of %d pixels differ from the float64 reference, max %.2f", c.name, n, 512*512, maxd)
			if maxd > modelTolerance {
				t.Errorf("differs from the float64 reference by %.2f (tolerance %d)", maxd, modelTolerance)
			}
		})
	}
}

// TestResizeLanczosIdentity: resizing to the same size copies the image.
func TestResizeLanczosIdentity(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 13, 7))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 19)
	}
	r := ResizeLanczos(g, 13, 7)
	for i := range g.Pix {
		if r.Pix[i] != g.Pix[i] {
			t.Fatalf("pixel %d: %d, want %d", i, r.Pix[i], g.Pix[i])
		}
	}
	if r := PrepareModelInput(image.NewGray(image.Rect(0, 0, 0, 0)), 512); r.Rect.Dx() != 512 {
		t.Errorf("empty input gave %v", r.Rect)
	}
}

// cropOf returns the size×size crop at (left, top) of g.
func cropOf(g *image.Gray, left, top, size int) []uint8 {
	out := make([]uint8, 0, size*size)
	for y := top; y < top+size; y++ {
		out = append(out, g.Pix[y*g.Stride+left:y*g.Stride+left+size]...)
	}
	return out
}

// TestPrepareModelInputIsCropOfFullResize: computing only the crop gives
// the crop of the full resize bit for bit, on the CR film and on noise in
// both orientations; and any region of a resize (horizontal pass only,
// vertical only, both) equals that region of the whole.
func TestPrepareModelInputIsCropOfFullResize(t *testing.T) {
	film := imagingtest.CRFilm(t)
	im, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	noise := func(w, h int) *image.Gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		x := uint32(7)
		for i := range g.Pix {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			g.Pix[i] = uint8(x >> 3)
		}
		return g
	}
	for _, c := range []struct {
		name      string
		src       *image.Gray
		rw, rh    int
		left, top int
	}{
		{"CR film", im.Render(View{Window: im.DefaultWindow()}), 512, 622, 0, 55},
		{"wide 2000×300", noise(2000, 300), 3413, 512, 1450, 0},
		{"tall 300×1900", noise(300, 1900), 512, 3242, 0, 1365},
		{"small 90×40", noise(90, 40), 1152, 512, 320, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := PrepareModelInput(c.src, 512)
			full := ResizeLanczos(c.src, c.rw, c.rh)
			if !bytes.Equal(got.Pix, cropOf(full, c.left, c.top, 512)) {
				t.Fatal("the crop-aware resize differs from the crop of the full resize")
			}
		})
	}
	src := noise(301, 203)
	for _, size := range [][2]int{{301, 97}, {150, 203}, {611, 450}, {301, 203}} {
		full := ResizeLanczos(src, size[0], size[1])
		for _, r := range []image.Rectangle{
			image.Rect(0, 0, size[0], size[1]), image.Rect(5, 9, 60, 40), image.Rect(size[0]-3, size[1]-7, size[0], size[1]),
		} {
			part := resizeRegion(src, size[0], size[1], r)
			for y := range r.Dy() {
				want := full.Pix[(r.Min.Y+y)*full.Stride+r.Min.X : (r.Min.Y+y)*full.Stride+r.Max.X]
				if !bytes.Equal(part.Pix[y*part.Stride:y*part.Stride+r.Dx()], want) {
					t.Fatalf("resize to %v, region %v: row %d differs", size, r, y)
				}
			}
		}
	}
}

// TestPrepareModelInputExtremeAspect: a film of extreme aspect ratio costs
// about as much memory as a square one (65535×1 used to resize to 33
// million columns, 17 GB).
func TestPrepareModelInputExtremeAspect(t *testing.T) {
	for _, sz := range [][2]int{{65535, 1}, {1, 65535}, {4000, 2}, {3, 9000}} {
		g := image.NewGray(image.Rect(0, 0, sz[0], sz[1]))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 31)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out := PrepareModelInput(g, 512)
		runtime.ReadMemStats(&after)
		if out.Rect != image.Rect(0, 0, 512, 512) {
			t.Fatalf("%v: output %v", sz, out.Rect)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
			t.Errorf("%d×%d: allocated %d MiB", sz[0], sz[1], n>>20)
		}
	}
}
