package ui

import (
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cxrview/app/findings"
)

// chipWord is what a chip says for a label; the symbol repeats it for
// readers who do not tell the colours apart.
func chipWord(s findings.Status) (word, symbol string) {
	switch s {
	case findings.Positive:
		return "present", "+"
	case findings.Negative:
		return "absent", "−"
	case findings.Uncertain:
		return "uncertain", "?"
	}
	return "not mentioned", "·"
}

// chipColors are muted fills that keep the film the brightest thing on
// screen: red-brown for present, green-grey for absent, amber for
// uncertain, the button colour for not mentioned.
func chipColors(s findings.Status, dark bool) (fill, text color.Color) {
	if dark {
		switch s {
		case findings.Positive:
			return color.NRGBA{0x5a, 0x2e, 0x2b, 0xff}, color.NRGBA{0xf0, 0xc8, 0xc2, 0xff}
		case findings.Negative:
			return color.NRGBA{0x25, 0x3d, 0x33, 0xff}, color.NRGBA{0xbf, 0xdc, 0xcb, 0xff}
		case findings.Uncertain:
			return color.NRGBA{0x55, 0x46, 0x22, 0xff}, color.NRGBA{0xf0, 0xdc, 0xa8, 0xff}
		}
		return color.NRGBA{0x22, 0x25, 0x2a, 0xff}, color.NRGBA{0x7c, 0x82, 0x8b, 0xff}
	}
	switch s {
	case findings.Positive:
		return color.NRGBA{0xf4, 0xd6, 0xd2, 0xff}, color.NRGBA{0x7a, 0x22, 0x1a, 0xff}
	case findings.Negative:
		return color.NRGBA{0xd7, 0xea, 0xdf, 0xff}, color.NRGBA{0x1f, 0x55, 0x3a, 0xff}
	case findings.Uncertain:
		return color.NRGBA{0xf5, 0xe6, 0xbf, 0xff}, color.NRGBA{0x6b, 0x4e, 0x0c, 0xff}
	}
	return color.NRGBA{0xec, 0xed, 0xef, 0xff}, color.NRGBA{0x6c, 0x72, 0x7b, 0xff}
}

// findingTitle is the chip's name for an observation, in sentence case.
func findingTitle(o findings.Observation) string {
	s := o.String()
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i] + strings.ToLower(s[i:])
	}
	return s
}

// chip shows one key finding's label; tapping it selects the sentence that
// decided the label.
type chip struct {
	widget.BaseWidget
	obs    findings.Observation
	status findings.Status
	onTap  func(findings.Observation)
	hover  bool
}

func newChip(o findings.Observation, onTap func(findings.Observation)) *chip {
	c := &chip{obs: o, onTap: onTap}
	c.ExtendBaseWidget(c)
	return c
}

// Text is what the chip says, as a screen reader or a test reads it.
func (c *chip) Text() string {
	w, sym := chipWord(c.status)
	return sym + " " + findingTitle(c.obs) + ": " + w
}

func (c *chip) set(s findings.Status) {
	if s != c.status {
		c.status = s
		c.Refresh()
	}
}

// Tapped implements fyne.Tappable.
func (c *chip) Tapped(*fyne.PointEvent) {
	if c.onTap != nil {
		c.onTap(c.obs)
	}
}

// Cursor implements desktop.Cursorable: a hand where a tap does something.
func (c *chip) Cursor() desktop.Cursor {
	if c.status == findings.NotMentioned {
		return desktop.DefaultCursor
	}
	return desktop.PointerCursor
}

// MouseIn, MouseMoved and MouseOut implement desktop.Hoverable.
func (c *chip) MouseIn(*desktop.MouseEvent)    { c.hover = true; c.Refresh() }
func (c *chip) MouseMoved(*desktop.MouseEvent) {}
func (c *chip) MouseOut()                      { c.hover = false; c.Refresh() }

func (c *chip) CreateRenderer() fyne.WidgetRenderer {
	r := &chipRenderer{c: c, bg: canvas.NewRectangle(color.Transparent)}
	r.symbol = canvas.NewText("", color.White)
	r.symbol.TextStyle.Bold = true
	r.name = canvas.NewText("", color.White)
	r.word = canvas.NewText("", color.White)
	r.Refresh()
	return r
}

type chipRenderer struct {
	c                  *chip
	bg                 *canvas.Rectangle
	symbol, name, word *canvas.Text
}

func (r *chipRenderer) Refresh() {
	dark := true
	if a := fyne.CurrentApp(); a != nil {
		if rt, ok := a.Settings().Theme().(readingTheme); ok {
			dark = rt.variant == theme.VariantDark
		}
	}
	fill, text := chipColors(r.c.status, dark)
	r.bg.FillColor = fill
	r.bg.CornerRadius = theme.InputRadiusSize() + 2
	r.bg.StrokeWidth = 0
	if r.c.hover && r.c.status != findings.NotMentioned {
		r.bg.StrokeWidth = 1
		r.bg.StrokeColor = text
	}
	word, sym := chipWord(r.c.status)
	size := theme.CaptionTextSize() + 1
	for _, t := range []*canvas.Text{r.symbol, r.name, r.word} {
		t.Color = text
		t.TextSize = size
	}
	r.symbol.Text = sym
	r.name.Text = findingTitle(r.c.obs)
	r.name.TextStyle.Bold = r.c.status != findings.NotMentioned
	r.word.Text = word
	r.bg.Refresh()
	r.symbol.Refresh()
	r.name.Refresh()
	r.word.Refresh()
	r.Layout(r.c.Size())
}

func (r *chipRenderer) Layout(s fyne.Size) {
	r.bg.Resize(s)
	pad := theme.Padding() * 1.5
	sym := r.symbol.MinSize()
	name := r.name.MinSize()
	word := r.word.MinSize()
	y := (s.Height - name.Height) / 2
	r.symbol.Move(fyne.NewPos(pad, y))
	r.symbol.Resize(sym)
	x := pad + 12
	r.name.Move(fyne.NewPos(x, y))
	r.name.Resize(name)
	r.word.Move(fyne.NewPos(s.Width-pad-word.Width, y))
	r.word.Resize(word)
}

func (r *chipRenderer) MinSize() fyne.Size {
	name, word := r.name.MinSize(), r.word.MinSize()
	pad := theme.Padding() * 1.5
	return fyne.NewSize(pad+12+name.Width+theme.Padding()*2+word.Width+pad, name.Height+theme.Padding()*1.6)
}

func (r *chipRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.bg, r.symbol, r.name, r.word}
}

func (r *chipRenderer) Destroy() {}

// chipBoard shows a chip for each of the paper's six key findings, two
// columns wide.
type chipBoard struct {
	chips  []*chip
	obj    fyne.CanvasObject
	result findings.Result
	text   string // the text result labels
}

func newChipBoard(onTap func(findings.Observation)) *chipBoard {
	b := &chipBoard{}
	grid := container.New(layout.NewGridLayoutWithColumns(2))
	for _, o := range findings.Key6() {
		c := newChip(o, onTap)
		b.chips = append(b.chips, c)
		grid.Add(c)
	}
	b.obj = grid
	return b
}

// update labels text and sets the chips; it returns quickly when the text
// has not changed.
func (b *chipBoard) update(text string) {
	if text == b.text && b.text != "" {
		return
	}
	b.text = text
	b.result = findings.Label(text)
	for _, c := range b.chips {
		c.set(b.result.Status(c.obs))
	}
}

// sentence returns the byte span of the sentence that decided o's label
// in the text last labelled.
func (b *chipBoard) sentence(o findings.Observation) findings.Span {
	if !o.Valid() {
		return findings.Span{}
	}
	return b.result.Findings[o].Sentence
}
