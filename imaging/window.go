package imaging

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// VOIFunction is the VOI LUT Function of PS3.3 C.11.2.1.3.
type VOIFunction string

// The VOI functions of PS3.3 C.11.2.1.2, and LUT for a VOI LUT Sequence item.
const (
	Linear      VOIFunction = "LINEAR"
	LinearExact VOIFunction = "LINEAR_EXACT"
	Sigmoid     VOIFunction = "SIGMOID"
	TableLUT    VOIFunction = "LUT"
)

// Window is a VOI transformation: a window (center and width in modality
// units, shaped by Function) or, when LUT is set, a VOI LUT Sequence item.
type Window struct {
	Center, Width float64
	Function      VOIFunction // "" reads as LINEAR
	Name          string      // short label for menus ("File 1", "Lung", "Auto")
	Explanation   string      // Window Center & Width Explanation or LUT Explanation
	// LUT is the VOI LUT this window stands for (Function == TableLUT);
	// Center and Width then describe its input range, for display.
	LUT *VOILUT
}

// VOILUT is one item of the VOI LUT Sequence (PS3.3 C.11.2): modality values
// First..First+len(Data)-1 map to Data; values outside clamp to the ends.
type VOILUT struct {
	First int
	Bits  int // bits per output entry; outputs range 0..2^Bits-1
	Data  []uint16
}

// Windows returns the file's own VOI windows: each Window Center/Width pair
// (with its explanation and function), then each VOI LUT Sequence item.
func (im *Image) Windows() []Window {
	return slices.Clone(im.windows)
}

// DefaultWindow returns the file's first window, else the Auto window.
func (im *Image) DefaultWindow() Window {
	if len(im.windows) > 0 {
		return im.windows[0]
	}
	return im.AutoWindow()
}

// Auto window percentiles: the window spans the 1st to the 99th percentile
// of the frame's modality values, so that a few hot or dead pixels and a
// thin collimation border do not flatten the contrast.
const autoLow, autoHigh = 0.01, 0.99

// AutoWindow returns a LINEAR window mapping the 1st percentile of the
// frame's modality values to black and the 99th to white (before any
// inversion).
func (im *Image) AutoWindow() Window {
	w := im.percentileWindow(autoLow, autoHigh)
	w.Name = "Auto"
	w.Explanation = "1st to 99th percentile of the pixel values"
	return w
}

// Presets returns the file's windows followed by Lung, Mediastinum, Bone
// and Auto. On CT (Hounsfield units) the named presets are the usual
// fixed windows: Lung 1500 at −600, Mediastinum 350 at 50, Bone 1800 at 400.
// Projection radiographs (CR, DX) have no absolute unit, so the named
// presets are percentile windows over the frame's values counted from the
// dark end of the display (after MONOCHROME1 inversion): Lung covers the
// 2nd to 70th percentile (the radiolucent fields get the contrast),
// Mediastinum the 35th to 99.5th (soft tissue and heart), Bone the 60th to
// 99.9th (the densest structures).
func (im *Image) Presets() []Window {
	ps := im.Windows()
	if im.Samples != 1 {
		return ps
	}
	if im.isHounsfield() {
		ps = append(ps,
			Window{Center: -600, Width: 1500, Function: Linear, Name: "Lung", Explanation: "CT lung window (HU)"},
			Window{Center: 50, Width: 350, Function: Linear, Name: "Mediastinum", Explanation: "CT mediastinal window (HU)"},
			Window{Center: 400, Width: 1800, Function: Linear, Name: "Bone", Explanation: "CT bone window (HU)"},
		)
	} else {
		for _, p := range []struct {
			name, expl string
			lo, hi     float64
		}{
			{"Lung", "2nd–70th percentile from the dark end: contrast in the lung fields", 0.02, 0.70},
			{"Mediastinum", "35th–99.5th percentile from the dark end: contrast in soft tissue", 0.35, 0.995},
			{"Bone", "60th–99.9th percentile from the dark end: contrast in the densest structures", 0.60, 0.999},
		} {
			lo, hi := p.lo, p.hi
			if im.Inverse {
				// Dark on screen is high modality value.
				lo, hi = 1-hi, 1-lo
			}
			w := im.percentileWindow(lo, hi)
			w.Name, w.Explanation = p.name, p.expl
			ps = append(ps, w)
		}
	}
	return append(ps, im.AutoWindow())
}

func (im *Image) isHounsfield() bool {
	return strings.EqualFold(im.Rescale.Type, "HU") ||
		(im.Meta.Modality == "CT" && (im.Rescale.Type == "" || im.Rescale.Type == "US"))
}

// percentileWindow returns the LINEAR window whose black point is the lo
// quantile and white point the hi quantile of the modality values.
func (im *Image) percentileWindow(lo, hi float64) Window {
	if im.Samples != 1 || len(im.Gray) == 0 {
		return Window{Center: 127.5, Width: 256, Function: Linear}
	}
	h := im.histogram()
	type bin struct {
		v float64
		n uint32
	}
	bins := make([]bin, 0, 1024)
	for s, n := range h {
		if n > 0 {
			bins = append(bins, bin{im.modality(s), n})
		}
	}
	slices.SortFunc(bins, func(a, b bin) int { return cmp.Compare(a.v, b.v) })
	total := float64(len(im.Gray))
	quantile := func(q float64) float64 {
		target := q * total
		var acc float64
		for _, b := range bins {
			acc += float64(b.n)
			if acc > target {
				return b.v
			}
		}
		return bins[len(bins)-1].v
	}
	a, b := quantile(lo), quantile(hi)
	if b <= a {
		b = a + 1
	}
	// LINEAR maps x ≤ c−0.5−(w−1)/2 to black and x > c−0.5+(w−1)/2 to
	// white: solve for those bounds being a and b.
	return Window{Center: (a+b)/2 + 0.5, Width: b - a + 1, Function: Linear}
}

// histogram returns the count of each stored value. Decoders fill im.hist
// once, so that concurrent readers of an Image never write to it.
func (im *Image) histogram() []uint32 {
	if im.hist != nil {
		return im.hist
	}
	return countValues(im.Gray, im.BitsStored)
}

func countValues(gray []uint16, bits int) []uint32 {
	h := make([]uint32, 1<<bits)
	mask := uint16(len(h) - 1)
	for _, g := range gray {
		h[g&mask]++
	}
	return h
}

// signExtend returns the integer a stored value stands for.
func (im *Image) signExtend(s int) int {
	if im.Signed && im.BitsStored > 0 && s >= 1<<(im.BitsStored-1) {
		return s - 1<<im.BitsStored
	}
	return s
}

// modality applies the Modality LUT to the stored value s.
func (im *Image) modality(s int) float64 {
	v := im.signExtend(s)
	m := im.Rescale
	if m.Table != nil {
		i := v - m.First
		i = max(0, min(i, len(m.Table)-1))
		return float64(m.Table[i])
	}
	slope := m.Slope
	if slope == 0 {
		slope = 1
	}
	return float64(v)*slope + m.Intercept
}

// voi maps a modality value through window w to [0, 255] (unquantised).
func voi(w Window, x float64) float64 {
	const ymax = 255.0
	if w.LUT != nil && len(w.LUT.Data) > 0 {
		l := w.LUT
		i := int(math.Floor(x)) - l.First
		i = max(0, min(i, len(l.Data)-1))
		top := float64(uint64(1)<<max(1, min(l.Bits, 16)) - 1)
		return min(float64(l.Data[i])/top, 1) * ymax
	}
	c, wd := w.Center, w.Width
	switch w.Function {
	case LinearExact:
		if wd <= 0 {
			wd = math.SmallestNonzeroFloat64
		}
		switch {
		case x <= c-wd/2:
			return 0
		case x > c+wd/2:
			return ymax
		}
		return ((x-c)/wd + 0.5) * ymax
	case Sigmoid:
		if wd <= 0 {
			wd = math.SmallestNonzeroFloat64
		}
		return ymax / (1 + math.Exp(-4*(x-c)/wd))
	default: // LINEAR, PS3.3 C.11.2.1.2.1
		if wd < 1 {
			wd = 1
		}
		switch {
		case x <= c-0.5-(wd-1)/2:
			return 0
		case x > c-0.5+(wd-1)/2:
			return ymax
		}
		return ((x-(c-0.5))/(wd-1) + 0.5) * ymax
	}
}
