package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// statusBar is the line under the viewport: what is open (or loading),
// the pixel under the pointer, the window, the zoom and the engine.
type statusBar struct {
	progress *widget.ProgressBarInfinite
	progBox  *fyne.Container
	message  *widget.Label
	pixel    *widget.Label
	window   *widget.Label
	zoom     *widget.Label
	engine   *widget.Label
	imageBox *fyne.Container
	obj      fyne.CanvasObject
}

func newStatusBar() *statusBar {
	s := &statusBar{
		progress: widget.NewProgressBarInfinite(),
		message:  widget.NewLabel(""),
		pixel:    widget.NewLabel(""),
		window:   widget.NewLabel(""),
		zoom:     widget.NewLabel(""),
		engine:   widget.NewLabel(""),
	}
	s.message.Truncation = fyne.TextTruncateEllipsis
	s.progress.Stop()
	s.progBox = container.NewGridWrap(fyne.NewSize(90, 20), s.progress)
	s.progBox.Hide()
	left := container.NewHBox(s.progBox)
	// The image's part is hidden while there is no image.
	s.imageBox = container.NewHBox(s.pixel, widget.NewSeparator(), s.window, widget.NewSeparator(), s.zoom,
		widget.NewSeparator())
	s.imageBox.Hide()
	right := container.NewHBox(s.imageBox, s.engine)
	s.obj = container.NewBorder(nil, nil, left, right, s.message)
	return s
}

// busy shows the progress indicator with msg; busy("") stops it.
func (s *statusBar) busy(msg string) {
	if msg == "" {
		s.progress.Stop()
		s.progBox.Hide()
		return
	}
	s.message.SetText(msg)
	s.progBox.Show()
	s.progress.Start()
}

func (s *statusBar) setPixel(p pixelInfo) {
	if !p.Inside {
		s.pixel.SetText("")
		return
	}
	unit := p.Unit
	if unit == "" {
		unit = "(no unit)"
	}
	s.pixel.SetText(fmt.Sprintf("x %d  y %d   stored %d   value %s %s", p.X, p.Y, p.Stored, trimFloat(p.Value, 2), unit))
}
