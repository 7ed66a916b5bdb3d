package ui

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"cxrview/imaging"
	"cxrview/imaging/imagingtest"
)

// viewportWindow puts a viewport of w×h units alone in a test window.
func viewportWindow(t *testing.T, w, h float32, im *imaging.Image) (*Viewport, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	vp := NewViewport()
	win := test.NewTempWindow(t, vp)
	win.SetPadded(false)
	win.Resize(fyne.NewSize(w, h))
	if im != nil {
		vp.setSource(newSource(im))
	}
	return vp, win
}

// gray8 reads the red channel of the captured pixel at (x, y).
func gray8(img image.Image, x, y int) uint8 {
	r, _, _, _ := img.At(x, y).RGBA()
	return uint8(r >> 8)
}

// TestZoomKeepsPointUnderCursor scrolls the wheel over a bright dot and
// checks, in the rendered canvas, that the dot stays under the pointer
// while everything else grows around it.
func TestZoomKeepsPointUnderCursor(t *testing.T) {
	im := grayImage(400, 300, 8, func(x, y int) uint16 {
		if x >= 250 && x < 253 && y >= 100 && y < 103 {
			return 255
		}
		return 0
	})
	im.Windows()
	vp, win := viewportWindow(t, 400, 300, im)
	vp.SetWindow(imaging.Window{Center: 128, Width: 256})
	p := vp.screenPoint(251.5, 101.5)
	test.MoveMouse(win.Canvas(), p)
	before := vp.ZoomPercent()
	for i, dy := range []float32{125, 125, 250, -125} {
		e := &fyne.ScrollEvent{Scrolled: fyne.NewDelta(0, dy)}
		e.Position, e.AbsolutePosition = p, p
		vp.Scrolled(e)
		u, v := vp.imagePoint(p)
		if math.Abs(u-251.5) > 1e-6 || math.Abs(v-101.5) > 1e-6 {
			t.Fatalf("scroll %d: the point under the pointer moved to (%g, %g)", i, u, v)
		}
		img := win.Canvas().Capture()
		if g := gray8(img, int(p.X), int(p.Y)); g != 255 {
			t.Fatalf("scroll %d: the dot is not under the pointer on screen (gray %d)", i, g)
		}
	}
	if got, want := vp.ZoomPercent(), before*8; math.Abs(got-want) > 1e-6*want {
		t.Errorf("zoom %g%%, want %g%% (wheel up 5 notches, down 1)", got, want)
	}
	// Far from the dot the view has changed: the dot's neighbourhood grew.
	img := win.Canvas().Capture()
	if g := gray8(img, int(p.X)+5, int(p.Y)+5); g != 255 {
		t.Errorf("at 8× the dot should cover 5 screen pixels around the pointer; got %d", g)
	}
}

// TestWindowDragFollowsFormula drags with the right button and compares
// the rendered pixels with the DICOM LINEAR window of the new centre and
// width: right widens by the step per unit, down raises the centre.
func TestWindowDragFollowsFormula(t *testing.T) {
	im := grayImage(256, 256, 12, func(x, y int) uint16 { return uint16(x*16 + y/16) })
	vp, win := viewportWindow(t, 300, 280, im)
	vp.SetOverlays(false) // corner text would cover film pixels
	vp.OneToOne()
	w0 := vp.View().Window
	step := vp.wlStep
	if step <= 0 {
		t.Fatal("no window step")
	}
	before := win.Canvas().Capture()
	dragSecondary(vp, fyne.NewPos(100, 100), fyne.NewPos(60, 130)) // 40 left, 30 down
	w := vp.View().Window
	wantC, wantW := w0.Center+30*step, w0.Width-40*step
	if math.Abs(w.Center-wantC) > 1e-9 || math.Abs(w.Width-wantW) > 1e-9 {
		t.Fatalf("window C %g W %g after the drag, want C %g W %g", w.Center, w.Width, wantC, wantW)
	}
	if vp.Preset() != -1 || !strings.Contains(vp.WindowText(), "custom") {
		t.Errorf("a dragged window reads %q", vp.WindowText())
	}
	after := win.Canvas().Capture()
	changed := 0
	for y := 5; y < 275; y += 7 {
		for x := 5; x < 295; x += 7 {
			u, v := vp.imagePoint(fyne.NewPos(float32(x)+0.5, float32(y)+0.5))
			if u < 0 || v < 0 || u >= 256 || v >= 256 {
				continue
			}
			stored := float64(im.Gray[int(v)*256+int(u)])
			if got, want := gray8(after, x, y), linear(stored, wantC, wantW, false); got != want {
				t.Fatalf("pixel (%d,%d) stored %g renders %d, the formula gives %d", x, y, stored, got, want)
			}
			if gray8(after, x, y) != gray8(before, x, y) {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Error("the drag changed no pixel")
	}
}

// TestPanDrag drags the image with the pan tool through fyne's test
// driver: the image point under the start ends under the end.
func TestPanDrag(t *testing.T) {
	im := grayImage(500, 500, 8, func(x, y int) uint16 { return uint16(x ^ y) })
	vp, win := viewportWindow(t, 300, 300, im)
	vp.Zoom(2)
	u0, v0 := vp.imagePoint(fyne.NewPos(100, 100))
	test.Drag(win.Canvas(), fyne.NewPos(100, 100), 40, -25)
	u1, v1 := vp.imagePoint(fyne.NewPos(140, 75))
	if math.Abs(u1-u0) > 1e-9 || math.Abs(v1-v0) > 1e-9 {
		t.Errorf("after a pan the point (%g, %g) is under the end, want (%g, %g)", u1, v1, u0, v0)
	}
}

func TestDistanceTool(t *testing.T) {
	tests := []struct {
		name    string
		spacing [2]float64
		source  string
		want    string
	}{
		{"pixel spacing", [2]float64{0.5, 0.25}, "PixelSpacing", "25.0 mm (PixelSpacing)"},
		{"imager spacing", [2]float64{0.2, 0.2}, "ImagerPixelSpacing", "20.0 mm (ImagerPixelSpacing, at the detector)"},
		{"none", [2]float64{}, "", "100.0 px (no pixel spacing)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := grayImage(400, 400, 8, func(x, y int) uint16 { return 100 })
			im.Meta.PixelSpacing, im.Meta.SpacingSource = tt.spacing, tt.source
			vp, win := viewportWindow(t, 300, 300, im)
			vp.OneToOne()
			vp.SetTool(distanceTool{})
			dragPrimary(vp, fyne.NewPos(50, 150), fyne.NewPos(150, 150)) // 100 image pixels across
			got := measurementTexts(vp)
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("measurements %q, want [%q]", got, tt.want)
			}
			if !slicesContain(canvasTexts(win, false), tt.want) {
				t.Errorf("the label %q is not on the canvas", tt.want)
			}
			// A zoom keeps the length; a click adds nothing; Delete clears.
			vp.Zoom(3)
			if g := measurementTexts(vp); g[0] != tt.want {
				t.Errorf("after zooming: %q", g)
			}
			dragPrimary(vp, fyne.NewPos(10, 10), fyne.NewPos(10, 10))
			if n := len(measurementTexts(vp)); n != 1 {
				t.Errorf("a click made a measurement: %d", n)
			}
			vp.ClearMeasurements()
			if n := len(measurementTexts(vp)); n != 0 {
				t.Errorf("%d measurements after clearing", n)
			}
		})
	}
}

func slicesContain(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestOrientationMarkers follows the markers through rotation and flips:
// read from Patient Orientation they are drawn plain, inferred from the
// view position they are drawn as a guess ("R?", muted), and a mirrored
// film's orientation puts its R on the right.
func TestOrientationMarkers(t *testing.T) {
	im := grayImage(200, 240, 8, func(x, y int) uint16 { return 100 })
	im.Meta.Modality, im.Meta.ViewPosition = "DX", "PA"
	im.Meta.PatientOrientation = [2]string{"L", "F"}
	vp, win := viewportWindow(t, 300, 300, im)
	check := func(step string, want [4]string) {
		t.Helper()
		if got := vp.markerTexts(); got != want {
			t.Errorf("%s: markers left/right/top/bottom %q, want %q", step, got, want)
		}
	}
	check("as stored", [4]string{"R", "L", "H", "F"})
	vp.FlipH()
	check("flipped", [4]string{"L", "R", "H", "F"})
	vp.FlipH()
	vp.Rotate(1)
	check("rotated right", [4]string{"F", "H", "R", "L"})
	vp.Rotate(1)
	check("half turn", [4]string{"L", "R", "F", "H"})
	vp.Reset()
	vp.FlipV()
	check("flipped vertically", [4]string{"R", "L", "F", "H"})
	vp.SetOverlays(false)
	check("overlays off", [4]string{})
	for _, s := range canvasTexts(win, true) {
		if s != "" && len(s) <= 2 && strings.Trim(s, "LRAPHF?") == "" {
			t.Errorf("a marker %q is still on the canvas with overlays off", s)
		}
	}
	vp.SetOverlays(true)
	for _, c := range vp.markerColors() {
		if c != markerColor {
			t.Errorf("a marker read from the file is drawn in %v", c)
		}
	}

	// The film stored mirrored says so: its right is the patient's right.
	im.Meta.PatientOrientation = [2]string{"R", "F"}
	vp.setSource(newSource(im))
	check("mirrored film", [4]string{"L", "R", "H", "F"})
	// An oblique direction keeps its letters.
	im.Meta.PatientOrientation = [2]string{"LP", "F"}
	vp.setSource(newSource(im))
	check("oblique", [4]string{"RA", "LP", "H", "F"})

	// Without Patient Orientation the view position is a guess.
	im.Meta.PatientOrientation = [2]string{}
	vp.setSource(newSource(im))
	check("inferred", [4]string{"R?", "L?", "H?", "F?"})
	for _, c := range vp.markerColors() {
		if c != hunchColor {
			t.Errorf("an inferred marker is drawn in %v, not the muted %v", c, hunchColor)
		}
	}
	// A lateral view gets no markers rather than a guess.
	im.Meta.ViewPosition = "LL"
	vp.setSource(newSource(im))
	check("lateral", [4]string{})
}

// TestOrientationFromDICOM reads Patient Orientation from a DICOM file: the
// CR film has none (its markers are inferred from its description), a copy
// given "R\F" (stored mirrored) shows R on the right, read, not guessed.
func TestOrientationFromDICOM(t *testing.T) {
	dcmodify := imagingtest.RequireTool(t, "dcmodify", "dcmtk")
	film := imagingtest.CRFilm(t)
	dir := t.TempDir()
	cases := []struct {
		value string
		want  [4]string
	}{
		{"", [4]string{"R?", "L?", "H?", "F?"}},
		{`L\F`, [4]string{"R", "L", "H", "F"}},
		{`R\F`, [4]string{"L", "R", "H", "F"}},
		{`Q\F`, [4]string{"R?", "L?", "H?", "F?"}}, // not a direction: ignored
	}
	for i, c := range cases {
		path := film
		if c.value != "" {
			path = filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
			b, err := os.ReadFile(film)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(dcmodify, "-nb", "-i", "(0020,0020)="+c.value, path).CombinedOutput(); err != nil {
				t.Fatalf("dcmodify: %v\n%s", err, out)
			}
		}
		im, err := imaging.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		vp, _ := viewportWindow(t, 300, 300, im)
		if got := vp.markerTexts(); got != c.want {
			t.Errorf("Patient Orientation %q: markers %q, want %q (read %q)", c.value, got, c.want, im.Meta.PatientOrientation)
		}
	}
}

// markerColors is the colour of the four markers as drawn.
func (v *Viewport) markerColors() [4]color.Color {
	r := test.WidgetRenderer(v).(*viewportRenderer)
	var out [4]color.Color
	for i, m := range r.marks {
		out[i] = m.fg.Color
	}
	return out
}

// markerTexts is the text of the four markers as drawn.
func (v *Viewport) markerTexts() [4]string {
	r := test.WidgetRenderer(v).(*viewportRenderer)
	var out [4]string
	for i, m := range r.marks {
		if m.fg.Visible() {
			out[i] = m.fg.Text
		}
	}
	return out
}

// TestViewportRotateAndInvertRender checks the rendered film against the
// stored pixels after a quarter turn with inversion.
func TestViewportRotateAndInvertRender(t *testing.T) {
	im := grayImage(120, 80, 8, func(x, y int) uint16 { return uint16(2*x + y) })
	vp, win := viewportWindow(t, 200, 200, im)
	vp.SetOverlays(false)
	vp.SetWindow(imaging.Window{Center: 128, Width: 256})
	vp.OneToOne()
	vp.Rotate(1)
	vp.Invert()
	img := win.Canvas().Capture()
	for y := 20; y < 180; y += 9 {
		for x := 70; x < 130; x += 5 {
			u, v := vp.imagePoint(fyne.NewPos(float32(x)+0.5, float32(y)+0.5))
			if u < 0 || v < 0 || u >= 120 || v >= 80 {
				continue
			}
			want := linear(float64(im.Gray[int(v)*120+int(u)]), 128, 256, true)
			if got := gray8(img, x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %d, want %d", x, y, got, want)
			}
		}
	}
}

// TestPresetsAndFit checks keys 1–9 map to the presets in order and that
// fitting shows the whole image.
func TestPresetsAndFit(t *testing.T) {
	im := grayImage(1000, 500, 12, func(x, y int) uint16 { return uint16(x * 4) })
	vp, _ := viewportWindow(t, 400, 400, im)
	ps := vp.Presets()
	names := []string{}
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "Lung,Mediastinum,Bone,Auto" {
		t.Errorf("presets %s", got)
	}
	for i := range ps {
		vp.SetPreset(i)
		if vp.View().Window != ps[i] || vp.Preset() != i {
			t.Errorf("preset %d not applied", i)
		}
	}
	vp.SetPreset(42) // no such key: nothing happens
	if vp.Preset() != len(ps)-1 {
		t.Error("an out-of-range preset changed the window")
	}
	vp.Zoom(5)
	vp.Fit()
	if z := vp.ZoomPercent(); math.Abs(z-40) > 1e-9 {
		t.Errorf("fit zoom %g%%, want 40%% (1000 px into 400 units)", z)
	}
	vp.OneToOne()
	if z := vp.ZoomPercent(); math.Abs(z-100) > 1e-9 {
		t.Errorf("1:1 zoom %g%%", z)
	}
}

// measurementTexts returns the distances drawn, as the viewport labels them.
func measurementTexts(v *Viewport) []string {
	var out []string
	for _, m := range v.measures {
		out = append(out, v.distanceText(m))
	}
	return out
}
