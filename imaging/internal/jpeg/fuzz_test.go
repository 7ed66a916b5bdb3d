package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"os"
	"testing"

	"cxrview/imaging/internal/fuzzstat"
)

// FuzzDecode feeds lossless and DCT streams (8- and 12-bit) to the
// decoder: no panic, and any image it returns is consistent.
var statDecode = fuzzstat.New("jpeg.FuzzDecode")

func FuzzDecode(f *testing.F) {
	for _, c := range []struct{ bits, psv, comps, restart int }{{8, 1, 1, 0}, {12, 6, 1, 5}, {16, 7, 3, 0}, {2, 4, 1, 0}} {
		s, err := EncodeLossless(pattern(13, 9, c.comps, c.bits, 3), 13, 9, c.comps, c.bits, c.psv, 0, c.restart)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	var b bytes.Buffer
	g := image.NewGray(image.Rect(0, 0, 17, 9))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 13)
	}
	stdjpeg.Encode(&b, g, nil)
	f.Add(b.Bytes())
	rgb := image.NewRGBA(image.Rect(0, 0, 19, 11))
	for i := range rgb.Pix {
		rgb.Pix[i] = uint8(i * 29)
	}
	b.Reset()
	stdjpeg.Encode(&b, rgb, nil) // 4:2:0 YCbCr
	f.Add(b.Bytes())
	// A 12-bit extended stream from pydicom's test data.
	if d, err := os.ReadFile("/usr/lib/python3/dist-packages/pydicom/data/test_files/JPEG-lossy.dcm"); err == nil {
		if i := bytes.Index(d, []byte{0xFF, 0xD8, 0xFF}); i >= 0 {
			f.Add(d[i:])
		}
	} else {
		f.Fatalf("%v (install the Debian package python3-pydicom)", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		statDecode.Inc()
		im, err := DecodeOptions(data, Options{Fancy: len(data)%2 == 0})
		if err != nil {
			return
		}
		if im.Components == 3 {
			im.YCbCr()
		}
		if len(im.Data) != im.Width*im.Height*im.Components {
			t.Fatalf("%d samples for %d×%d×%d", len(im.Data), im.Width, im.Height, im.Components)
		}
		if !im.Lossless {
			for i, v := range im.Data {
				if int(v) >= 1<<im.Precision {
					t.Fatalf("sample %d = %d exceeds %d bits", i, v, im.Precision)
				}
			}
		}
	})
}
