package imaging

import (
	"image"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// TestParallelRows: the bands cover every row once, and a panic in a band
// reaches the caller's recover instead of ending the program.
func TestParallelRows(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	for _, c := range []struct{ h, w int }{{0, 10}, {1, 1 << 20}, {3, 10}, {1000, 1000}, {7, 1 << 15}} {
		seen := make([]atomic.Int32, c.h)
		ParallelRows(c.h, c.w, func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				seen[y].Add(1)
			}
		})
		for y := range seen {
			if n := seen[y].Load(); n != 1 {
				t.Fatalf("%d×%d: row %d done %d times", c.w, c.h, y, n)
			}
		}
	}
	got := func() (p any) {
		defer func() { p = recover() }()
		ParallelRows(1000, 1000, func(y0, y1 int) {
			if y0 > 0 {
				var s []int
				_ = s[y0] // a bug in one band
			}
		})
		return nil
	}()
	if err, ok := got.(error); !ok || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("recovered %v, want the band's index error", got)
	}
}

// TestRenderInconsistentImage: an Image built by hand whose buffers do not
// hold its pixels renders black and reads as zero; it does not crash.
func TestRenderInconsistentImage(t *testing.T) {
	for _, im := range []*Image{
		{Width: 1000, Height: 1000, Samples: 3, RGB: []uint8{}, BitsStored: 8},
		{Width: 1000, Height: 1000, Samples: 1, Gray: make([]uint16, 10), BitsStored: 8},
		{Width: 1000, Height: 1000, Samples: 3, Gray: make([]uint16, 1000*1000), BitsStored: 8},
	} {
		if im.check() == nil {
			t.Fatalf("check accepts %d samples, %d gray, %d RGB", im.Samples, len(im.Gray), len(im.RGB))
		}
		g := im.Render(View{Window: Window{Center: 128, Width: 256}})
		dst := image.NewGray(image.Rect(0, 0, 1000, 1000))
		for i := range dst.Pix {
			dst.Pix[i] = 9
		}
		im.RenderInto(dst, View{})
		rgba := im.RenderRGBA(View{})
		for _, pix := range [][]uint8{g.Pix, dst.Pix, rgba.Pix} {
			for i, v := range pix {
				if v != 0 {
					t.Fatalf("pixel %d is %d, want black", i, v)
				}
			}
		}
		if s, m, _ := im.Value(500, 500); s != 0 || m != 0 {
			t.Errorf("Value %d %g", s, m)
		}
	}
}
