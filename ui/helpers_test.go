package ui

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
)

const (
	primary   = desktop.MouseButtonPrimary
	secondary = desktop.MouseButtonSecondary
)

func mouseEvent(x, y float32, b desktop.MouseButton) *desktop.MouseEvent {
	e := &desktop.MouseEvent{Button: b}
	e.Position = fyne.NewPos(x, y)
	e.AbsolutePosition = e.Position
	return e
}

// dragPrimary drags from a to b with the primary button the way the GLFW
// driver reports it: a press, drag events whose deltas add up, a release.
func dragPrimary(v *Viewport, a, b fyne.Position) {
	v.MouseDown(mouseEvent(a.X, a.Y, primary))
	mid := fyne.NewPos((a.X+b.X)/2, (a.Y+b.Y)/2)
	v.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: mid}, Dragged: fyne.NewDelta(mid.X-a.X, mid.Y-a.Y)})
	v.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: b}, Dragged: fyne.NewDelta(b.X-mid.X, b.Y-mid.Y)})
	v.DragEnd()
	v.MouseUp(mouseEvent(b.X, b.Y, primary))
}

// dragSecondary drags with the right button: GLFW sends no drag events for
// it, only moves with the button held.
func dragSecondary(v *Viewport, a, b fyne.Position) {
	v.MouseDown(mouseEvent(a.X, a.Y, secondary))
	for i := 1; i <= 4; i++ {
		f := float32(i) / 4
		v.MouseMoved(mouseEvent(a.X+(b.X-a.X)*f, a.Y+(b.Y-a.Y)*f, secondary))
	}
	v.MouseUp(mouseEvent(b.X, b.Y, secondary))
}

// testViewer is a main window on the test driver; work the viewer posts
// to the UI goroutine runs on the test goroutine when pumped.
type testViewer struct {
	*Viewer
	t     *testing.T
	queue chan func()
}

func newTestViewer(t *testing.T, opt Options) *testViewer {
	t.Helper()
	a := test.NewTempApp(t)
	env := &app.Env{Dirs: app.Dirs{Config: t.TempDir(), Data: t.TempDir(), Cache: t.TempDir()}, Version: "test"}
	if opt.Chooser == nil {
		opt.Chooser = &stubChooser{}
	}
	if opt.Report == nil {
		opt.Report = &stubReport{} // the viewer alone: no model store, no engine
	}
	v := NewViewer(a, env, app.DefaultSettings(), opt)
	tv := &testViewer{Viewer: v, t: t, queue: make(chan func(), 1024)}
	v.do = func(f func()) { tv.queue <- f }
	v.win.Resize(fyne.NewSize(1000, 700))
	t.Cleanup(func() {
		if v.stopThumbs != nil {
			v.stopThumbs()
		}
		v.win.Close()
	})
	return tv
}

// savedSettings waits for the settings writes and reads the file.
func (tv *testViewer) savedSettings() (app.Settings, error) {
	tv.flushSettings()
	return app.LoadSettings(tv.env.Dirs)
}

// pump runs the posted work until cond holds (nil: until no open request
// is pending and nothing is queued).
func (tv *testViewer) pump(cond func() bool) {
	tv.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case f := <-tv.queue:
			f()
			continue
		default:
		}
		if cond != nil && cond() || cond == nil && tv.pending.Load() == 0 && len(tv.queue) == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	tv.t.Fatal("timed out waiting for the viewer")
}

// dialogTexts returns the texts of the dialogs on top of the window.
func (tv *testViewer) dialogTexts() string {
	var out []string
	for _, o := range tv.win.Canvas().Overlays().List() {
		out = append(out, objectTexts(o, false)...)
	}
	// Labels wrap: compare words, not lines.
	return strings.Join(strings.Fields(strings.Join(out, " ")), " ")
}

func (tv *testViewer) closeDialogs() {
	for tv.win.Canvas().Overlays().Top() != nil {
		tv.win.Canvas().Overlays().Remove(tv.win.Canvas().Overlays().Top())
	}
}

// stubChooser answers file and folder dialogs with fixed paths.
type stubChooser struct {
	file, folder string
	err          error
}

func (s *stubChooser) ChooseFile(_ fyne.Window, _ string, done func(string, error)) {
	done(s.file, s.err)
}
func (s *stubChooser) ChooseFolder(_ fyne.Window, _ string, done func(string, error)) {
	done(s.folder, s.err)
}

// objectTexts collects every string o draws: canvas texts, and the texts
// of the widgets inside it. hidden also collects invisible objects, which
// keep strings a later Show would reveal.
func objectTexts(o fyne.CanvasObject, hidden bool) []string {
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || (!hidden && !o.Visible()) {
			return
		}
		switch x := o.(type) {
		case *canvas.Text:
			if x.Text != "" {
				out = append(out, x.Text)
			}
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case *widget.Entry:
			out = append(out, x.Text)
			walk(test.WidgetRenderer(x).Objects()[0])
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	return out
}

// canvasTexts is every string on the window's canvas, dialogs included.
func canvasTexts(w fyne.Window, hidden bool) []string {
	out := objectTexts(w.Canvas().Content(), hidden)
	for _, o := range w.Canvas().Overlays().List() {
		out = append(out, objectTexts(o, hidden)...)
	}
	return out
}

// menuTexts is every label of the main menu, submenus included.
func menuTexts(m *fyne.MainMenu) []string {
	var out []string
	var walk func(items []*fyne.MenuItem)
	walk = func(items []*fyne.MenuItem) {
		for _, it := range items {
			out = append(out, it.Label)
			if it.ChildMenu != nil {
				walk(it.ChildMenu.Items)
			}
		}
	}
	for _, menu := range m.Items {
		out = append(out, menu.Label)
		walk(menu.Items)
	}
	return out
}

// findMenuItem returns the item labelled label in the menu named menu.
func findMenuItem(t *testing.T, m *fyne.MainMenu, menu, label string) *fyne.MenuItem {
	t.Helper()
	for _, mm := range m.Items {
		if mm.Label != menu {
			continue
		}
		for _, it := range mm.Items {
			if it.Label == label {
				return it
			}
		}
	}
	t.Fatalf("no menu item %s → %s", menu, label)
	return nil
}

// writePNG writes a gray PNG of w×h whose pixel (x, y) is f(x, y).
func writePNG(t testing.TB, path string, w, h int, f func(x, y int) uint8) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePNGHeader writes a PNG that declares w×h gray pixels and holds none:
// enough for a decoder to size its buffers, which it must refuse to do.
func writePNGHeader(t testing.TB, path string, w, h int) {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&buf, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		buf.Write(c)
		binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8] = 8 // bit depth; colour type 0 (gray), no interlace
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dicomFile describes a small DICOM file (explicit VR little endian, CR
// image storage) written by the tests.
type dicomFile struct {
	rows, cols int
	bits       int // stored (allocated is 16)
	pixels     []uint16
	// pixelBytes, when set, replaces the pixel data (to write too little).
	pixelBytes []byte
	attrs      map[uint32]string // tag → value for string attributes
}

var dicomVR = map[uint32]string{
	0x00080016: "UI", 0x00080018: "UI", 0x00080020: "DA", 0x00080030: "TM", 0x00080050: "SH",
	0x00080060: "CS", 0x00080070: "LO", 0x00081030: "LO", 0x00100010: "PN", 0x00100020: "LO",
	0x00100030: "DA", 0x00100040: "CS", 0x00101010: "AS", 0x00180015: "CS", 0x00185101: "CS",
	0x0020000D: "UI", 0x0020000E: "UI", 0x00280004: "CS", 0x00280030: "DS",
}

func (d dicomFile) write(t testing.TB, path string) {
	t.Helper()
	elem := func(buf *bytes.Buffer, tag uint32, vr string, val []byte) {
		if len(val)%2 == 1 {
			pad := byte(' ')
			if vr == "UI" || vr == "OB" {
				pad = 0
			}
			val = append(val, pad)
		}
		binary.Write(buf, binary.LittleEndian, uint16(tag>>16))
		binary.Write(buf, binary.LittleEndian, uint16(tag))
		buf.WriteString(vr)
		switch vr {
		case "OB", "OW", "UN", "SQ", "UT":
			buf.Write([]byte{0, 0})
			binary.Write(buf, binary.LittleEndian, uint32(len(val)))
		default:
			binary.Write(buf, binary.LittleEndian, uint16(len(val)))
		}
		buf.Write(val)
	}
	u16 := func(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
	var meta bytes.Buffer
	elem(&meta, 0x00020001, "OB", []byte{0, 1})
	elem(&meta, 0x00020002, "UI", []byte("1.2.840.10008.5.1.4.1.1.1"))
	elem(&meta, 0x00020003, "UI", []byte("1.2.826.0.1.3680043.10.9999.1"))
	elem(&meta, 0x00020010, "UI", []byte("1.2.840.10008.1.2.1"))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	elem(&out, 0x00020000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(meta.Len())))
	out.Write(meta.Bytes())

	attrs := map[uint32]string{
		0x00080016: "1.2.840.10008.5.1.4.1.1.1", 0x00080018: "1.2.826.0.1.3680043.10.9999.1",
		0x00080060: "CR", 0x00280004: "MONOCHROME2",
	}
	for k, v := range d.attrs {
		attrs[k] = v
	}
	type e struct {
		tag uint32
		vr  string
		val []byte
	}
	var es []e
	for tag, v := range attrs {
		es = append(es, e{tag, dicomVR[tag], []byte(v)})
	}
	pix := d.pixelBytes
	if pix == nil {
		for _, p := range d.pixels {
			pix = binary.LittleEndian.AppendUint16(pix, p)
		}
	}
	es = append(es,
		e{0x00280002, "US", u16(1)}, e{0x00280010, "US", u16(d.rows)}, e{0x00280011, "US", u16(d.cols)},
		e{0x00280100, "US", u16(16)}, e{0x00280101, "US", u16(d.bits)}, e{0x00280102, "US", u16(d.bits - 1)},
		e{0x00280103, "US", u16(0)}, e{0x7FE00010, "OW", pix},
	)
	sort.Slice(es, func(i, j int) bool { return es[i].tag < es[j].tag })
	for _, x := range es {
		elem(&out, x.tag, x.vr, x.val)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// identifiedStudy is a DICOM file whose every identifying attribute is set
// to a recognisable value.
func identifiedStudy(t testing.TB, dir string) (path string, identifying []string) {
	t.Helper()
	d := dicomFile{rows: 96, cols: 80, bits: 12, attrs: map[uint32]string{
		0x00100010: "DOEVILLE^JANET^Q", 0x00100020: "PID-4711-XYZ", 0x00100030: "19470312",
		0x00100040: "F", 0x00101010: "078Y", 0x00080020: "20240219", 0x00080030: "081532",
		0x00080050: "ACC-99812", 0x00081030: "CHEST PA ERECT", 0x00080070: "ACMEX RAY CORP",
		0x0020000D: "1.2.826.0.1.3680043.10.9999.7", 0x0020000E: "1.2.826.0.1.3680043.10.9999.8",
		0x00180015: "CHEST", 0x00185101: "PA", 0x00280030: "0.15\\0.15",
	}}
	for y := range d.rows {
		for x := range d.cols {
			d.pixels = append(d.pixels, uint16((x*37+y*11)%4096))
		}
	}
	path = filepath.Join(dir, "DOEVILLE_JANET_PID-4711-XYZ.dcm")
	d.write(t, path)
	return path, []string{"DOEVILLE", "JANET", "PID-4711-XYZ", "1947", "2024-02-19", "20240219", "08:15",
		"ACC-99812", "CHEST PA ERECT", "ACMEX", "78y", "078Y", filepath.Base(path)}
}

func containsAny(texts []string, needles []string) []string {
	var hits []string
	for _, s := range texts {
		for _, n := range needles {
			if strings.Contains(s, n) {
				hits = append(hits, fmt.Sprintf("%q contains %q", s, n))
			}
		}
	}
	return hits
}
