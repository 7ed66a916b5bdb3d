package ui

import (
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// tool is what a primary-button drag on the viewport does. The right button
// always adjusts the window, whatever the tool.
type tool interface {
	name() string
	hint() string // shown at the bottom of the viewport while selected
	cursor() desktop.Cursor
	start(v *Viewport, p fyne.Position)
	drag(v *Viewport, p fyne.Position, delta fyne.Delta)
	end(v *Viewport)
}

// panTool moves the image with the pointer.
type panTool struct{}

func (panTool) name() string                                    { return "Pan" }
func (panTool) hint() string                                    { return "" }
func (panTool) cursor() desktop.Cursor                          { return desktop.DefaultCursor }
func (panTool) start(*Viewport, fyne.Position)                  {}
func (panTool) drag(v *Viewport, _ fyne.Position, d fyne.Delta) { v.Pan(float64(d.DX), float64(d.DY)) }
func (panTool) end(*Viewport)                                   {}

// windowTool adjusts window/level with the primary button, for trackpads
// and one-button mice.
type windowTool struct{}

func (windowTool) name() string { return "Window/level" }
func (windowTool) hint() string {
	return "Window/level: drag right for a wider window, down for a higher centre · Esc: back to pan"
}
func (windowTool) cursor() desktop.Cursor { return desktop.CrosshairCursor }
func (windowTool) start(v *Viewport, p fyne.Position) {
	v.wlDrag = &wlDrag{start: p, window: v.view.Window}
}
func (windowTool) drag(v *Viewport, p fyne.Position, _ fyne.Delta) {
	if v.wlDrag != nil {
		v.applyWLDrag(p)
	}
}
func (windowTool) end(v *Viewport) { v.wlDrag = nil }

// distanceTool draws a line and labels its length in mm (or px).
type distanceTool struct{}

func (distanceTool) name() string { return "Distance" }
func (distanceTool) hint() string {
	return "Distance: drag from one point to another · Delete: clear · Esc: back to pan"
}
func (distanceTool) cursor() desktop.Cursor { return desktop.CrosshairCursor }
func (distanceTool) start(v *Viewport, p fyne.Position) {
	u, w := v.imagePoint(p)
	v.pending = &measurement{a: [2]float64{u, w}, b: [2]float64{u, w}}
}
func (distanceTool) drag(v *Viewport, p fyne.Position, _ fyne.Delta) {
	if v.pending == nil {
		return
	}
	u, w := v.imagePoint(p)
	v.pending.b = [2]float64{u, w}
	v.changed()
}
func (distanceTool) end(v *Viewport) {
	if m := v.pending; m != nil {
		v.pending = nil
		// A click without a real drag leaves no zero-length line.
		if math.Hypot(m.b[0]-m.a[0], m.b[1]-m.a[1])*v.tf.Zoom >= 3 {
			v.measures = append(v.measures, *m)
		}
		v.changed()
	}
}
