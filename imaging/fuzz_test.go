package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"testing"

	"cxrview/imaging/internal/fuzzstat"
	ljpeg "cxrview/imaging/internal/jpeg"
)

// fuzzSeeds are small real files (pydicom's test data, which the test
// suite requires anyway) and files the tests make, covering every
// transfer syntax and the PNG and JPEG readers. The CR film is too large
// to mutate usefully; its compressed variants are covered by the
// round-trip tests.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{
		"MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
		"MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_padded.dcm", "JPEG-lossy.dcm",
		"SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm", "SC_rgb_small_odd.dcm", "SC_ybr_full_422_uncompressed.dcm",
		"SC_rgb_dcmtk_+eb+cy+np.dcm", "image_dfl.dcm", "CT_small.dcm", "liver_1frame.dcm", "rtdose_1frame.dcm",
		"ExplVR_BigEndNoMeta.dcm", "no_meta_group_length.dcm", "UN_sequence.dcm", "reportsi.dcm",
		"dicomdirtests/77654033/CR1/6154",
	} {
		b, err := os.ReadFile(filepath.Join(pydicomData, "test_files", name))
		if err != nil {
			tb.Fatalf("%v (install the Debian package python3-pydicom)", err)
		}
		seeds = append(seeds, b)
	}
	s := small12()
	seeds = append(seeds, s.bytes())
	g := make([]uint16, 24*16)
	for i := range g {
		g[i] = uint16(i * 11 % 4096)
	}
	for _, psv := range []int{1, 6} {
		stream, _ := ljpeg.EncodeLossless(g, 24, 16, 1, 12, psv, 0, 24)
		seeds = append(seeds, synth{rows: 16, cols: 24, frames: 2, bitsAlloc: 16, bitsStored: 12,
			ts: "1.2.840.10008.1.2.4.57", encoded: [][]byte{stream, stream}, fragSize: 64, bot: true}.bytes())
	}
	img := image.NewGray(image.Rect(0, 0, 20, 12))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var pb, jb bytes.Buffer
	png.Encode(&pb, img)
	rgb := image.NewRGBA(image.Rect(0, 0, 20, 12))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i)
	}
	jpeg.Encode(&jb, rgb, nil)
	seeds = append(seeds, pb.Bytes(), jb.Bytes())
	// PALETTE COLOR with three samples once decoded to an empty image
	// that crashed the renderers' worker goroutines.
	seeds = append(seeds, paletteRGB().bytes())
	return seeds
}

// checkImage verifies the invariants every decoded image keeps.
func checkImage(t *testing.T, im *Image) {
	n := im.Width * im.Height
	switch im.Samples {
	case 1:
		if len(im.Gray) != n || im.BitsStored < 1 || im.BitsStored > 16 {
			t.Fatalf("gray image %d×%d with %d values, %d bits", im.Width, im.Height, len(im.Gray), im.BitsStored)
		}
		for i, v := range im.Gray {
			if int(v) >= 1<<im.BitsStored {
				t.Fatalf("value %d at %d exceeds %d bits", v, i, im.BitsStored)
			}
		}
	case 3:
		if len(im.RGB) != 3*n {
			t.Fatalf("colour image %d×%d with %d samples", im.Width, im.Height, len(im.RGB))
		}
	default:
		t.Fatalf("%d samples", im.Samples)
	}
	if n <= 1<<20 {
		for _, w := range im.Presets() {
			im.Render(View{Window: w})
		}
		im.RenderRGBA(View{Invert: true})
		im.Value(im.Width/2, im.Height/2)
	}
}

// FuzzDecode drives the whole reader: content detection, the DICOM
// scanner and parser, every pixel decoder, PNG and JPEG. It must never
// panic (InternalError), never let the DICOM parser log, and every image
// it returns must be consistent.
var statDecode = fuzzstat.New("imaging.FuzzDecode")

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		statDecode.Inc()
		var logged bytes.Buffer
		log.SetOutput(&logged)
		defer log.SetOutput(os.Stderr)
		im, err := Decode(bytes.NewReader(data), int64(len(data)), "fuzz")
		var ie *InternalError
		if errors.As(err, &ie) {
			t.Fatalf("internal error: %v", err)
		}
		if logged.Len() > 0 {
			t.Fatalf("the DICOM parser logged %q (error %v)", logged.String(), err)
		}
		if err == nil {
			checkImage(t, im)
		}
	})
}

// fuzzCodec runs one codec wrapper on a raw stream with a pixel module
// taken from the stream's own header, so that the fuzzer reaches the
// decoder instead of the size checks.
func fuzzCodec(t *testing.T, ts string, data []byte, header func([]byte) (w, h, c, bits int, err error)) {
	w, h, c, bits, err := header(data)
	if err != nil || w <= 0 || h <= 0 || (c != 1 && c != 3) || bits < 1 || bits > 16 || w*h > 1<<22 {
		return
	}
	tsx, _ := lookupTransferSyntax(ts)
	f := &dicomFile{ts: tsx, bo: binary.LittleEndian}
	ba := 8
	if bits > 8 {
		ba = 16
	}
	pm := pixelModule{rows: h, cols: w, spp: c, bitsAlloc: ba, bitsStored: bits, highBit: bits - 1, frames: 1, photometric: "MONOCHROME2"}
	if c == 3 {
		pm.photometric = "RGB"
	}
	im := &Image{Width: w, Height: h, Samples: c}
	if err := f.decodeCompressed(im, pm, data); err == nil {
		checkImage(t, im)
	}
}

// FuzzJPEGLS feeds JPEG-LS streams to go-dicom-codec through cxrview's
// wrapper (which recovers its panics and checks its output).
var statJPEGLS = fuzzstat.New("imaging.FuzzJPEGLS")

func FuzzJPEGLS(f *testing.F) {
	for _, name := range []string{"MR_small_jpeg_ls_lossless.dcm"} {
		b, err := os.ReadFile(filepath.Join(pydicomData, "test_files", name))
		if err != nil {
			f.Fatal(err)
		}
		if i := bytes.Index(b, []byte{0xFF, 0xD8, 0xFF}); i >= 0 {
			f.Add(b[i:])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		statJPEGLS.Inc()
		fuzzCodec(t, "1.2.840.10008.1.2.4.80", data, func(b []byte) (int, int, int, int, error) {
			return jpeglsHeader(b)
		})
	})
}

// FuzzJPEG2000 feeds JPEG 2000 codestreams to go-dicom-codec through
// cxrview's wrapper.
var statJPEG2000 = fuzzstat.New("imaging.FuzzJPEG2000")

func FuzzJPEG2000(f *testing.F) {
	for _, name := range []string{"MR_small_jp2klossless.dcm", "693_J2KI.dcm"} {
		b, err := os.ReadFile(filepath.Join(pydicomData, "test_files", name))
		if err != nil {
			f.Fatal(err)
		}
		if i := bytes.Index(b, []byte{0xFF, 0x4F, 0xFF, 0x51}); i >= 0 {
			f.Add(b[i:])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		statJPEG2000.Inc()
		fuzzCodec(t, "1.2.840.10008.1.2.4.90", data, func(b []byte) (int, int, int, int, error) {
			_, w, h, c, err := j2kHeader(b)
			if err != nil || len(b) < 44 {
				return 0, 0, 0, 0, errors.New("no header")
			}
			return w, h, c, int(b[4+38]&0x7F) + 1, nil
		})
	})
}
