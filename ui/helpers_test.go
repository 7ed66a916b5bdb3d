package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
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
