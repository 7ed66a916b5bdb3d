package imaging

import "strings"

// FormatDA writes a DICOM date (DA, YYYYMMDD) as YYYY-MM-DD; anything
// else comes back trimmed, as the file has it.
func FormatDA(da string) string {
	da = strings.TrimSpace(da)
	if len(da) == 8 && isDigits(da) {
		return da[:4] + "-" + da[4:6] + "-" + da[6:]
	}
	return da
}

// FormatTM writes a DICOM time (TM, HHMMSS.FFFFFF, any part after HH
// optional) as HH:MM, or HH:MM:SS when seconds is set and the file gives
// them; the fraction is dropped. Anything else comes back trimmed.
func FormatTM(tm string, seconds bool) string {
	tm = strings.TrimSpace(tm)
	hms, _, _ := strings.Cut(tm, ".")
	if len(hms) < 4 || !isDigits(hms[:4]) {
		return tm
	}
	out := hms[:2] + ":" + hms[2:4]
	if seconds && len(hms) >= 6 && isDigits(hms[4:6]) {
		out += ":" + hms[4:6]
	}
	return out
}

// FormatPN writes a DICOM person name (PN,
// Family^Given^Middle^Prefix^Suffix) as "Prefix Family, Given Middle
// Suffix", leaving out empty parts. Only the alphabetic group is used: the
// ideographic and phonetic ones after "=" are dropped. A name without "^"
// comes back trimmed.
func FormatPN(pn string) string {
	alpha, _, _ := strings.Cut(pn, "=")
	parts := strings.Split(alpha, "^")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	part := func(i int) string {
		if i < len(parts) {
			return parts[i]
		}
		return ""
	}
	name := join(" ", part(3), part(0))
	rest := join(" ", part(1), part(2), part(4))
	if name == "" {
		return rest
	}
	return join(", ", name, rest)
}

// join joins the non-empty strings of parts with sep.
func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
