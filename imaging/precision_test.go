package imaging

import (
	"encoding/binary"
	"fmt"
	"testing"

	"cxrview/imaging/internal/jpeg"
)

// TestJPEGLosslessEveryPrecision wraps process-14 streams of every
// precision from 2 to 16 bits, every predictor, with and without restart
// intervals (whole rows: the IJG decoder accepts no others), in DICOM files and requires cxrview's decode to equal both the
// original samples and dcmtk's dcmdjpeg decode of the same file.
func TestJPEGLosslessEveryPrecision(t *testing.T) {
	const rows, cols = 37, 29
	for bits := 2; bits <= 16; bits++ {
		for _, c := range []struct{ psv, restart int }{{1, 0}, {(bits % 7) + 1, 0}, {7, 0}, {6, 29}, {4, 58}} {
			name := fmt.Sprintf("P%d_SV%d_RI%d", bits, c.psv, c.restart)
			t.Run(name, func(t *testing.T) {
				raw := ramp16(rows, cols, 1, bits, uint32(bits*31+c.psv))
				samples := make([]uint16, rows*cols)
				for i := range samples {
					samples[i] = binary.LittleEndian.Uint16(raw[2*i:])
				}
				stream, err := jpeg.EncodeLossless(samples, cols, rows, 1, bits, c.psv, 0, c.restart)
				if err != nil {
					t.Fatal(err)
				}
				ba := 16
				if bits <= 8 {
					ba = 8
				}
				ts := "1.2.840.10008.1.2.4.57"
				if c.psv == 1 {
					ts = "1.2.840.10008.1.2.4.70"
				}
				p := synth{rows: rows, cols: cols, bitsAlloc: ba, bitsStored: bits, ts: ts, encoded: [][]byte{stream}}.write(t, name+".dcm")
				im, err := Open(p)
				if err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(im.Gray, samples); i >= 0 {
					t.Fatalf("sample %d is %d, the original %d", i, im.Gray[i], samples[i])
				}
				out := tempFile(t, "dcmtk.dcm")
				dcmtk(t, "dcmdjpeg", p, out)
				ref, err := Open(out)
				if err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(im.Gray, ref.Gray); i >= 0 {
					t.Fatalf("sample %d is %d, dcmdjpeg gives %d", i, im.Gray[i], ref.Gray[i])
				}
			})
		}
	}
}
