package ui

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"cxrview/imaging"
)

// Viewport shows one image: it owns the view (zoom, pan, rotation, window,
// inversion), turns pointer input into changes of it through tools, and
// draws the film, the corner overlays, the orientation markers and the
// distance measurements. Only the visible part of the film is rendered, at
// the screen's resolution, on every change.
//
// All methods run on the UI goroutine.
type Viewport struct {
	widget.BaseWidget

	src     *source
	view    imaging.View
	presets []imaging.Window
	preset  int // index into presets, -1 after a drag
	wlStep  float64
	tf      transform
	fitted  bool // keep fitting on resize until the user zooms or pans

	tool     tool
	measures []measurement
	pending  *measurement // the distance being drawn

	overlays  bool
	teaching  bool
	caseText  string
	axisX     string // patient direction of the image's +x, "" if unknown
	axisY     string
	axisHunch bool // the directions are inferred, not read from the file

	// Pointer state. press is where the primary button went down; dragPos
	// follows the drag by accumulating its deltas.
	press     fyne.Position
	pressed   bool
	dragging  bool
	dragPos   fyne.Position
	wlDrag    *wlDrag
	hover     fyne.Position
	hovering  bool
	pixScale  float64 // physical pixels per unit, learnt from the raster
	raster    *canvas.Raster
	bufs      [2]*image.RGBA
	next      int
	lut       *displayLUT
	lutFor    imaging.View
	lutValid  bool
	lutSource *source

	// OnChange is called after any change of the view (window, zoom,
	// orientation, tool, measurements): the status bar listens.
	OnChange func()
	// OnHover is called when the pixel under the pointer changes.
	OnHover func(pixelInfo)
}

// pixelInfo describes the pixel under the pointer.
type pixelInfo struct {
	Inside bool
	X, Y   int
	Stored int
	Value  float64
	Unit   string
}

// measurement is one distance, its ends in image coordinates so that it
// follows zoom, pan and rotation.
type measurement struct {
	a, b [2]float64
}

type wlDrag struct {
	start  fyne.Position
	window imaging.Window
}

// NewViewport returns an empty viewport.
func NewViewport() *Viewport {
	v := &Viewport{preset: -1, overlays: true, fitted: true, tool: panTool{}}
	v.tf.Zoom = 1
	v.raster = canvas.NewRaster(v.draw)
	v.raster.ScaleMode = canvas.ImageScalePixels
	v.ExtendBaseWidget(v)
	return v
}

// setSource shows the prepared image s fitted to the viewport, with
// its default window. Measurements of the previous image are dropped.
func (v *Viewport) setSource(s *source) {
	v.src = s
	v.lutValid, v.lutSource = false, nil // let the previous image go
	v.measures, v.pending = nil, nil
	v.wlDrag = nil
	if s == nil {
		v.presets = nil
		v.axisX, v.axisY, v.axisHunch = "", "", false
		v.changed()
		return
	}
	v.presets = s.im.Presets()
	v.wlStep = math.Max(s.im.AutoWindow().Width, 1) / 500
	v.axisX, v.axisY, v.axisHunch = patientAxes(s.im.Meta)
	v.resetView()
}

// Image returns the image shown, or nil.
func (v *Viewport) Image() *imaging.Image {
	if v.src == nil {
		return nil
	}
	return v.src.im
}

// View returns the current window and inversion.
func (v *Viewport) View() imaging.View { return v.view }

// Presets returns the windows offered on keys 1–9 and in the menu.
func (v *Viewport) Presets() []imaging.Window { return v.presets }

// Preset returns the index of the preset in use, or -1 for a dragged window.
func (v *Viewport) Preset() int { return v.preset }

// resetView returns to the file's default window, no inversion, no
// rotation, fitted.
func (v *Viewport) resetView() {
	if v.src == nil {
		return
	}
	v.view = imaging.View{Window: v.src.im.DefaultWindow()}
	v.preset = -1
	for i, p := range v.presets {
		if p == v.view.Window {
			v.preset = i
			break
		}
	}
	v.tf.Rot, v.tf.Flip = 0, false
	v.Fit()
}

// Reset undoes every change of the view.
func (v *Viewport) Reset() { v.resetView() }

// Fit shows the whole image as large as the viewport allows.
func (v *Viewport) Fit() {
	v.fitted = true
	v.syncSize()
	if v.src != nil {
		v.tf = v.tf.fit(v.src.w, v.src.h)
	}
	v.changed()
}

// OneToOne shows one image pixel per screen pixel, keeping the image point
// at the centre of the viewport where it is.
func (v *Viewport) OneToOne() {
	v.fitted = false
	v.tf = v.tf.zoomTo(v.tf.W/2, v.tf.H/2, v.tf.CX, v.tf.CY, 1/v.scale())
	v.changed()
}

// ZoomAt zooms by factor keeping the image point under p fixed.
func (v *Viewport) ZoomAt(p fyne.Position, factor float64) {
	if v.src == nil {
		return
	}
	v.fitted = false
	v.tf = v.tf.zoomAbout(float64(p.X), float64(p.Y), factor)
	v.changed()
}

// Zoom zooms about the viewport centre.
func (v *Viewport) Zoom(factor float64) {
	v.ZoomAt(fyne.NewPos(float32(v.tf.W/2), float32(v.tf.H/2)), factor)
}

// Pan moves the image by (dx, dy) units.
func (v *Viewport) Pan(dx, dy float64) {
	if v.src == nil {
		return
	}
	v.fitted = false
	v.tf = v.tf.pan(dx, dy)
	v.changed()
}

// Rotate turns the view by quarter turns clockwise (negative:
// counter-clockwise).
func (v *Viewport) Rotate(quarters int) {
	v.tf = v.tf.rotate(quarters)
	if v.fitted && v.src != nil {
		v.tf = v.tf.fit(v.src.w, v.src.h)
	}
	v.changed()
}

// FlipH mirrors the view left–right.
func (v *Viewport) FlipH() { v.tf = v.tf.flipH(); v.changed() }

// FlipV mirrors the view top–bottom.
func (v *Viewport) FlipV() { v.tf = v.tf.flipV(); v.changed() }

// Invert toggles the user's inversion.
func (v *Viewport) Invert() {
	v.view.Invert = !v.view.Invert
	v.changed()
}

// SetPreset applies preset i (0-based); out-of-range indices are ignored.
func (v *Viewport) SetPreset(i int) {
	if i < 0 || i >= len(v.presets) {
		return
	}
	v.view.Window = v.presets[i]
	v.preset = i
	v.changed()
}

// SetWindow applies a window chosen by the user (a drag, a typed value).
func (v *Viewport) SetWindow(w imaging.Window) {
	if w.Width < 1 {
		w.Width = 1
	}
	v.view.Window = w
	v.preset = -1
	v.changed()
}

// SetOverlays shows or hides the corner overlays and orientation markers.
func (v *Viewport) SetOverlays(on bool) { v.overlays = on; v.changed() }

// Overlays reports whether the corner overlays are shown.
func (v *Viewport) Overlays() bool { return v.overlays }

// SetTeaching hides (or shows again) everything that identifies the
// patient or the study; caseText replaces it ("Case 3 of 12").
func (v *Viewport) SetTeaching(on bool, caseText string) {
	v.teaching, v.caseText = on, caseText
	v.changed()
}

// SetTool selects what a primary-button drag does.
func (v *Viewport) SetTool(t tool) {
	if t == nil {
		t = panTool{}
	}
	v.tool = t
	v.pending = nil
	v.changed()
}

// Tool returns the selected tool.
func (v *Viewport) Tool() tool { return v.tool }

// ClearMeasurements removes every distance.
func (v *Viewport) ClearMeasurements() {
	v.measures, v.pending = nil, nil
	v.changed()
}

// ZoomPercent is the zoom in screen pixels per image pixel, as a percentage.
func (v *Viewport) ZoomPercent() float64 { return v.tf.Zoom * v.scale() * 100 }

// WindowText describes the current window for the status bar.
func (v *Viewport) WindowText() string {
	if v.src == nil {
		return ""
	}
	return windowText(v.view.Window, v.preset < 0)
}

// scale is physical pixels per unit.
func (v *Viewport) scale() float64 {
	if v.pixScale > 0 {
		return v.pixScale
	}
	if c := fyne.CurrentApp().Driver().CanvasForObject(v); c != nil && c.Scale() > 0 {
		return float64(c.Scale())
	}
	return 1
}

// syncSize copies the widget size into the transform, refitting if the
// user has not zoomed or panned since the image was opened.
func (v *Viewport) syncSize() {
	s := v.Size()
	w, h := float64(s.Width), float64(s.Height)
	if w == v.tf.W && h == v.tf.H {
		return
	}
	if v.tf.W > 0 && v.tf.H > 0 && !v.fitted {
		// Keep the image point at the centre where it is.
		v.tf.W, v.tf.H = w, h
		return
	}
	v.tf.W, v.tf.H = w, h
	if v.src != nil {
		v.tf = v.tf.fit(v.src.w, v.src.h)
	}
}

// Resize follows the widget's size.
func (v *Viewport) Resize(s fyne.Size) {
	v.BaseWidget.Resize(s)
	v.syncSize()
	v.changed()
}

// changed redraws and tells the listeners.
func (v *Viewport) changed() {
	v.Refresh()
	if v.hovering {
		v.reportHover()
	}
	if v.OnChange != nil {
		v.OnChange()
	}
}

// draw is the raster generator: it renders the visible part of the film at
// w×h physical pixels. It reuses two buffers in turn so that the one the
// painter may still hold is never overwritten.
func (v *Viewport) draw(w, h int) image.Image {
	if w <= 0 || h <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	v.syncSize()
	if v.tf.W > 0 {
		v.pixScale = float64(w) / v.tf.W
	}
	buf := v.bufs[v.next]
	if buf == nil || buf.Rect.Dx() != w || buf.Rect.Dy() != h {
		buf = image.NewRGBA(image.Rect(0, 0, w, h))
		v.bufs[v.next] = buf
	}
	v.next ^= 1
	if v.src == nil {
		for i := 0; i < len(buf.Pix); i += 4 {
			buf.Pix[i], buf.Pix[i+1], buf.Pix[i+2], buf.Pix[i+3] = 0, 0, 0, 0xFF
		}
		return buf
	}
	v.renderInto(buf)
	return buf
}

// renderInto renders the current view into buf (sized in physical pixels).
func (v *Viewport) renderInto(buf *image.RGBA) {
	if !v.lutValid || v.lutFor != v.view || v.lutSource != v.src {
		v.lut = v.src.lut(v.view, v.lut)
		v.lutFor, v.lutValid, v.lutSource = v.view, true, v.src
	}
	v.src.render(jobFor(v.tf, buf), v.lut)
}

// imagePoint maps a viewport position to image coordinates.
func (v *Viewport) imagePoint(p fyne.Position) (float64, float64) {
	v.syncSize()
	return v.tf.toImage(float64(p.X), float64(p.Y))
}

// screenPoint maps image coordinates to a viewport position.
func (v *Viewport) screenPoint(u, w float64) fyne.Position {
	x, y := v.tf.toScreen(u, w)
	return fyne.NewPos(float32(x), float32(y))
}

// PixelAt describes the pixel under viewport position p.
func (v *Viewport) PixelAt(p fyne.Position) pixelInfo {
	if v.src == nil {
		return pixelInfo{}
	}
	u, w := v.imagePoint(p)
	x, y := int(math.Floor(u)), int(math.Floor(w))
	if x < 0 || y < 0 || x >= v.src.w || y >= v.src.h {
		return pixelInfo{X: x, Y: y}
	}
	s, val, unit := v.src.im.Value(x, y)
	return pixelInfo{Inside: true, X: x, Y: y, Stored: s, Value: val, Unit: unit}
}

func (v *Viewport) reportHover() {
	if v.OnHover != nil {
		v.OnHover(v.PixelAt(v.hover))
	}
}

// --- pointer input ---

// MouseIn is part of desktop.Hoverable.
func (v *Viewport) MouseIn(e *desktop.MouseEvent) { v.MouseMoved(e) }

// MouseMoved tracks the pixel under the pointer and drives a right-button
// window/level drag.
func (v *Viewport) MouseMoved(e *desktop.MouseEvent) {
	v.hover, v.hovering = e.Position, true
	if v.wlDrag != nil {
		if e.Button&desktop.MouseButtonSecondary == 0 {
			v.wlDrag = nil // released outside the viewport
		} else {
			v.applyWLDrag(e.Position)
			return // applyWLDrag reports the pixel
		}
	}
	v.reportHover()
}

// MouseOut is part of desktop.Hoverable.
func (v *Viewport) MouseOut() {
	v.hovering = false
	if v.OnHover != nil {
		v.OnHover(pixelInfo{})
	}
}

// MouseDown starts a window/level drag (secondary button) or remembers
// where a primary drag starts.
func (v *Viewport) MouseDown(e *desktop.MouseEvent) {
	switch e.Button {
	case desktop.MouseButtonSecondary:
		if v.src != nil {
			v.wlDrag = &wlDrag{start: e.Position, window: v.view.Window}
		}
	case desktop.MouseButtonPrimary:
		v.press, v.pressed = e.Position, true
	}
}

// MouseUp ends a window/level drag.
func (v *Viewport) MouseUp(e *desktop.MouseEvent) {
	switch e.Button {
	case desktop.MouseButtonSecondary:
		v.wlDrag = nil
	case desktop.MouseButtonPrimary:
		v.pressed = false
	}
}

// Dragged drives the selected tool with the primary button. Positions are
// accumulated from the deltas so that the tool sees where the pointer is,
// whichever way the driver reports the event position.
func (v *Viewport) Dragged(e *fyne.DragEvent) {
	if v.src == nil {
		return
	}
	if !v.dragging {
		start := e.Position.Subtract(e.Dragged)
		if v.pressed {
			start = v.press
		}
		v.dragging, v.dragPos = true, start
		v.tool.start(v, start)
	}
	v.dragPos = v.dragPos.Add(e.Dragged)
	v.tool.drag(v, v.dragPos, e.Dragged)
}

// DragEnd finishes the tool's drag.
func (v *Viewport) DragEnd() {
	if v.dragging {
		v.dragging = false
		v.tool.end(v)
	}
	v.pressed = false
}

// Scrolled zooms about the pointer: one wheel notch (25 units on Linux and
// Windows) zooms by 2^0.2 ≈ 1.15.
func (v *Viewport) Scrolled(e *fyne.ScrollEvent) {
	if e.Scrolled.DY == 0 {
		return
	}
	v.ZoomAt(e.Position, math.Pow(2, float64(e.Scrolled.DY)/125))
}

// DoubleTapped fits the image to the window.
func (v *Viewport) DoubleTapped(*fyne.PointEvent) { v.Fit() }

// Cursor is part of desktop.Cursorable.
func (v *Viewport) Cursor() desktop.Cursor { return v.tool.cursor() }

// applyWLDrag sets the window from the displacement since the drag began:
// right widens, down raises the centre, by the Auto window's width per 500
// units.
func (v *Viewport) applyWLDrag(p fyne.Position) {
	d := v.wlDrag
	dx, dy := float64(p.X-d.start.X), float64(p.Y-d.start.Y)
	w := d.window
	w.Center += dy * v.wlStep
	w.Width = math.Max(1, w.Width+dx*v.wlStep)
	if w.Function == imaging.TableLUT || w.LUT != nil {
		// A dragged VOI LUT becomes the linear window it spans.
		w.LUT, w.Function = nil, imaging.Linear
	}
	w.Name, w.Explanation = "", ""
	v.SetWindow(w)
}

// distanceText is "43.2 mm (PixelSpacing)", or "211 px (no pixel spacing)".
func (v *Viewport) distanceText(m measurement) string {
	du, dv := m.b[0]-m.a[0], m.b[1]-m.a[1]
	meta := v.src.im.Meta
	if sp := meta.PixelSpacing; sp[0] > 0 && sp[1] > 0 {
		// PixelSpacing is (row spacing, column spacing): rows are
		// vertical steps, columns horizontal.
		d := math.Hypot(du*sp[1], dv*sp[0])
		src := meta.SpacingSource
		if src == "" {
			src = "pixel spacing"
		}
		if src == "ImagerPixelSpacing" {
			src += ", at the detector"
		}
		return fmt.Sprintf("%.1f mm (%s)", d, src)
	}
	return fmt.Sprintf("%.1f px (no pixel spacing)", math.Hypot(du, dv))
}

// CreateRenderer is part of fyne.Widget.
func (v *Viewport) CreateRenderer() fyne.WidgetRenderer {
	r := &viewportRenderer{v: v}
	for i := range r.corners {
		r.corners[i] = &textStack{}
	}
	for i := range r.marks {
		r.marks[i] = newShadowText("", 16, true)
	}
	r.hint = newShadowText("", 13, false)
	r.empty = canvas.NewText("Open a chest film: File → Open (Ctrl+O), drop a file here, or File → Open Folder", color.NRGBA{0x9a, 0x9f, 0xa8, 0xff})
	r.empty.Alignment = fyne.TextAlignCenter
	r.empty.TextSize = 15
	return r
}

// overlayColor is a soft warm grey: readable on the film without glare.
var (
	overlayColor = color.NRGBA{0xdc, 0xd8, 0xcc, 0xff}
	shadowColor  = color.NRGBA{0, 0, 0, 0xc0}
	measureColor = color.NRGBA{0xf2, 0xc8, 0x4b, 0xff}
	markerColor  = color.NRGBA{0xf2, 0xc8, 0x4b, 0xff}
	hunchColor   = color.NRGBA{0xa8, 0xa4, 0x98, 0xc8} // inferred markers
	warnColor    = color.NRGBA{0xf0, 0x9a, 0x4b, 0xff}
)

// shadowText is a text with a dark copy one unit down-right, so that it
// stays readable on white bone and black air alike.
type shadowText struct {
	fg, bg *canvas.Text
}

func newShadowText(s string, size float32, bold bool) *shadowText {
	fg := canvas.NewText(s, overlayColor)
	bg := canvas.NewText(s, shadowColor)
	for _, t := range []*canvas.Text{fg, bg} {
		t.TextSize = size
		t.TextStyle.Bold = bold
	}
	return &shadowText{fg: fg, bg: bg}
}

func (s *shadowText) set(text string, c color.Color) {
	if s.fg.Text != text || s.fg.Color != c {
		s.fg.Text, s.bg.Text = text, text
		s.fg.Color = c
		s.fg.Refresh()
		s.bg.Refresh()
	}
}

func (s *shadowText) show(on bool) {
	for _, t := range []*canvas.Text{s.fg, s.bg} {
		if on {
			t.Show()
		} else {
			t.Hide()
		}
	}
}

func (s *shadowText) size() fyne.Size { return s.fg.MinSize() }

func (s *shadowText) move(p fyne.Position) {
	sz := s.size()
	s.fg.Resize(sz)
	s.bg.Resize(sz)
	s.fg.Move(p)
	s.bg.Move(p.AddXY(1, 1))
}

// textStack is the lines of one corner; it keeps its text objects between
// refreshes so that a window drag only changes strings.
type textStack struct {
	lines []*shadowText
	n     int
}

func (t *textStack) set(lines []string, warnFrom int) {
	for len(t.lines) < len(lines) {
		t.lines = append(t.lines, newShadowText("", 13, false))
	}
	t.n = len(lines)
	for i, l := range t.lines {
		if i < len(lines) {
			c := color.Color(overlayColor)
			if warnFrom >= 0 && i >= warnFrom {
				c = warnColor
			}
			l.set(lines[i], c)
			l.show(true)
		} else {
			// Hidden lines keep no text: nothing identifying lingers.
			l.set("", overlayColor)
			l.show(false)
		}
	}
}

type viewportRenderer struct {
	v       *Viewport
	corners [4]*textStack
	marks   [4]*shadowText // left, right, top, bottom
	hint    *shadowText
	lines   []*canvas.Line // three per measurement: the line and its end ticks
	labels  []*shadowText
	empty   *canvas.Text
	objects []fyne.CanvasObject
}

func (r *viewportRenderer) Destroy() {}

func (r *viewportRenderer) MinSize() fyne.Size { return fyne.NewSize(200, 200) }

func (r *viewportRenderer) Objects() []fyne.CanvasObject {
	objs := r.objects[:0]
	objs = append(objs, r.v.raster, r.empty)
	for _, l := range r.lines {
		objs = append(objs, l)
	}

	add := func(s *shadowText) { objs = append(objs, s.bg, s.fg) }
	for _, l := range r.labels {
		add(l)
	}
	for _, c := range r.corners {
		for _, l := range c.lines {
			add(l)
		}
	}
	for _, m := range r.marks {
		add(m)
	}
	add(r.hint)
	r.objects = objs
	return objs
}

func (r *viewportRenderer) Refresh() {
	r.update()
	r.Layout(r.v.Size())
	r.v.raster.Refresh()
}

// update sets every overlay string from the viewport's state.
func (r *viewportRenderer) update() {
	v := r.v
	shown := v.src != nil && v.overlays
	if v.src == nil {
		r.empty.Show()
	} else {
		r.empty.Hide()
	}
	if shown {
		lines := overlayLines(v.src.im, overlayState{
			window: v.view.Window, custom: v.preset < 0, zoom: v.tf.Zoom * v.scale(),
			rot: v.tf.Rot, flip: v.tf.Flip, invert: v.view.Invert, teaching: v.teaching, caseText: v.caseText,
		})
		for i, c := range r.corners {
			warnFrom := -1
			if corner(i) == bottomLeft {
				warnFrom = len(lines[i]) - len(v.src.im.Meta.Warnings)
			}
			c.set(lines[i], warnFrom)
		}
		l, rt, t, b := markers(v.axisX, v.axisY, v.tf)
		for i, s := range []string{l, rt, t, b} {
			c := markerColor
			if v.axisHunch && s != "" {
				// Inferred, not read from the file: "R?" in a muted
				// colour, never mistaken for the file's own.
				s, c = s+"?", hunchColor
			}
			r.marks[i].set(s, c)
			r.marks[i].show(s != "")
		}
	} else {
		for _, c := range r.corners {
			c.set(nil, -1)
		}
		for _, m := range r.marks {
			m.set("", markerColor)
			m.show(false)
		}
	}
	hint := ""
	if v.src != nil {
		hint = v.tool.hint()
	}
	r.hint.set(hint, measureColor)
	r.hint.show(hint != "")

	ms := v.measures
	if v.pending != nil {
		ms = append(ms[:len(ms):len(ms)], *v.pending)
	}
	if v.src == nil {
		ms = nil
	}
	for len(r.labels) < len(ms) {
		for range 3 {
			ln := canvas.NewLine(measureColor)
			ln.StrokeWidth = 1.5
			r.lines = append(r.lines, ln)
		}
		r.labels = append(r.labels, newShadowText("", 13, true))
	}
	for i, l := range r.labels {
		on := i < len(ms)
		for _, ln := range r.lines[3*i : 3*i+3] {
			if on {
				ln.Show()
			} else {
				ln.Hide()
			}
		}
		if on {
			l.set(v.distanceText(ms[i]), measureColor)
		} else {
			l.set("", measureColor)
		}
		l.show(on)
	}
}

func (r *viewportRenderer) Layout(size fyne.Size) {
	v := r.v
	r.v.raster.Resize(size)
	r.v.raster.Move(fyne.NewPos(0, 0))
	r.empty.Resize(fyne.NewSize(size.Width, r.empty.MinSize().Height))
	r.empty.Move(fyne.NewPos(0, size.Height/2-r.empty.MinSize().Height/2))

	const pad = 8
	for i, c := range r.corners {
		y := float32(pad)
		if corner(i) == bottomLeft || corner(i) == bottomRight {
			h := float32(0)
			for _, l := range c.lines[:c.n] {
				h += l.size().Height
			}
			y = size.Height - pad - h
		}
		for _, l := range c.lines[:c.n] {
			s := l.size()
			x := float32(pad)
			if corner(i) == topRight || corner(i) == bottomRight {
				x = size.Width - pad - s.Width
			}
			l.move(fyne.NewPos(x, y))
			y += s.Height
		}
	}
	mid := func(s *shadowText) fyne.Size { return s.size() }
	ls, rs, ts, bs := mid(r.marks[0]), mid(r.marks[1]), mid(r.marks[2]), mid(r.marks[3])
	r.marks[0].move(fyne.NewPos(pad, size.Height/2-ls.Height/2))
	r.marks[1].move(fyne.NewPos(size.Width-pad-rs.Width, size.Height/2-rs.Height/2))
	r.marks[2].move(fyne.NewPos(size.Width/2-ts.Width/2, pad))
	r.marks[3].move(fyne.NewPos(size.Width/2-bs.Width/2, size.Height-pad-bs.Height))
	hs := r.hint.size()
	r.hint.move(fyne.NewPos(size.Width/2-hs.Width/2, size.Height-pad-bs.Height-hs.Height-4))

	ms := v.measures
	if v.pending != nil {
		ms = append(ms[:len(ms):len(ms)], *v.pending)
	}
	for i := range ms {
		if i >= len(r.labels) || v.src == nil {
			break
		}
		a, b := v.screenPoint(ms[i].a[0], ms[i].a[1]), v.screenPoint(ms[i].b[0], ms[i].b[1])
		ln := r.lines[3*i : 3*i+3]
		ln[0].Position1, ln[0].Position2 = a, b
		// End ticks across the line, 10 units long.
		dx, dy := b.X-a.X, b.Y-a.Y
		n := float32(math.Hypot(float64(dx), float64(dy)))
		if n == 0 {
			n = 1
		}
		tx, ty := -dy/n*5, dx/n*5
		for k, p := range []fyne.Position{a, b} {
			ln[1+k].Position1 = p.AddXY(-tx, -ty)
			ln[1+k].Position2 = p.AddXY(tx, ty)
		}
		for _, l := range ln {
			l.Refresh()
		}
		ls := r.labels[i].size()
		mx, my := (a.X+b.X)/2, (a.Y+b.Y)/2
		r.labels[i].move(fyne.NewPos(mx+6, my-ls.Height-2))
	}
}
