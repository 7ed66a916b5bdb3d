package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cocosip/go-dicom-codec/jpeg2000"
	"github.com/cocosip/go-dicom-codec/jpegls/lossless"
	"github.com/cocosip/go-dicom-codec/jpegls/nearlossless"

	"cxrview/imaging/internal/jpeg"
	"cxrview/imaging/internal/rle"
)

// decodeCompressed decodes one encapsulated frame into im. Every decoder's
// output is checked against Rows, Columns and Samples per Pixel, and the
// frame header is checked before the decoder allocates.
func (f *dicomFile) decodeCompressed(im *Image, pm pixelModule, data []byte) error {
	switch f.ts.codec {
	case codecRLE:
		bps := max(pm.bitsAlloc/8, 1)
		if pm.bitsAlloc == 1 {
			return errors.New("RLE with 1-bit pixels is not supported")
		}
		buf, err := rle.Decode(data, pm.cols, pm.rows, pm.spp, bps)
		if err != nil {
			return err
		}
		pm.planar = true
		return f.fromNative(im, pm, buf, binary.LittleEndian, 0)
	case codecEncapsulatedNative:
		if int64(len(data)) < pm.frameBytes() {
			return fmt.Errorf("fragment of %d bytes where the frame needs %d", len(data), pm.frameBytes())
		}
		return f.fromNative(im, pm, data, binary.LittleEndian, 0)
	case codecJPEGDCT, codecJPEGLossless:
		return f.decodeJPEG(im, pm, data)
	case codecJPEGLS:
		return f.decodeJPEGLS(im, pm, data)
	case codecJPEG2000:
		return f.decodeJ2K(im, pm, data)
	}
	return fmt.Errorf("transfer syntax %s is not supported", f.ts)
}

// maxRatio bounds the compression ratio cxrview believes for JPEG-LS and
// JPEG 2000, whose decoders allocate the whole frame (8 bytes a sample
// and more) before reading the data: a few bytes claiming a large frame
// are refused. Lossless radiographs compress 2–4 times; the most
// compressed frame seen, gdcm's lossy JPEG 2000 of the 3.8-megapixel CR
// film in 734 bytes, is 5000:1.
const maxRatio = 1 << 13

func plausible(n, samples int) error {
	if n*maxRatio < samples {
		return fmt.Errorf("a compressed frame of %d bytes is implausibly small for %d samples", n, samples)
	}
	return nil
}

func checkSize(what string, w, h, c int, pm pixelModule) error {
	if w != pm.cols || h != pm.rows {
		return fmt.Errorf("%s is %d×%d, the header says %d×%d", what, w, h, pm.cols, pm.rows)
	}
	if c != pm.spp {
		return fmt.Errorf("%s has %d components, Samples per Pixel is %d", what, c, pm.spp)
	}
	return nil
}

func (f *dicomFile) decodeJPEG(im *Image, pm pixelModule, data []byte) error {
	cfg, err := jpeg.DecodeConfig(data)
	if err != nil {
		return err
	}
	if err := checkSize("JPEG frame", cfg.Width, cfg.Height, cfg.Components, pm); err != nil {
		return err
	}
	// Subsampled colour is interpolated as the IJG library does, so
	// colour output matches dcmtk's.
	j, err := jpeg.DecodeOptions(data, jpeg.Options{Fancy: true})
	if err != nil {
		return err
	}
	if pm.spp == 1 {
		im.BitsStored, im.Signed = min(pm.bitsStored, 16), pm.signed
		if j.Precision < pm.bitsStored && !pm.signed {
			// Lossy 8- or 12-bit streams of deeper images (dcmtk's +eb and
			// +ee lower Bits Stored; others do not): the stream's
			// precision is what the samples hold.
			im.BitsStored = j.Precision
		}
		mask := uint16(1)<<im.BitsStored - 1
		if im.BitsStored == 16 {
			mask = 0xFFFF
		}
		im.Gray = j.Data
		for i, v := range im.Gray {
			im.Gray[i] = v & mask
		}
		return nil
	}
	// Colour: the DICOM photometric decides, as in dcmtk: YBR_* streams
	// are converted with the IJG library's integer arithmetic, RGB ones
	// are taken as stored whatever markers the stream carries.
	im.BitsStored = 8
	n := pm.rows * pm.cols
	im.RGB = make([]uint8, 3*n)
	down := max(j.Precision-8, 0)
	ybr := strings.HasPrefix(pm.photometric, "YBR")
	for i := range n {
		a, b, c := j.Data[3*i], j.Data[3*i+1], j.Data[3*i+2]
		switch {
		case ybr && j.Precision == 8:
			im.RGB[3*i], im.RGB[3*i+1], im.RGB[3*i+2] = jpeg.YCbCrToRGB(a, b, c)
		case ybr:
			ybrToRGB(im.RGB[3*i:3*i+3], uint8(a>>down), uint8(b>>down), uint8(c>>down))
		default:
			im.RGB[3*i], im.RGB[3*i+1], im.RGB[3*i+2] = uint8(a>>down), uint8(b>>down), uint8(c>>down)
		}
	}
	return nil
}

// jpeglsHeader reads the SOF55 frame header of a JPEG-LS stream.
func jpeglsHeader(data []byte) (w, h, c, p int, err error) {
	for i := 2; i+9 < len(data); {
		if data[i] != 0xFF {
			i++
			continue
		}
		m := data[i+1]
		if m == 0xFF || m == 0 || (m >= 0xD0 && m <= 0xD8) {
			i++
			continue
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if m == 0xF7 {
			if n < 8 {
				break
			}
			s := data[i+4:]
			return int(s[3])<<8 | int(s[4]), int(s[1])<<8 | int(s[2]), int(s[5]), int(s[0]), nil
		}
		if m == 0xDA {
			break
		}
		i += 2 + n
	}
	return 0, 0, 0, 0, errors.New("no JPEG-LS frame header (SOF55)")
}

func (f *dicomFile) decodeJPEGLS(im *Image, pm pixelModule, data []byte) (err error) {
	w, h, c, p, err := jpeglsHeader(data)
	if err != nil {
		return err
	}
	if err := checkSize("JPEG-LS frame", w, h, c, pm); err != nil {
		return err
	}
	if err := plausible(len(data), w*h*c); err != nil {
		return err
	}
	if p < 2 || p > 16 {
		return fmt.Errorf("JPEG-LS precision %d", p)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("JPEG-LS decoder failed: %v", r)
		}
	}()
	var buf []byte
	if f.ts.lossy {
		buf, _, _, _, _, _, err = nearlossless.Decode(data)
	} else {
		buf, _, _, _, _, err = lossless.Decode(data)
	}
	if err != nil {
		return err
	}
	bps := 1
	if p > 8 {
		bps = 2
	}
	want := w * h * c * bps
	if len(buf) < want {
		return fmt.Errorf("JPEG-LS decoder returned %d bytes, want %d", len(buf), want)
	}
	npm := pm
	npm.bitsAlloc = 8 * bps
	npm.planar = false
	npm.highBit = npm.bitsStored - 1
	if npm.bitsStored > npm.bitsAlloc {
		npm.bitsStored, npm.highBit = npm.bitsAlloc, npm.bitsAlloc-1
	}
	return f.fromNative(im, npm, buf, binary.LittleEndian, 0)
}

// j2kHeader reads the SIZ segment of a JPEG 2000 codestream (or of the
// codestream box of a JP2 file) and returns the codestream.
func j2kHeader(data []byte) (cs []byte, w, h, c int, err error) {
	i := bytes.Index(data[:min(len(data), 1<<16)], []byte{0xFF, 0x4F, 0xFF, 0x51})
	if i < 0 {
		return nil, 0, 0, 0, errors.New("no JPEG 2000 codestream (SOC, SIZ)")
	}
	cs = data[i:]
	s := cs[4:]
	if len(s) < 38 {
		return nil, 0, 0, 0, errors.New("short JPEG 2000 SIZ segment")
	}
	be := binary.BigEndian
	xs, ys, xo, yo := be.Uint32(s[4:]), be.Uint32(s[8:]), be.Uint32(s[12:]), be.Uint32(s[16:])
	if xo >= xs || yo >= ys {
		return nil, 0, 0, 0, errors.New("bad JPEG 2000 image offsets")
	}
	return cs, int(xs - xo), int(ys - yo), int(be.Uint16(s[36:])), nil
}

func (f *dicomFile) decodeJ2K(im *Image, pm pixelModule, data []byte) (err error) {
	cs, w, h, c, err := j2kHeader(data)
	if err != nil {
		return err
	}
	if err := checkSize("JPEG 2000 frame", w, h, c, pm); err != nil {
		return err
	}
	if err := plausible(len(data), w*h*c); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("JPEG 2000 decoder failed: %v", r)
		}
	}()
	d := jpeg2000.NewDecoder()
	if err := d.Decode(cs); err != nil {
		return err
	}
	if err := checkSize("decoded JPEG 2000 frame", d.Width(), d.Height(), d.Components(), pm); err != nil {
		return err
	}
	planes := d.GetImageData()
	n := w * h
	for k, p := range planes {
		if len(p) < n {
			return fmt.Errorf("JPEG 2000 component %d has %d samples, want %d", k, len(p), n)
		}
	}
	if pm.spp == 1 {
		im.BitsStored, im.Signed = min(pm.bitsStored, 16), pm.signed
		// Lossy streams overshoot: clamp to the range the header
		// declares, read with the codestream's own signedness (some
		// encoders store signed pixels as unsigned patterns, which
		// Pixel Representation then reads as two's complement).
		bits := min(im.BitsStored, max(d.BitDepth(), 1))
		lo, hi := int32(0), int32(1)<<bits-1
		if d.IsSigned() {
			lo, hi = -(int32(1) << (bits - 1)), int32(1)<<(bits-1)-1
		}
		mask := int32(1)<<im.BitsStored - 1
		im.Gray = make([]uint16, n)
		for i, v := range planes[0][:n] {
			im.Gray[i] = uint16(max(lo, min(hi, v)) & mask)
		}
		return nil
	}
	im.BitsStored = 8
	im.RGB = make([]uint8, 3*n)
	down := max(d.BitDepth()-8, 0)
	top := int32(1)<<d.BitDepth() - 1
	ybr := pm.photometric == "YBR_FULL"
	for i := range n {
		var px [3]uint8
		for k := range 3 {
			px[k] = uint8(max(0, min(top, planes[k][i])) >> down)
		}
		if ybr {
			ybrToRGB(im.RGB[3*i:3*i+3], px[0], px[1], px[2])
		} else {
			copy(im.RGB[3*i:3*i+3], px[:])
		}
	}
	return nil
}
