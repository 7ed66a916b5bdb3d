package ui

import "math"

// Zoom limits, in screen pixels per image pixel: far enough out to see a
// 20-megapixel film whole in a small window, far enough in to inspect single
// pixels.
const (
	minZoom = 1.0 / 64
	maxZoom = 64.0
)

// transform maps image coordinates to viewport coordinates and back. Image
// coordinates are in pixels with the origin at the top-left corner of pixel
// (0, 0), so pixel (i, j) covers [i, i+1)×[j, j+1). Viewport coordinates are
// in Fyne units with the origin at the viewport's top-left corner.
//
// The image is rotated about the point (CX, CY) by Rot quarter turns
// clockwise, then mirrored left–right if Flip is set, then scaled by Zoom and
// placed so that (CX, CY) sits at the centre of the viewport. A vertical flip
// is a horizontal flip plus a half turn, so these two fields describe all
// eight orientations.
type transform struct {
	W, H   float64 // viewport size in units
	Zoom   float64 // units per image pixel
	CX, CY float64 // the image point at the viewport centre
	Rot    int     // quarter turns clockwise, 0..3
	Flip   bool    // mirrored left–right after the rotation
}

// orient applies the rotation and flip to an offset in image space.
func (t transform) orient(dx, dy float64) (float64, float64) {
	switch t.Rot & 3 {
	case 1:
		dx, dy = -dy, dx
	case 2:
		dx, dy = -dx, -dy
	case 3:
		dx, dy = dy, -dx
	}
	if t.Flip {
		dx = -dx
	}
	return dx, dy
}

// unorient is the inverse of orient.
func (t transform) unorient(dx, dy float64) (float64, float64) {
	if t.Flip {
		dx = -dx
	}
	switch t.Rot & 3 {
	case 1:
		dx, dy = dy, -dx
	case 2:
		dx, dy = -dx, -dy
	case 3:
		dx, dy = -dy, dx
	}
	return dx, dy
}

// toScreen maps an image point to the viewport.
func (t transform) toScreen(u, v float64) (x, y float64) {
	dx, dy := t.orient(u-t.CX, v-t.CY)
	return t.W/2 + dx*t.Zoom, t.H/2 + dy*t.Zoom
}

// toImage maps a viewport point to the image.
func (t transform) toImage(x, y float64) (u, v float64) {
	dx, dy := t.unorient((x-t.W/2)/t.Zoom, (y-t.H/2)/t.Zoom)
	return t.CX + dx, t.CY + dy
}

// zoomAbout returns t scaled by factor (within the zoom limits) so that the
// image point under the viewport point (x, y) stays there.
func (t transform) zoomAbout(x, y, factor float64) transform {
	u, v := t.toImage(x, y)
	return t.zoomTo(x, y, u, v, t.Zoom*factor)
}

// zoomTo sets the zoom and puts image point (u, v) at viewport point (x, y).
func (t transform) zoomTo(x, y, u, v, zoom float64) transform {
	t.Zoom = clampZoom(zoom)
	dx, dy := t.unorient((x-t.W/2)/t.Zoom, (y-t.H/2)/t.Zoom)
	t.CX, t.CY = u-dx, v-dy
	return t
}

// pan moves the image by (dx, dy) viewport units.
func (t transform) pan(dx, dy float64) transform {
	ix, iy := t.unorient(dx/t.Zoom, dy/t.Zoom)
	t.CX -= ix
	t.CY -= iy
	return t
}

// fit returns t with the whole image of w×h pixels centred and as large as
// the viewport allows.
func (t transform) fit(w, h int) transform {
	dw, dh := float64(w), float64(h)
	if t.Rot&1 == 1 {
		dw, dh = dh, dw
	}
	z := 1.0
	if dw > 0 && dh > 0 && t.W > 0 && t.H > 0 {
		z = math.Min(t.W/dw, t.H/dh)
	}
	t.Zoom = clampZoom(z)
	t.CX, t.CY = float64(w)/2, float64(h)/2
	return t
}

func clampZoom(z float64) float64 {
	if math.IsNaN(z) || z <= 0 {
		return 1
	}
	return math.Max(minZoom, math.Min(maxZoom, z))
}

// rotate turns the view by quarter turns (positive: clockwise) about the
// viewport centre.
func (t transform) rotate(quarters int) transform {
	if t.Flip {
		// Mirroring reverses the sense of rotation on screen.
		quarters = -quarters
	}
	t.Rot = ((t.Rot+quarters)%4 + 4) % 4
	return t
}

// flipH mirrors the view left–right on screen.
func (t transform) flipH() transform {
	t.Flip = !t.Flip
	return t
}

// flipV mirrors the view top–bottom on screen: a left–right mirror followed
// by a half turn.
func (t transform) flipV() transform {
	t.Flip = !t.Flip
	t.Rot = (t.Rot + 2) % 4
	return t
}

// screenAxes returns which image direction points to the right of the
// screen and which points down, as unit image-space vectors. Orientation
// markers use it.
func (t transform) screenAxes() (right, down [2]float64) {
	rx, ry := t.unorient(1, 0)
	dx, dy := t.unorient(0, 1)
	return [2]float64{rx, ry}, [2]float64{dx, dy}
}
