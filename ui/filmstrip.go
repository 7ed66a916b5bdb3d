package ui

import (
	"image"
	"image/color"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Thumbnail size in units.
const thumbSide = 84

// The filmstrip keeps thumbnails of the tiles in and near view only: one
// takes 168×168×4 bytes (113 kB), so a folder of 20,000 films would hold
// 2.3 GB. Thumbnails are made for the tiles in view, then thumbMargin
// tiles on each side; beyond maxThumbs the farthest from view are dropped
// (and made again when scrolled back to).
const (
	thumbMargin = 12
	maxThumbs   = 256 // 29 MB
)

// filmstrip shows the images of a folder (or of several files opened
// together) as thumbnails; tapping one opens it.
type filmstrip struct {
	tiles     []*thumbTile
	box       *fyne.Container
	scroll    *container.Scroll
	obj       fyne.CanvasObject // the scroll, in a container that reports resizes
	onTap     func(i int)
	maxThumbs int
	held      int // tiles holding a thumbnail
	// onView runs when the tiles in view may have changed (a scroll, a
	// resize): the viewer makes the thumbnails they lack.
	onView func()
}

func newFilmstrip(onTap func(int)) *filmstrip {
	f := &filmstrip{onTap: onTap, box: container.NewHBox(), maxThumbs: maxThumbs}
	f.scroll = container.NewHScroll(f.box)
	f.scroll.SetMinSize(fyne.NewSize(thumbSide, thumbSide+28))
	f.scroll.OnScrolled = func(fyne.Position) { f.viewChanged() }
	f.obj = container.New(&resizeLayout{onResize: f.viewChanged}, f.scroll)
	return f
}

func (f *filmstrip) viewChanged() {
	if f.onView != nil {
		f.onView()
	}
}

// view returns the first and last tiles at least partly in view; last <
// first when there are none.
func (f *filmstrip) view() (first, last int) {
	n := len(f.tiles)
	if n == 0 {
		return 0, -1
	}
	stride := float32(thumbSide + 8)
	if n > 1 {
		if d := f.tiles[1].Position().X - f.tiles[0].Position().X; d > 0 {
			stride = d
		}
	}
	off, w := f.scroll.Offset.X, f.scroll.Size().Width
	first = min(max(int(off/stride), 0), n-1)
	last = min(max(int((off+w)/stride), first), n-1)
	return first, last
}

// wanted returns the tile whose thumbnail to make next: the first in view
// without one, else the nearest ahead on either side, up to thumbMargin
// tiles; -1 when none lacks one.
func (f *filmstrip) wanted() int {
	first, last := f.view()
	lacks := func(i int) bool { return i >= 0 && i < len(f.tiles) && !f.tiles[i].bad && f.tiles[i].img.Image == nil }
	for i := first; i <= last; i++ {
		if lacks(i) {
			return i
		}
	}
	// Ahead, no farther than the thumbnails kept allow: a thumbnail
	// made only to be dropped would be made again and again.
	for d := 1; d <= thumbMargin && last-first+1+2*d <= f.maxThumbs; d++ {
		if lacks(last + d) {
			return last + d
		}
		if lacks(first - d) {
			return first - d
		}
	}
	return -1
}

// set replaces the tiles by one per path.
func (f *filmstrip) set(paths []string, teaching bool) {
	f.tiles, f.held = f.tiles[:0], 0
	objs := make([]fyne.CanvasObject, len(paths))
	for i, p := range paths {
		t := newThumbTile(i, filepath.Base(p), f.onTap)
		t.teaching = teaching
		f.tiles = append(f.tiles, t)
		objs[i] = t
	}
	f.box.Objects = objs
	f.box.Refresh()
	f.scroll.Offset = fyne.Position{}
	f.scroll.Refresh()
}

func (f *filmstrip) setCurrent(i int) {
	for j, t := range f.tiles {
		t.setCurrent(j == i)
	}
	if i < 0 || i >= len(f.tiles) {
		return
	}
	// Bring the tile into view.
	t := f.tiles[i]
	x, w, view := t.Position().X, t.Size().Width, f.scroll.Size().Width
	off := f.scroll.Offset
	switch {
	case x < off.X:
		off.X = x
	case x+w > off.X+view:
		off.X = x + w - view
	default:
		return
	}
	f.scroll.ScrollToOffset(off)
	f.viewChanged()
}

// setThumb gives tile i its thumbnail, and drops the one farthest from
// view when more than maxThumbs are held.
func (f *filmstrip) setThumb(i int, img image.Image) {
	if i < 0 || i >= len(f.tiles) || img == nil {
		return
	}
	if f.tiles[i].img.Image == nil {
		f.held++
	}
	f.tiles[i].setThumb(img)
	if f.held <= f.maxThumbs {
		return
	}
	first, last := f.view()
	far, farDist := -1, -1
	for j, t := range f.tiles {
		if t.img.Image == nil {
			continue
		}
		d := max(first-j, j-last, 0)
		if d > farDist {
			far, farDist = j, d
		}
	}
	if far >= 0 {
		f.tiles[far].setThumb(nil)
		f.held--
	}
}

func (f *filmstrip) setBad(i int) {
	if i >= 0 && i < len(f.tiles) {
		f.tiles[i].setBad()
	}
}

func (f *filmstrip) setTeaching(on bool) {
	for _, t := range f.tiles {
		t.teaching = on
		t.Refresh()
	}
}

// thumbTile is one thumbnail with its caption: the file name, or "Case n"
// in teaching mode.
type thumbTile struct {
	widget.BaseWidget
	index    int
	name     string
	teaching bool
	current  bool
	bad      bool
	img      *canvas.Image
	onTap    func(int)
}

func newThumbTile(i int, name string, onTap func(int)) *thumbTile {
	t := &thumbTile{index: i, name: name, onTap: onTap}
	t.img = canvas.NewImageFromImage(nil)
	t.img.FillMode = canvas.ImageFillContain
	t.img.ScaleMode = canvas.ImageScaleSmooth
	t.ExtendBaseWidget(t)
	return t
}

func (t *thumbTile) Tapped(*fyne.PointEvent) {
	if t.onTap != nil {
		t.onTap(t.index)
	}
}

func (t *thumbTile) setThumb(img image.Image) { t.img.Image = img; t.img.Refresh() }
func (t *thumbTile) setBad()                  { t.bad = true; t.Refresh() }
func (t *thumbTile) setCurrent(on bool) {
	if t.current != on {
		t.current = on
		t.Refresh()
	}
}

func (t *thumbTile) caption() string {
	s := t.name
	if t.teaching {
		s = caseLabel(t.index)
	}
	if t.bad {
		s = "✕ " + s
	}
	return s
}

func (t *thumbTile) CreateRenderer() fyne.WidgetRenderer {
	frame := canvas.NewRectangle(color.Transparent)
	frame.StrokeWidth = 2
	frame.CornerRadius = 3
	label := canvas.NewText("", theme.Color(theme.ColorNameForeground))
	label.TextSize = 11
	label.Alignment = fyne.TextAlignCenter
	r := &thumbRenderer{t: t, frame: frame, label: label}
	r.Refresh()
	return r
}

type thumbRenderer struct {
	t     *thumbTile
	frame *canvas.Rectangle
	label *canvas.Text
}

func (r *thumbRenderer) Destroy() {}

func (r *thumbRenderer) MinSize() fyne.Size { return fyne.NewSize(thumbSide+8, thumbSide+24) }

func (r *thumbRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.frame, r.t.img, r.label}
}

func (r *thumbRenderer) Layout(s fyne.Size) {
	r.frame.Resize(fyne.NewSize(thumbSide+4, thumbSide+4))
	r.frame.Move(fyne.NewPos(2, 2))
	r.t.img.Resize(fyne.NewSize(thumbSide, thumbSide))
	r.t.img.Move(fyne.NewPos(4, 4))
	r.label.Resize(fyne.NewSize(s.Width, 16))
	r.label.Move(fyne.NewPos(0, thumbSide+7))
}

func (r *thumbRenderer) Refresh() {
	text := r.t.caption()
	// Keep captions to the tile's width.
	if rs := []rune(text); len(rs) > 14 {
		text = string(rs[:13]) + "…"
	}
	r.label.Text = text
	r.label.Color = theme.Color(theme.ColorNameForeground)
	if r.t.bad {
		r.label.Color = warnColor
	}
	r.frame.StrokeColor = color.Transparent
	r.frame.FillColor = color.NRGBA{0, 0, 0, 0xff}
	if r.t.current {
		r.frame.StrokeColor = theme.Color(theme.ColorNamePrimary)
	}
	r.frame.Refresh()
	r.label.Refresh()
	r.t.img.Refresh()
}

// resizeLayout stacks its objects and calls onResize when its size
// changes.
type resizeLayout struct {
	size     fyne.Size
	onResize func()
}

func (r *resizeLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
	if size != r.size {
		r.size = size
		if r.onResize != nil {
			r.onResize()
		}
	}
}

func (r *resizeLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		s = s.Max(o.MinSize())
	}
	return s
}
