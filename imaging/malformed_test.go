package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cxrview/imaging/imagingtest"
)

// small12 is a 40×50 12-bit file the malformed-input tests start from.
func small12() synth {
	return synth{rows: 40, cols: 50, bitsAlloc: 16, bitsStored: 12, pixels: ramp16(40, 50, 1, 12, 5),
		extra: []synthElem{str(0x00281050, "DS", "2048"), str(0x00281051, "DS", "4096")}}
}

func writeBytes(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := tempFile(t, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceTS rewrites the Transfer Syntax UID of a file written by synth.
func replaceTS(t *testing.T, b []byte, uid string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte{0x02, 0x00, 0x10, 0x00, 'U', 'I'})
	if i < 0 {
		t.Fatal("no transfer syntax element")
	}
	old := int(binary.LittleEndian.Uint16(b[i+6:]))
	v := []byte(uid)
	if len(v)%2 == 1 {
		v = append(v, 0)
	}
	out := append([]byte(nil), b[:i+6]...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
	out = append(out, v...)
	out = append(out, b[i+8+old:]...)
	// Fix the group length.
	gl := bytes.Index(out, []byte{0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0})
	binary.LittleEndian.PutUint32(out[gl+8:], binary.LittleEndian.Uint32(out[gl+8:])+uint32(len(v)-old))
	return out
}

// TestMalformedFiles feeds every defect the issue lists (and some more)
// and requires a clear error naming the file and the problem, never a
// panic.
func TestMalformedFiles(t *testing.T) {
	good := small12().bytes()
	pix := bytes.Index(good, []byte{0xE0, 0x7F, 0x10, 0x00})
	rows := bytes.Index(good, []byte{0x28, 0x00, 0x10, 0x00, 'U', 'S'})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", []byte{}, "empty file"},
		{"text", []byte("this is not an image at all, just some text\n"), "not a DICOM, PNG or JPEG file"},
		{"unknown transfer syntax", replaceTS(t, good, "1.2.3.4.5.6"), "unsupported transfer syntax 1.2.3.4.5.6 (unknown or private)"},
		{"GE private transfer syntax", replaceTS(t, good, "1.2.840.113619.5.2"), "1.2.840.113619.5.2 (unknown or private)"},
		{"MPEG2", replaceTS(t, good, "1.2.840.10008.1.2.4.100"), "1.2.840.10008.1.2.4.100 (MPEG2 Main Profile / Main Level)"},
		{"truncated pixel data", good[:len(good)-100], "pixel data truncated"},
		{"truncated header", good[:rows+3], "file ends early"},
		{"pixel data too short", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[pix+8:], 100)
			return b[:pix+12+100]
		}(), "pixel data too short"},
		{"huge element length", func() []byte {
			b := append([]byte(nil), good...)
			i := bytes.Index(b, []byte{0x10, 0x00, 0x10, 0x00, 'P', 'N'})
			binary.LittleEndian.PutUint16(b[i+6:], 0xFFF0)
			return b
		}(), "runs past"},
		{"huge pixel length, short file", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint32(b[pix+8:], 0xFFFFFFF0)
			return b[:len(b)-10]
		}(), "pixel data truncated"},
		{"no pixel data", good[:pix], "no Pixel Data"},
		{"rows zero", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint16(b[rows+8:], 0)
			return b
		}(), "no Rows"},
		{"rows huge", func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint16(b[rows+8:], 0xFFFF)
			return b
		}(), "pixel data too short"},
		{"invalid VR", func() []byte {
			b := append([]byte(nil), good...)
			copy(b[rows+4:], "ZZ")
			return b
		}(), `invalid VR "ZZ"`},
		{"stray item", func() []byte {
			b := append([]byte(nil), good...)
			copy(b[rows:], []byte{0xFE, 0xFF, 0x00, 0xE0})
			return b
		}(), "stray"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeBytes(t, "bad.dcm", c.data)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Open(p)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("no error")
			}
			var ie *InternalError
			if errors.As(err, &ie) {
				t.Fatalf("internal error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("error does not start with the file name: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d MiB for a %d-byte file", n>>20, len(c.data))
			}
		})
	}
}

// TestDatasetWithoutPreamble reads the film without its preamble, without
// "DICM", and without any file meta information (dcmconv -F).
func TestDatasetWithoutPreamble(t *testing.T) {
	film := imagingtest.CRFilm(t)
	ref, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(film)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.dcm")
	dcmtk(t, "dcmconv", "-F", film, bare)
	bareExplicit := filepath.Join(dir, "bare-explicit.dcm")
	dcmtk(t, "dcmconv", "-F", "+te", film, bareExplicit)
	bareBig := filepath.Join(dir, "bare-big.dcm")
	dcmtk(t, "dcmconv", "-F", "+tb", film, bareBig)
	for _, c := range []struct{ name, path string }{
		{"no preamble", writeBytes(t, "nopre.dcm", data[128:])},
		{"no preamble, no DICM", writeBytes(t, "nodicm.dcm", data[132:])},
		{"bare implicit dataset", bare},
		{"bare explicit dataset", bareExplicit},
		{"bare big-endian dataset", bareBig},
	} {
		im, err := Open(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if i := firstDiff(im.Gray, ref.Gray); i >= 0 {
			t.Errorf("%s: pixel %d differs", c.name, i)
		}
		if im.Meta.PatientID != ref.Meta.PatientID || im.Meta.SOPInstanceUID != ref.Meta.SOPInstanceUID {
			t.Errorf("%s: meta %+v", c.name, im.Meta)
		}
	}
}

// TestGDCMPrivateTransferSyntax: gdcmimg turns a 16-bit PGM into a file
// with GE's private transfer syntax, on which suyashkumar/dicom panics.
func TestGDCMPrivateTransferSyntax(t *testing.T) {
	var pgm bytes.Buffer
	pgm.WriteString("P5\n4 3\n65535\n")
	pgm.Write(make([]byte, 2*4*3))
	in := writeBytes(t, "x16.pgm", pgm.Bytes())
	out := tempFile(t, "ge.dcm")
	tool(t, "libgdcm-tools", "gdcmimg", "-i", in, "-o", out)
	_, err := Open(out)
	if err == nil || !strings.Contains(err.Error(), "1.2.840.113619.5.2 (unknown or private)") {
		t.Fatalf("error %v, want one naming the private transfer syntax", err)
	}
}

// TestMutatedFilesNeverPanic opens thousands of corrupted copies of real
// files (truncations, random bytes, length fields set to 0xFFFFxxxx) and
// requires an image or an error for each, quickly, with no internal error.
func TestMutatedFilesNeverPanic(t *testing.T) {
	seeds := [][]byte{small12().bytes()}
	for _, name := range []string{"MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
		"JPEG-lossy.dcm", "SC_rgb_jpeg_gdcm.dcm", "image_dfl.dcm", "CT_small.dcm", "MR_small_bigendian.dcm", "reportsi.dcm"} {
		b, err := os.ReadFile(filepath.Join(pydicomData, "test_files", name))
		if err != nil {
			t.Fatalf("%v (install the Debian package python3-pydicom)", err)
		}
		seeds = append(seeds, b)
	}
	n := 300
	if testing.Short() {
		n = 30
	}
	x := uint32(12345)
	rnd := func(m int) int {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return int(x % uint32(max(m, 1)))
	}
	start := time.Now()
	tried, images := 0, 0
	for _, seed := range seeds {
		for range n {
			b := append([]byte(nil), seed...)
			switch rnd(3) {
			case 0:
				b = b[:rnd(len(b))]
			case 1:
				for range 1 + rnd(8) {
					b[rnd(len(b))] = byte(rnd(256))
				}
			case 2:
				i := rnd(len(b) - 4)
				copy(b[i:], []byte{0xFF, 0xFF, 0xFF, byte(rnd(256))})
			}
			t0 := time.Now()
			var logbuf bytes.Buffer
			log.SetOutput(&logbuf)
			im, err := Decode(bytes.NewReader(b), int64(len(b)), "mutant")
			log.SetOutput(os.Stderr)
			if logbuf.Len() > 0 {
				// The CLI must print one line for bad input: the parser
				// underneath must not log.
				t.Fatalf("the DICOM parser logged %q (error %v)", logbuf.String(), err)
			}
			var ie *InternalError
			if errors.As(err, &ie) {
				t.Fatalf("internal error on a mutant: %v", err)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("mutant took %v", d)
			}
			if err == nil {
				images++
				_ = im.Render(View{Window: im.DefaultWindow()})
			}
			tried++
		}
	}
	t.Logf("%d mutants in %v: %d still decode, the rest give errors", tried, time.Since(start).Round(time.Millisecond), images)
}

// TestPixelLengthPastTheEnd: a Pixel Data length larger than the file,
// with every pixel present, decodes with a warning.
func TestPixelLengthPastTheEnd(t *testing.T) {
	b := small12().bytes()
	pix := bytes.Index(b, []byte{0xE0, 0x7F, 0x10, 0x00})
	binary.LittleEndian.PutUint32(b[pix+8:], 0xFFFFFFF0)
	im, err := Open(writeBytes(t, "long.dcm", b))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(im, "past the end of the file") {
		t.Errorf("no warning: %q", im.Meta.Warnings)
	}
}

// pngHeader is a PNG whose IHDR claims w×h pixels of the given bit depth
// and colour type, followed by pad bytes of (invalid) image data.
func pngHeader(w, h uint32, depth, colorType byte, pad int) []byte {
	chunk := func(b *bytes.Buffer, typ string, data []byte) {
		binary.Write(b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colorType, 0, 0, 0)
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "IDAT", make([]byte, pad))
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// TestForgedRasterHeaders: PNG headers claiming more than a radiograph's
// samples, or far more pixels than the file could hold at their bit
// depth, are refused before the decoder allocates.
func TestForgedRasterHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		// 800 MB for image/png's RGBA64 buffer.
		{"16-bit RGBA 10240×10240", pngHeader(10240, 10240, 16, 6, 16000), "too large"},
		{"8-bit gray 9000×9000", pngHeader(9000, 9000, 8, 0, 4000), "too large"},
		// 50 MB of 16-bit gray from a 4 KB file: deflate cannot expand it.
		{"16-bit gray 5000×5000, 4 KB", pngHeader(5000, 5000, 16, 0, 4000), "the file has only"},
		{"8-bit RGB 4000×4000, 4 KB", pngHeader(4000, 4000, 8, 2, 4000), "the file has only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(bytes.NewReader(c.data), int64(len(c.data)), "forged.png")
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d MiB for a %d-byte file", n>>20, len(c.data))
			}
		})
	}
	// A real 1-bit PNG compresses far more than 16-bit data can: it is
	// still accepted.
	g := image.NewGray(image.Rect(0, 0, 3000, 3000))
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(b.Bytes()), int64(b.Len()), "black.png"); err != nil {
		t.Errorf("an all-black 3000×3000 PNG of %d bytes: %v", b.Len(), err)
	}
}
