package imaging

import (
	"fmt"
	"strings"
)

// lut is a LUT Descriptor (number of entries, first mapped value, bits per
// entry) with its data, as found in Modality, VOI and palette LUTs.
type lut struct {
	first, bits int
	data        []uint16
}

// readLUT reads a LUT from the item (or dataset) elems: descriptor tag d,
// data tag t. The first mapped value is signed when signed is set (the
// descriptor is then SS in explicit VR, or must be read so in implicit).
func (f *dicomFile) readLUT(elems []*element, d, t uint32, signed bool) (*lut, error) {
	de, te := find(elems, d), find(elems, t)
	if de == nil || te == nil {
		return nil, nil
	}
	if len(de.value) != 6 {
		return nil, fmt.Errorf("LUT descriptor %s has %d bytes, want 6", tagString(d), len(de.value))
	}
	n := int(f.bo.Uint16(de.value[0:]))
	if n == 0 {
		n = 1 << 16
	}
	first := int(f.bo.Uint16(de.value[2:]))
	if de.vr == "SS" || (signed && de.vr != "US") {
		first = int(int16(first))
	}
	bits := int(f.bo.Uint16(de.value[4:]))
	l := &lut{first: first, bits: bits, data: make([]uint16, n)}
	switch v := te.value; {
	case len(v) >= 2*n:
		for i := range n {
			l.data[i] = f.bo.Uint16(v[2*i:])
		}
	case bits == 8 && len(v) >= n:
		// 8-bit entries packed two to a word.
		for i := range n {
			l.data[i] = uint16(v[i])
		}
	default:
		return nil, fmt.Errorf("LUT data %s has %d bytes for %d entries", tagString(t), len(v), n)
	}
	if bits < 1 || bits > 16 {
		// Descriptor lies: infer the depth from the data.
		top := uint16(0)
		for _, x := range l.data {
			top = max(top, x)
		}
		l.bits = 1
		for l.bits < 16 && top >= 1<<l.bits {
			l.bits++
		}
	}
	return l, nil
}

// applyPalette maps palette indices (decoded into im.Gray) to RGB through
// the Red, Green and Blue Palette Color LUTs.
func (f *dicomFile) applyPalette(im *Image, pm pixelModule) error {
	var pals [3]*lut
	for k := range 3 {
		l, err := f.readLUT(f.elems, 0x00281101+uint32(k), 0x00281201+uint32(k), false)
		if err != nil {
			return fmt.Errorf("palette: %w", err)
		}
		if l == nil {
			if find(f.elems, 0x00281221+uint32(k)) != nil {
				return fmt.Errorf("segmented palette colour LUTs are not supported")
			}
			return fmt.Errorf("PALETTE COLOR image without palette LUTs")
		}
		pals[k] = l
	}
	n := im.Width * im.Height
	if len(im.Gray) != n {
		return fmt.Errorf("PALETTE COLOR image decoded to %d indices for %d×%d pixels", len(im.Gray), im.Width, im.Height)
	}
	im.Samples = 3
	im.RGB = make([]uint8, 3*n)
	for k, l := range pals {
		down := max(l.bits-8, 0)
		for i, g := range im.Gray {
			idx := max(0, min(int(g)-l.first, len(l.data)-1))
			im.RGB[3*i+k] = uint8(l.data[idx] >> down)
		}
	}
	im.Gray, im.BitsStored, im.Signed = nil, 8, false
	return nil
}

// displayModule reads the Modality LUT, VOI LUT and Presentation LUT
// modules (PS3.3 C.11) into im.
func (f *dicomFile) displayModule(im *Image, pm pixelModule) {
	if im.Samples != 1 {
		return
	}
	im.Inverse = pm.photometric == "MONOCHROME1" || strings.EqualFold(f.text(0x20500020), "INVERSE")
	r := ModalityLUT{Slope: 1, Type: f.text(0x00281054)}
	if v := numbers(f.texts(0x00281053)); len(v) > 0 && v[0] == v[0] && v[0] != 0 {
		r.Slope = v[0]
	}
	if v := numbers(f.texts(0x00281052)); len(v) > 0 && v[0] == v[0] {
		r.Intercept = v[0]
	}
	if seq := find(f.elems, 0x00283000); seq != nil && len(seq.items) > 0 {
		l, err := f.readLUT(seq.items[0], 0x00283002, 0x00283006, pm.signed)
		switch {
		case err != nil:
			f.warnings = append(f.warnings, fmt.Sprintf("Modality LUT ignored: %v", err))
		case l != nil:
			r = ModalityLUT{Slope: 1, Table: l.data, First: l.first}
			if e := find(seq.items[0], 0x00283004); e != nil {
				r.Type = strings.Trim(string(e.value), " \x00")
			}
		}
	}
	if q := f.quantised; q != nil {
		r.Intercept += r.Slope * q.offset
		r.Slope *= q.scale
	}
	im.Rescale = r

	centers := numbers(f.texts(0x00281050))
	widths := numbers(f.texts(0x00281051))
	expl := f.texts(0x00281055)
	fn := VOIFunction(strings.ToUpper(f.text(0x00281056)))
	switch fn {
	case "", Linear, LinearExact, Sigmoid:
	default:
		f.warnings = append(f.warnings, fmt.Sprintf("VOI LUT function %q unknown: using LINEAR", fn))
		fn = ""
	}
	if fn == "" {
		fn = Linear
	}
	for i := range min(len(centers), len(widths)) {
		c, w := centers[i], widths[i]
		if c != c || w != w || w <= 0 || (fn == Linear && w < 1) {
			f.warnings = append(f.warnings, fmt.Sprintf("window %d (center %v, width %v) is invalid: ignored", i+1, c, w))
			continue
		}
		win := Window{Center: c, Width: w, Function: fn, Name: fmt.Sprintf("File %d", i+1)}
		if i < len(expl) && expl[i] != "" {
			win.Explanation = expl[i]
		}
		im.windows = append(im.windows, win)
	}
	if seq := find(f.elems, 0x00283010); seq != nil {
		for i, item := range seq.items {
			l, err := f.readLUT(item, 0x00283002, 0x00283006, pm.signed && r.Table == nil && r.Intercept <= 0)
			if err != nil || l == nil {
				f.warnings = append(f.warnings, fmt.Sprintf("VOI LUT %d ignored: %v", i+1, err))
				continue
			}
			win := Window{
				Function: TableLUT, Name: fmt.Sprintf("VOI LUT %d", i+1),
				LUT:    &VOILUT{First: l.first, Bits: l.bits, Data: l.data},
				Center: float64(l.first) + float64(len(l.data))/2, Width: float64(len(l.data)),
			}
			if e := find(item, 0x00283003); e != nil {
				win.Explanation = strings.Trim(string(e.value), " \x00")
			}
			im.windows = append(im.windows, win)
		}
	}
	im.hist = countValues(im.Gray, im.BitsStored)
}
