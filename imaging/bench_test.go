package imaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"cxrview/imaging/imagingtest"
)

// BenchmarkRerender3000 is the cost of a window change on a 3000×3000
// 16-bit image: a new lookup table and one pass into a reused buffer.
func BenchmarkRerender3000(b *testing.B) {
	const n = 3000
	g := make([]uint16, n*n)
	x := uint32(1)
	for i := range g {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		g[i] = uint16(x)
	}
	im := &Image{Samples: 1, BitsStored: 16, Width: n, Height: n, Gray: g, Rescale: ModalityLUT{Slope: 1}}
	dst := im.Render(View{Window: Window{Center: 30000, Width: 20000}})
	b.SetBytes(int64(2 * n * n))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		im.RenderInto(dst, View{Window: Window{Center: float64(20000 + i%1000*10), Width: 20000}})
	}
}

// BenchmarkLUT is the table alone, for the 16-bit case.
func BenchmarkLUT16(b *testing.B) {
	im := &Image{Samples: 1, BitsStored: 16, Width: 1, Height: 1, Gray: []uint16{0}, Rescale: ModalityLUT{Slope: 1}}
	for b.Loop() {
		im.LUT(View{Window: Window{Center: 30000, Width: 20000}})
	}
}

// BenchmarkOpenCRFilm opens and decodes the real CR film (7.5 MB,
// 2140×1760, implicit VR): parse, pixels, histogram and SHA-256. The
// alloc-x-pixels metric is the bytes allocated per open divided by the
// pixel bytes (7 532 800).
func BenchmarkOpenCRFilm(b *testing.B) {
	film := imagingtest.CRFilm(b)
	const pixelBytes = 2140 * 1760 * 2
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		if _, err := Open(film); err != nil {
			b.Fatal(err)
		}
		n++
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n)/pixelBytes, "alloc-x-pixels")
}

// BenchmarkOpenRenderVsDcmtk times cxrview's open + render of the CR film
// with its own window against dcmtk's dcmj2pnm doing the same (decode,
// window, write an 8-bit PGM), in the same run, and reports the ratio.
func BenchmarkOpenRenderVsDcmtk(b *testing.B) {
	film := imagingtest.CRFilm(b)
	dcmj2pnm := imagingtest.RequireTool(b, "dcmj2pnm", "dcmtk")
	out := filepath.Join(b.TempDir(), "out.pgm")
	var ours, theirs time.Duration
	for b.Loop() {
		t0 := time.Now()
		im, err := Open(film)
		if err != nil {
			b.Fatal(err)
		}
		im.Render(View{Window: im.DefaultWindow()})
		ours += time.Since(t0)
		t0 = time.Now()
		if o, err := exec.Command(dcmj2pnm, "+Wi", "1", film, out).CombinedOutput(); err != nil {
			b.Fatalf("dcmj2pnm: %v %s", err, o)
		}
		theirs += time.Since(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Milliseconds())/n, "cxrview-ms")
	b.ReportMetric(float64(theirs.Milliseconds())/n, "dcmj2pnm-ms")
	b.ReportMetric(float64(theirs)/float64(ours), "speedup")
	os.Remove(out)
}

// BenchmarkDecodeFilm decodes the film in each compressed transfer syntax
// (made with dcmtk and gdcm before the timer starts).
func BenchmarkDecodeFilm(b *testing.B) {
	film := imagingtest.CRFilm(b)
	dir := b.TempDir()
	explicit := filepath.Join(dir, "explicit.dcm")
	dcmtk(b, "dcmconv", "+te", film, explicit)
	for _, v := range []variant{
		{"native", "", "dcmtk", "dcmconv", []string{"+te", "IN", "OUT"}},
		{"deflate", "", "dcmtk", "dcmconv", []string{"+td", "IN", "OUT"}},
		{"RLE", "", "dcmtk", "dcmcrle", []string{"IN", "OUT"}},
		{"JPEG lossless SV1", "", "dcmtk", "dcmcjpeg", []string{"IN", "OUT"}},
		{"JPEG extended 12-bit", "", "dcmtk", "dcmcjpeg", []string{"+ee", "IN", "OUT"}},
		{"JPEG-LS", "", "dcmtk", "dcmcjpls", []string{"IN", "OUT"}},
		{"JPEG 2000", "", "libgdcm-tools", "gdcmconv", []string{"-U", "--j2k", "IN", "OUT"}},
	} {
		p := makeVariant(b, v, explicit, dir)
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrepareModelInput is the model's preprocessing of the rendered
// film: Lanczos to 512×622, centre crop.
func BenchmarkPrepareModelInput(b *testing.B) {
	im, err := Open(imagingtest.CRFilm(b))
	if err != nil {
		b.Fatal(err)
	}
	g := im.Render(View{Window: im.DefaultWindow()})
	for b.Loop() {
		PrepareModelInput(g, 512)
	}
}
