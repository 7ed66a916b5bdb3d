package imaging

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"os"
	"sort"
	"strconv"
	"testing"
)

// synth describes a small DICOM file written by the tests themselves:
// explicit VR little endian, Secondary Capture, native pixels.
type synth struct {
	rows, cols, frames, spp int
	bitsAlloc, bitsStored   int
	highBit                 int // defaults to bitsStored-1
	signed                  bool
	planar                  bool
	photometric             string
	modality                string
	pixels                  []byte // native little-endian pixel bytes
	extra                   []synthElem
	// ts and encoded make an encapsulated file: one entry per frame, each
	// cut into fragments of fragSize bytes (0: one fragment), with a Basic
	// Offset Table when bot is set.
	ts       string
	encoded  [][]byte
	fragSize int
	bot      bool
}

type synthElem struct {
	tag uint32
	vr  string
	val []byte
}

func str(tag uint32, vr, s string) synthElem {
	b := []byte(s)
	if len(b)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" {
			pad = 0
		}
		b = append(b, pad)
	}
	return synthElem{tag, vr, b}
}

func us(tag uint32, v ...int) synthElem {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
	}
	return synthElem{tag, "US", b}
}

func writeElem(buf *bytes.Buffer, e synthElem) {
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(e.tag>>16))
	binary.LittleEndian.PutUint16(h[2:], uint16(e.tag))
	copy(h[4:6], e.vr)
	if longVR(e.vr) {
		binary.LittleEndian.PutUint32(h[8:], uint32(len(e.val)))
		buf.Write(h[:12])
	} else {
		binary.LittleEndian.PutUint16(h[6:], uint16(len(e.val)))
		buf.Write(h[:8])
	}
	buf.Write(e.val)
}

// bytes encodes the file.
func (s synth) bytes() []byte {
	if s.frames == 0 {
		s.frames = 1
	}
	if s.spp == 0 {
		s.spp = 1
	}
	if s.photometric == "" {
		s.photometric = "MONOCHROME2"
	}
	if s.highBit == 0 {
		s.highBit = s.bitsStored - 1
	}
	if s.modality == "" {
		s.modality = "OT"
	}
	const sopClass = "1.2.840.10008.5.1.4.1.1.7"
	const sopInst = "1.2.826.0.1.3680043.10.1234.1"
	var meta bytes.Buffer
	for _, e := range []synthElem{
		{0x00020001, "OB", []byte{0, 1}},
		str(0x00020002, "UI", sopClass),
		str(0x00020003, "UI", sopInst),
		str(0x00020010, "UI", cmp.Or(s.ts, "1.2.840.10008.1.2.1")),
		str(0x00020012, "UI", "1.2.826.0.1.3680043.10.1234"),
	} {
		writeElem(&meta, e)
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(meta.Len()))
	writeElem(&out, synthElem{0x00020000, "UL", gl})
	out.Write(meta.Bytes())
	pr := 0
	if s.signed {
		pr = 1
	}
	elems := []synthElem{
		str(0x00080016, "UI", sopClass),
		str(0x00080018, "UI", sopInst),
		str(0x00080060, "CS", s.modality),
		str(0x00100010, "PN", "Test^Synthetic"),
		str(0x0020000D, "UI", "1.2.826.0.1.3680043.10.1234.2"),
		str(0x0020000E, "UI", "1.2.826.0.1.3680043.10.1234.3"),
		us(0x00280002, s.spp),
		str(0x00280004, "CS", s.photometric),
		us(0x00280010, s.rows),
		us(0x00280011, s.cols),
		us(0x00280100, s.bitsAlloc),
		us(0x00280101, s.bitsStored),
		us(0x00280102, s.highBit),
		us(0x00280103, pr),
	}
	if s.frames > 1 {
		elems = append(elems, str(0x00280008, "IS", strconv.Itoa(s.frames)))
	}
	if s.spp == 3 {
		pc := 0
		if s.planar {
			pc = 1
		}
		elems = append(elems, us(0x00280006, pc))
	}
	elems = append(elems, s.extra...)
	pixVR := "OW"
	if s.bitsAlloc <= 8 {
		pixVR = "OB"
	}
	px := s.pixels
	if len(px)%2 == 1 {
		px = append(px[:len(px):len(px)], 0)
	}
	if s.encoded == nil {
		elems = append(elems, synthElem{tagPixelData, pixVR, px})
	}
	sort.SliceStable(elems, func(i, j int) bool { return elems[i].tag < elems[j].tag })
	for _, e := range elems {
		writeElem(&out, e)
	}
	if s.encoded != nil {
		out.Write(s.encapsulated())
	}
	return out.Bytes()
}

// encapsulated encodes Pixel Data of undefined length: the Basic Offset
// Table item, the fragments, the Sequence Delimitation.
func (s synth) encapsulated() []byte {
	item := func(b *bytes.Buffer, data []byte) {
		var h [8]byte
		binary.LittleEndian.PutUint32(h[0:], 0xE000FFFE)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(data)))
		b.Write(h[:])
		b.Write(data)
	}
	var frags bytes.Buffer
	var offsets []byte
	for _, f := range s.encoded {
		offsets = binary.LittleEndian.AppendUint32(offsets, uint32(frags.Len()))
		if len(f)%2 == 1 {
			f = append(f[:len(f):len(f)], 0)
		}
		n := cmp.Or(s.fragSize, len(f))
		for len(f) > 0 {
			k := min(n, len(f))
			item(&frags, f[:k])
			f = f[k:]
		}
	}
	var out bytes.Buffer
	out.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	if !s.bot {
		offsets = nil
	}
	item(&out, offsets)
	out.Write(frags.Bytes())
	out.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	return out.Bytes()
}

// write stores the file in the test's temporary directory.
func (s synth) write(t testing.TB, name string) string {
	t.Helper()
	p := tempFile(t, name)
	if err := os.WriteFile(p, s.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ramp16 makes gray 16-bit pixels covering the stored range with a
// pattern that exercises every predictor: gradients, edges and noise.
func ramp16(rows, cols, frames, bits int, seed uint32) []byte {
	b := make([]byte, 2*rows*cols*frames)
	mask := uint32(1)<<bits - 1
	x := seed | 1
	for f := range frames {
		for r := range rows {
			for c := range cols {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				var v uint32
				switch {
				case r < rows/3:
					v = uint32(c*int(mask)/max(cols-1, 1)) + uint32(f*7)
				case r < 2*rows/3:
					v = x
				default:
					v = uint32((r*31 + c*17) % (int(mask) + 1))
					if (r/4+c/4)%2 == 0 {
						v = mask - v
					}
				}
				i := (f*rows*cols + r*cols + c) * 2
				binary.LittleEndian.PutUint16(b[i:], uint16(v&mask))
			}
		}
	}
	return b
}
