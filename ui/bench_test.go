package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// BenchmarkViewportWindowDrag measures one update of a right-button
// window/level drag on a 3000×3000 12-bit film: the window changes, the
// lookup table is rebuilt and the visible region is rendered at screen
// resolution, which is what the viewport does on every pointer move.
// Run with -cpu 2 for the 2-core figure in docs/benchmarks.md.
func BenchmarkViewportWindowDrag(b *testing.B) {
	test.NewTempApp(b)
	im := grayImage(3000, 3000, 12, func(x, y int) uint16 { return uint16((x*x + y*3) % 4096) })
	for _, tc := range []struct {
		name string
		w, h int // viewport in physical pixels
		set  func(v *Viewport)
	}{
		{"fit-1600x1000", 1600, 1000, func(v *Viewport) { v.Fit() }},
		{"1to1-1600x1000", 1600, 1000, func(v *Viewport) { v.OneToOne() }},
		{"zoom250-rot90-1600x1000", 1600, 1000, func(v *Viewport) { v.Rotate(1); v.Zoom(2.5 / (v.ZoomPercent() / 100)) }},
		{"fit-2560x1440", 2560, 1440, func(v *Viewport) { v.Fit() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := NewViewport()
			v.Resize(fyne.NewSize(float32(tc.w), float32(tc.h)))
			v.setSource(newSource(im))
			tc.set(v)
			start := v.View().Window
			v.MouseDown(mouseEvent(100, 100, secondary))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := range b.N {
				v.MouseMoved(mouseEvent(100+float32(i%200), 100+float32(i%150), secondary))
				v.draw(tc.w, tc.h)
			}
			b.StopTimer()
			cpu := processCPU() - cpu0
			if v.View().Window == start && b.N > 1 {
				b.Fatal("the drag did not change the window")
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/update")
			// CPU time of all threads: on an idle machine with n cores the
			// wall time is about this divided by n.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/update")
		})
	}
}
