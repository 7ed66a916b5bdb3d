package ui

import (
	"strings"
	"testing"

	"cxrview/imaging"
)

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{sexAge("M", "067Y"), "M 67y"},
		{sexAge("", "003W"), "3w"},
		{sexAge("O", ""), "O"},
		{trimFloat(511, 1), "511"},
		{trimFloat(707.849, 1), "707.8"},
		{trimFloat(-0.04, 1), "0"},
		{zoomText(0.372), "37%"},
		{zoomText(0.0156), "1.6%"},
		{windowText(imaging.Window{Center: 40, Width: 400, Name: "Mediastinum"}, false), "C 40  W 400  Mediastinum"},
		{windowText(imaging.Window{Center: 40.26, Width: 400, Name: "Bone"}, true), "C 40.3  W 400  custom"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestFrontalView(t *testing.T) {
	tests := []struct {
		view, body, desc string
		want             bool
	}{
		{"PA", "", "", true},
		{"AP", "CHEST", "", true},
		{"LL", "CHEST", "CHEST PA AND LAT", false},
		{"", "CHEST", "XR CHEST AP ONLY", true},
		{"", "", "CHEST PA", true},
		{"", "CHEST", "CHEST 2 VIEWS PA LAT", false},
		{"", "CHEST", "CHEST PORTABLE", false},
		{"", "ABDOMEN", "ABDOMEN AP", false},
		{"", "CHEST", "CAPACITY", false}, // "AP" inside a word
	}
	for _, tt := range tests {
		m := imaging.Meta{ViewPosition: tt.view, BodyPart: tt.body, StudyDescription: tt.desc}
		if got := frontalView(m); got != tt.want {
			t.Errorf("%q/%q/%q: frontal %v", tt.view, tt.body, tt.desc, got)
		}
	}
}

// TestOverlayTeaching checks the corner texts with and without teaching
// mode on a fully identified study.
func TestOverlayTeaching(t *testing.T) {
	im := grayImage(10, 10, 8, func(x, y int) uint16 { return 0 })
	im.Meta = imaging.Meta{PatientName: "ROE^RICHARD", PatientID: "X1", PatientBirthDate: "19600101", PatientSex: "M",
		PatientAge: "064Y", StudyDate: "20240101", StudyTime: "1200", StudyDescription: "CHEST PA",
		AccessionNumber: "A9", Modality: "DX", ViewPosition: "PA", BodyPart: "CHEST", Manufacturer: "ACME",
		Warnings: []string{"lossy compression"}}
	st := overlayState{window: imaging.Window{Center: 1, Width: 2}, zoom: 1}
	all := func(c [4][]string) string {
		var s []string
		for _, x := range c {
			s = append(s, x...)
		}
		return strings.Join(s, "|")
	}
	plain := all(overlayLines(im, st))
	for _, want := range []string{"ROE, RICHARD", "ID X1", "M 64y  born 1960-01-01", "2024-01-01 12:00", "Acc A9", "⚠ lossy compression"} {
		if !strings.Contains(plain, want) {
			t.Errorf("overlay lacks %q: %s", want, plain)
		}
	}
	st.teaching, st.caseText = true, "Case 2 of 5"
	taught := all(overlayLines(im, st))
	if hits := containsAny([]string{taught}, identifyingStrings(im.Meta)); len(hits) > 0 {
		t.Errorf("teaching overlay: %v", hits)
	}
	for _, want := range []string{"Case 2 of 5", "DX · PA · CHEST", "⚠ lossy compression", "C 1  W 2"} {
		if !strings.Contains(taught, want) {
			t.Errorf("teaching overlay lacks %q: %s", want, taught)
		}
	}
}

// identifyingStrings lists every value of m that identifies a patient or a
// study; teaching mode must show none of them.
func identifyingStrings(m imaging.Meta) []string {
	var out []string
	for _, s := range []string{
		m.PatientName, imaging.FormatPN(m.PatientName), m.PatientID, m.PatientBirthDate, imaging.FormatDA(m.PatientBirthDate),
		m.PatientAge, m.StudyDate, imaging.FormatDA(m.StudyDate), m.StudyTime, imaging.FormatTM(m.StudyTime, false),
		m.StudyDescription, m.AccessionNumber, m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID,
		m.Manufacturer, m.ContentHash,
	} {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
