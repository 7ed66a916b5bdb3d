package app

import (
	"strings"
	"testing"
)

// BenchmarkExport times each export of the CR film (2140×1760) with a
// signed report.
func BenchmarkExport(b *testing.B) {
	st := crStudy(b)
	c := newManualClock()
	d := newDraft(st, c.Now())
	d.Text = reportPieces
	d.Signatures = []Signature{{Version: 1, Reader: testReader, Time: c.Now(), Text: reportPieces, DocumentUID: NewUID()}}
	for _, f := range Formats() {
		for _, overlays := range []bool{false, true} {
			if overlays && f != FormatPNG {
				continue
			}
			name := string(f)
			if overlays {
				name += "+overlays"
			}
			b.Run(name, func(b *testing.B) {
				size := 0
				for b.Loop() {
					out, err := ExportData(f, st, d, ExportOptions{Overlays: overlays, Now: c.Now()})
					if err != nil {
						b.Fatal(err)
					}
					size = len(out)
				}
				b.ReportMetric(float64(size), "bytes")
			})
		}
	}
}

// BenchmarkSave times one autosave of a draft with a long report and a
// thread: audit line, JSON, temporary file, fsync, rename.
func BenchmarkSave(b *testing.B) {
	d, st := testDirs(b), pngStudy(b)
	s, err := OpenSession(d, st, SessionOptions{Clock: newManualClock()})
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat(reportPieces+"\n", 20)
	for i := 0; b.Loop(); i++ {
		s.SetText(text + string(rune('a'+i%26)))
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff times the edit diff of a 40-line report with changes
// scattered through it.
func BenchmarkDiff(b *testing.B) {
	old := strings.Repeat(reportPieces+"\n", 20)
	lines := strings.Split(old, "\n")
	for i := 0; i < len(lines); i += 7 {
		lines[i] += " changed"
	}
	nw := strings.Join(lines, "\n")
	for b.Loop() {
		Diff(old, nw)
	}
}
