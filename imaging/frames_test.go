package imaging

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"cxrview/imaging/internal/jpeg"
)

// TestMultiFrameFragments encodes a 3-frame 12-bit file with dcmtk and gdcm
// in several fragment layouts (one fragment per frame, many small
// fragments with and without a Basic Offset Table) and checks every frame
// against the native original.
func TestMultiFrameFragments(t *testing.T) {
	const rows, cols, frames = 60, 70, 3
	raw := ramp16(rows, cols, frames, 12, 99)
	native := synth{rows: rows, cols: cols, frames: frames, bitsAlloc: 16, bitsStored: 12, pixels: raw}.write(t, "native.dcm")
	want := func(f int) []uint16 {
		g := make([]uint16, rows*cols)
		for i := range g {
			g[i] = binary.LittleEndian.Uint16(raw[2*(f*rows*cols+i):])
		}
		return g
	}
	dir := t.TempDir()
	vs := []variant{
		{"native", "1.2.840.10008.1.2.1", "dcmtk", "dcmconv", []string{"+te", "IN", "OUT"}},
		{"big endian", "1.2.840.10008.1.2.2", "dcmtk", "dcmconv", []string{"+tb", "IN", "OUT"}},
		{"JPEG lossless", "1.2.840.10008.1.2.4.70", "dcmtk", "dcmcjpeg", []string{"IN", "OUT"}},
		{"JPEG lossless 1k fragments with BOT", "1.2.840.10008.1.2.4.70", "dcmtk", "dcmcjpeg", []string{"+fs", "1", "IN", "OUT"}},
		{"JPEG lossless 1k fragments no BOT", "1.2.840.10008.1.2.4.70", "dcmtk", "dcmcjpeg", []string{"+fs", "1", "-ot", "IN", "OUT"}},
		{"JPEG-LS 1k fragments no BOT", "1.2.840.10008.1.2.4.80", "dcmtk", "dcmcjpls", []string{"+fs", "1", "-ot", "IN", "OUT"}},
		{"RLE", "1.2.840.10008.1.2.5", "dcmtk", "dcmcrle", []string{"IN", "OUT"}},
		{"RLE no BOT", "1.2.840.10008.1.2.5", "dcmtk", "dcmcrle", []string{"-ot", "IN", "OUT"}},
		{"JPEG 2000", "1.2.840.10008.1.2.4.90", "libgdcm-tools", "gdcmconv", []string{"-U", "--j2k", "IN", "OUT"}},
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			p := makeVariant(t, v, native, dir)
			for f := range frames {
				im, err := Open(p, Options{Frame: f})
				if err != nil {
					t.Fatalf("frame %d: %v", f, err)
				}
				if im.Frames != frames || im.Frame != f {
					t.Fatalf("frame %d of %d reported as %d of %d", f, frames, im.Frame, im.Frames)
				}
				if i := firstDiff(im.Gray, want(f)); i >= 0 {
					t.Fatalf("frame %d pixel %d is %d, want %d", f, i, im.Gray[i], want(f)[i])
				}
			}
			_, err := Open(p, Options{Frame: frames})
			if err == nil || !strings.Contains(err.Error(), "3 frame(s)") {
				t.Errorf("frame %d of %d: error %v", frames, frames, err)
			}
		})
	}
}

// TestFragmentsToFrames maps fragments to frames in every layout the
// standard allows, and some it does not.
func TestFragmentsToFrames(t *testing.T) {
	const rows, cols, frames = 20, 30, 4
	var encoded [][]byte
	var want [][]uint16
	for f := range frames {
		raw := ramp16(rows, cols, 1, 12, uint32(7*f+1))
		g := make([]uint16, rows*cols)
		for i := range g {
			g[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		stream, err := jpeg.EncodeLossless(g, cols, rows, 1, 12, 1, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, stream)
		want = append(want, g)
	}
	base := synth{rows: rows, cols: cols, frames: frames, bitsAlloc: 16, bitsStored: 12, ts: "1.2.840.10008.1.2.4.70", encoded: encoded}
	for _, c := range []struct {
		name     string
		fragSize int
		bot      bool
	}{
		{"one fragment per frame, no BOT", 0, false},
		{"one fragment per frame, BOT", 0, true},
		{"100-byte fragments, BOT", 100, true},
		{"100-byte fragments, no BOT", 100, false},
		{"2-byte fragments, no BOT", 2, false},
	} {
		s := base
		s.fragSize, s.bot = c.fragSize, c.bot
		p := s.write(t, "f.dcm")
		for f := range frames {
			im, err := Open(p, Options{Frame: f})
			if err != nil {
				t.Fatalf("%s: frame %d: %v", c.name, f, err)
			}
			if i := firstDiff(im.Gray, want[f]); i >= 0 {
				t.Fatalf("%s: frame %d pixel %d is %d, want %d", c.name, f, i, im.Gray[i], want[f][i])
			}
		}
	}
	// A Basic Offset Table that does not point at fragment starts is
	// ignored with a warning, and the frames are found by their markers.
	s := base
	s.fragSize, s.bot = 100, true
	data := s.bytes()
	bot := bytes.Index(data, []byte{0xFE, 0xFF, 0x00, 0xE0})
	binary.LittleEndian.PutUint32(data[bot+8+4:], 3) // second offset
	p := tempFile(t, "badbot.dcm")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := Open(p, Options{Frame: 2})
	if err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(im.Gray, want[2]); i >= 0 {
		t.Fatalf("bad BOT: pixel %d is %d, want %d", i, im.Gray[i], want[2][i])
	}
	if !hasWarning(im, "basic offset table") {
		t.Errorf("no warning about the bad offset table: %q", im.Meta.Warnings)
	}
	// More frames declared than there are frame starts.
	s = base
	s.frames = frames + 1
	if _, err := Open(s.write(t, "more.dcm")); err == nil || !strings.Contains(err.Error(), "cannot map 4 fragments to 5 frames") {
		t.Errorf("5 frames in 4 fragments: %v", err)
	}
}
