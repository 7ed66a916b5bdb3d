package ui

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"cxrview/imaging"
)

// corner names the four overlay corners.
type corner int

const (
	topLeft corner = iota
	topRight
	bottomLeft
	bottomRight
)

// overlayState is what the corner overlays describe besides the file.
type overlayState struct {
	window   imaging.Window
	custom   bool    // the window was dragged, not chosen from the presets
	zoom     float64 // screen pixels per image pixel
	rot      int
	flip     bool
	invert   bool
	teaching bool
	caseText string // "Case 3 of 12" in a folder, else ""
}

// overlayLines builds the corner texts. Patient and study identity (name,
// ID, birth date, age, sex, dates, accession, description, institution
// equipment) sit in the top corners; the bottom corners hold only what the
// viewer does to the pixels. Teaching mode keeps the top corners to the
// modality and view, which identify nobody.
func overlayLines(im *imaging.Image, st overlayState) [4][]string {
	var c [4][]string
	m := im.Meta
	modality := joinNonEmpty(" · ", m.Modality, m.ViewPosition, m.BodyPart)
	if st.teaching {
		if st.caseText != "" {
			c[topLeft] = append(c[topLeft], st.caseText)
		}
		if modality != "" {
			c[topRight] = append(c[topRight], modality)
		}
	} else {
		c[topLeft] = appendNonEmpty(c[topLeft],
			imaging.FormatPN(m.PatientName),
			prefixed("ID ", m.PatientID),
			joinNonEmpty("  ", sexAge(m.PatientSex, m.PatientAge), prefixed("born ", imaging.FormatDA(m.PatientBirthDate))),
		)
		c[topRight] = appendNonEmpty(c[topRight],
			m.StudyDescription,
			joinNonEmpty(" ", imaging.FormatDA(m.StudyDate), imaging.FormatTM(m.StudyTime, false)),
			prefixed("Acc ", m.AccessionNumber),
			modality,
			m.Manufacturer,
		)
	}
	size := fmt.Sprintf("%d × %d", im.Width, im.Height)
	if im.Frames > 1 {
		size += fmt.Sprintf("  frame %d/%d", im.Frame+1, im.Frames)
	}
	c[bottomLeft] = append(c[bottomLeft], size)
	if m.PixelSpacing[0] > 0 {
		c[bottomLeft] = append(c[bottomLeft], fmt.Sprintf("%s %s × %s mm", m.SpacingSource,
			trimFloat(m.PixelSpacing[0], 3), trimFloat(m.PixelSpacing[1], 3)))
	}
	for _, w := range m.Warnings {
		c[bottomLeft] = append(c[bottomLeft], "⚠ "+w)
	}

	c[bottomRight] = append(c[bottomRight], windowText(st.window, st.custom))
	view := fmt.Sprintf("Zoom %s", zoomText(st.zoom))
	if st.rot != 0 {
		view += fmt.Sprintf("  Rot %d°", 90*st.rot)
	}
	if st.flip {
		view += "  Flipped"
	}
	if st.invert {
		view += "  Inverted"
	}
	c[bottomRight] = append(c[bottomRight], view)
	return c
}

// windowText is "C 511  W 1023  File 1" (or "custom" after a drag).
func windowText(w imaging.Window, custom bool) string {
	s := fmt.Sprintf("C %s  W %s", trimFloat(w.Center, 1), trimFloat(w.Width, 1))
	switch {
	case custom:
		s += "  custom"
	case w.Name != "":
		s += "  " + w.Name
	}
	return s
}

func zoomText(z float64) string {
	p := z * 100
	if p >= 10 {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// trimFloat prints f with at most prec decimals and no trailing zeros.
func trimFloat(f float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, f)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func appendNonEmpty(dst []string, lines ...string) []string {
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			dst = append(dst, l)
		}
	}
	return dst
}

func prefixed(prefix, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return prefix + strings.TrimSpace(s)
}

func sexAge(sex, age string) string {
	age = strings.TrimSpace(age)
	if len(age) == 4 {
		// DICOM AS: nnnD/W/M/Y.
		n := strings.TrimLeft(age[:3], "0")
		if n == "" {
			n = "0"
		}
		age = n + strings.ToLower(age[3:])
	}
	return joinNonEmpty(" ", strings.TrimSpace(sex), age)
}

// patientAxes returns the patient directions of the image's +x (columns
// increasing) and +y (rows increasing) axes, e.g. "L" and "F", or empty
// strings when the file does not allow an answer, and whether they are
// inferred rather than read.
//
// Patient Orientation (0020,0020) gives them when the file has it. Without
// it they are inferred, for frontal chest films only: a PA or AP view is
// displayed as if facing the patient, so the image's right is the
// patient's left and its bottom the feet. The view comes from View
// Position or, when that is empty, from the words PA or AP in the study
// description of a chest study. An inferred direction can be wrong (a
// film mirrored by the modality or a PACS keeps its View Position), so
// the viewport draws it as a guess; laterals and everything else get no
// markers rather than a guess.
func patientAxes(m imaging.Meta) (x, y string, inferred bool) {
	if po := m.PatientOrientation; po[0] != "" && po[1] != "" {
		return po[0], po[1], false
	}
	if frontalView(m) {
		return "L", "F", true
	}
	return "", "", false
}

var frontalWord = regexp.MustCompile(`(?i)(^|[^A-Z])(PA|AP)([^A-Z]|$)`)

func frontalView(m imaging.Meta) bool {
	switch strings.ToUpper(strings.TrimSpace(m.ViewPosition)) {
	case "PA", "AP":
		return true
	case "":
	default:
		return false
	}
	desc := m.StudyDescription
	chest := strings.EqualFold(strings.TrimSpace(m.BodyPart), "CHEST") ||
		strings.Contains(strings.ToUpper(desc), "CHEST") || strings.Contains(strings.ToUpper(desc), "THORAX")
	lateral := strings.Contains(strings.ToUpper(desc), "LAT")
	return chest && !lateral && frontalWord.MatchString(desc)
}

// opposite is the direction opposite d, letter by letter ("LF" → "RH").
func opposite(d string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case 'L':
			return 'R'
		case 'R':
			return 'L'
		case 'A':
			return 'P'
		case 'P':
			return 'A'
		case 'H':
			return 'F'
		case 'F':
			return 'H'
		}
		return r
	}, d)
}

// markers returns the orientation letters for the left, right, top and
// bottom edges of the viewport, given the patient directions of the image
// axes and the view transform. Empty when the axes are unknown.
func markers(ax, ay string, t transform) (left, right, top, bottom string) {
	if ax == "" || ay == "" {
		return "", "", "", ""
	}
	dir := func(v [2]float64) string {
		// Quarter turns only: one component is ±1, the other 0.
		switch {
		case math.Round(v[0]) > 0:
			return ax
		case math.Round(v[0]) < 0:
			return opposite(ax)
		case math.Round(v[1]) > 0:
			return ay
		default:
			return opposite(ay)
		}
	}
	r, d := t.screenAxes()
	neg := func(v [2]float64) [2]float64 { return [2]float64{-v[0], -v[1]} }
	return dir(neg(r)), dir(r), dir(neg(d)), dir(d)
}
