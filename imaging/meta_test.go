package imaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

func TestCRFilmMeta(t *testing.T) {
	film := imagingtest.CRFilm(t)
	im, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(film)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := im.Meta
	checks := []struct{ name, got, want string }{
		{"format", string(im.Format), "DICOM"},
		{"patient", m.PatientName, "COVID-19-AR-16406488"},
		{"id", m.PatientID, "COVID-19-AR-16406488"},
		{"sex", m.PatientSex, "M"},
		{"age", m.PatientAge, "067Y"},
		{"study date", m.StudyDate, "20120115"},
		{"study time", m.StudyTime, "213247"},
		{"description", m.StudyDescription, "XR CHEST AP ONLY"},
		{"modality", m.Modality, "CR"},
		{"body part", m.BodyPart, "CHEST"},
		{"manufacturer", m.Manufacturer, "FUJIFILM Corporation"},
		{"photometric", m.Photometric, "MONOCHROME1"},
		{"transfer syntax", m.TransferSyntax, "1.2.840.10008.1.2 (Implicit VR Little Endian)"},
		{"SOP class", m.SOPClassUID, "1.2.840.10008.5.1.4.1.1.1"},
		{"key", m.Key(), "1.3.6.1.4.1.14519.5.2.1.9999.103.3006616233530892121079169089013"},
		{"study UID", m.StudyInstanceUID, "1.3.6.1.4.1.14519.5.2.1.9999.103.2445110399502685110179049624124"},
		{"hash", m.ContentHash, hex.EncodeToString(sum[:])},
		{"spacing source", m.SpacingSource, "PixelSpacing"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if m.PixelSpacing != [2]float64{0.2, 0.2} {
		t.Errorf("spacing %v", m.PixelSpacing)
	}
	if im.Width != 1760 || im.Height != 2140 || im.BitsStored != 10 || im.Signed || !im.Inverse || im.Frames != 1 {
		t.Errorf("pixel module: %dx%d %d bits signed %v inverse %v frames %d", im.Width, im.Height, im.BitsStored, im.Signed, im.Inverse, im.Frames)
	}
	if ws := im.Windows(); len(ws) != 1 || ws[0].Center != 511 || ws[0].Width != 1023 || ws[0].Function != Linear {
		t.Errorf("windows %+v", ws)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("a frontal CR chest film got warnings: %q", m.Warnings)
	}
}

func TestClinicalWarnings(t *testing.T) {
	for _, c := range []struct {
		modality, body, view string
		want                 []string
	}{
		{"CR", "CHEST", "PA", nil},
		{"DX", "", "AP", nil},
		{"MR", "CHEST", "", []string{"modality MR: not a chest radiograph"}},
		{"DX", "HAND", "", []string{"body part HAND: not a chest film"}},
		{"DX", "CHEST", "LL", []string{"lateral view: CXR-LLaVA was trained on frontal films"}},
		{"CR", "CHEST", "LATERAL", []string{"lateral view: CXR-LLaVA was trained on frontal films"}},
		{"CR", "CHEST", "RAO", []string{"oblique view: CXR-LLaVA was trained on frontal films"}},
	} {
		s := small12()
		s.modality = c.modality
		s.extra = append(s.extra, str(0x00180015, "CS", c.body), str(0x00185101, "CS", c.view))
		im, err := Open(s.write(t, "w.dcm"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(im.Meta.Warnings, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s %s %s: warnings %q, want %q", c.modality, c.body, c.view, im.Meta.Warnings, c.want)
		}
	}
}

func TestPNGAndJPEG(t *testing.T) {
	enc := func(img image.Image, f Format) []byte {
		var b bytes.Buffer
		if f == FormatPNG {
			png.Encode(&b, img)
		} else {
			jpeg.Encode(&b, img, &jpeg.Options{Quality: 100})
		}
		return b.Bytes()
	}
	g8 := image.NewGray(image.Rect(0, 0, 31, 17))
	g16 := image.NewGray16(image.Rect(0, 0, 31, 17))
	rgb := image.NewNRGBA(image.Rect(0, 0, 31, 17))
	for i := range g8.Pix {
		g8.Pix[i] = uint8(i * 3)
	}
	for y := range 17 {
		for x := range 31 {
			g16.SetGray16(x, y, color.Gray16{Y: uint16(x*2000 + y)})
			rgb.SetNRGBA(x, y, color.NRGBA{uint8(x * 8), uint8(y * 15), 77, 255})
		}
	}
	t.Run("8-bit gray PNG", func(t *testing.T) {
		data := enc(g8, FormatPNG)
		im, err := Decode(bytes.NewReader(data), int64(len(data)), "g8.png")
		if err != nil {
			t.Fatal(err)
		}
		if im.Format != FormatPNG || im.Samples != 1 || im.BitsStored != 8 {
			t.Fatalf("%+v", im)
		}
		// The default window renders the gray levels unchanged.
		if got := im.Render(View{Window: im.DefaultWindow()}); !bytes.Equal(got.Pix, g8.Pix) {
			t.Errorf("default rendering changes the gray levels")
		}
		sum := sha256.Sum256(data)
		if im.Meta.Key() != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("key %s", im.Meta.Key())
		}
	})
	t.Run("16-bit gray PNG", func(t *testing.T) {
		data := enc(g16, FormatPNG)
		im, err := Decode(bytes.NewReader(data), int64(len(data)), "g16.png")
		if err != nil {
			t.Fatal(err)
		}
		if im.BitsStored != 16 || im.Gray[5] != 10000 || im.Gray[31] != 1 {
			t.Fatalf("bits %d, values %d %d", im.BitsStored, im.Gray[5], im.Gray[31])
		}
		got := im.Render(View{Window: im.DefaultWindow()})
		if got.Pix[5] != uint8(10000*255/65535) {
			t.Errorf("full-range rendering of 10000: %d", got.Pix[5])
		}
	})
	t.Run("RGB PNG", func(t *testing.T) {
		data := enc(rgb, FormatPNG)
		im, err := Decode(bytes.NewReader(data), int64(len(data)), "rgb.png")
		if err != nil {
			t.Fatal(err)
		}
		if im.Samples != 3 || im.RGB[3*40] != 9*8 || im.RGB[3*40+1] != 15 {
			t.Fatalf("samples %d, first %v", im.Samples, im.RGB[3*40:3*40+3])
		}
	})
	t.Run("gray JPEG", func(t *testing.T) {
		data := enc(g8, FormatJPEG)
		im, err := Decode(bytes.NewReader(data), int64(len(data)), "g.jpg")
		if err != nil {
			t.Fatal(err)
		}
		if im.Format != FormatJPEG || im.Samples != 1 {
			t.Fatalf("%+v", im)
		}
		for i, v := range im.Gray {
			if d := int(v) - int(g8.Pix[i]); d > 3 || d < -3 {
				t.Fatalf("pixel %d: %d, want about %d", i, v, g8.Pix[i])
			}
		}
	})
	t.Run("broken", func(t *testing.T) {
		data := enc(rgb, FormatPNG)
		for _, n := range []int{10, 40, len(data) / 2} {
			_, err := Decode(bytes.NewReader(data[:n]), int64(n), "cut.png")
			if err == nil || !strings.HasPrefix(err.Error(), "cut.png: ") {
				t.Errorf("truncated at %d: %v", n, err)
			}
		}
		huge := enc(image.NewGray(image.Rect(0, 0, 1, 1)), FormatPNG)
		// IHDR width and height at bytes 16..24.
		copy(huge[16:], []byte{0, 0x7F, 0xFF, 0xFF, 0, 0x7F, 0xFF, 0xFF})
		if _, err := Decode(bytes.NewReader(huge), int64(len(huge)), "huge.png"); err == nil {
			t.Errorf("a 8-gigapixel PNG header was accepted")
		}
	})
}

// TestJPEGFilesMatchDcmtk decodes JPEG files (a gray JPEG of the CR film
// written by dcmj2pnm, and a 4:2:0 colour JPEG from Go's encoder) and
// compares them with dcmtk's decoder, reached by wrapping the same JPEG
// stream in DICOM with img2dcm: the IJG-exact decoder gives what libjpeg
// (and so Pillow) gives.
func TestJPEGFilesMatchDcmtk(t *testing.T) {
	dir := t.TempDir()
	gray := filepath.Join(dir, "film.jpg")
	dcmtk(t, "dcmj2pnm", "+oj", "+Jq", "85", "+Wi", "1", imagingtest.CRFilm(t), gray)
	colour := filepath.Join(dir, "colour.jpg")
	rgb := image.NewRGBA(image.Rect(0, 0, 203, 97))
	for y := range 97 {
		for x := range 203 {
			rgb.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), uint8((x * y) % 256), 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, rgb, &jpeg.Options{Quality: 80})
	os.WriteFile(colour, b.Bytes(), 0o644)
	for _, p := range []string{gray, colour} {
		im, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, filepath.Base(p)+".dcm")
		dcmtk(t, "img2dcm", p, d)
		out := filepath.Join(dir, filepath.Base(p)+".pnm")
		dcmtk(t, "dcmj2pnm", d, out)
		want := readPNM(t, out)
		got := im.RenderRGBA(View{Window: im.DefaultWindow()})
		maxd := 0
		for y := range im.Height {
			for x := range im.Width {
				r, g, bl, _ := want.At(x, y).RGBA()
				o := got.PixOffset(x, y)
				for k, w := range []uint32{r >> 8, g >> 8, bl >> 8} {
					maxd = max(maxd, int(got.Pix[o+k])-int(w), int(w)-int(got.Pix[o+k]))
				}
			}
		}
		t.Logf("%s: %d×%d, samples %d, differs from dcmtk by at most %d", filepath.Base(p), im.Width, im.Height, im.Samples, maxd)
		if maxd > 0 {
			t.Errorf("%s differs from dcmtk by %d", filepath.Base(p), maxd)
		}
	}
}
