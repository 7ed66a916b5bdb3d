package imaging

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// pixelModule is the Image Pixel module (PS3.3 C.7.6.3) of a file.
type pixelModule struct {
	rows, cols, spp                int
	bitsAlloc, bitsStored, highBit int
	signed                         bool
	planar                         bool
	frames                         int
	photometric                    string
}

// maxPixels bounds Rows × Columns × Samples (of a DICOM frame, a PNG or a
// JPEG) before anything is allocated: 64 Mi samples is an 8192×8192 gray
// film, well above any radiograph (a 43×43 cm detector at 100 µm is
// 4300×4300), while a forged header cannot make the decoders allocate
// gigabytes.
const maxPixels = 1 << 26

func (f *dicomFile) pixelModule() (pixelModule, error) {
	var pm pixelModule
	var ok bool
	if pm.rows, ok = f.us(f.elems, 0x00280010); !ok || pm.rows == 0 {
		return pm, errors.New("no Rows (0028,0010)")
	}
	if pm.cols, ok = f.us(f.elems, 0x00280011); !ok || pm.cols == 0 {
		return pm, errors.New("no Columns (0028,0011)")
	}
	if pm.spp, ok = f.us(f.elems, 0x00280002); !ok {
		pm.spp = 1
	}
	if pm.bitsAlloc, ok = f.us(f.elems, 0x00280100); !ok {
		return pm, errors.New("no Bits Allocated (0028,0100)")
	}
	if pm.bitsStored, ok = f.us(f.elems, 0x00280101); !ok || pm.bitsStored == 0 {
		pm.bitsStored = pm.bitsAlloc
	}
	if pm.highBit, ok = f.us(f.elems, 0x00280102); !ok {
		pm.highBit = pm.bitsStored - 1
	}
	rep, _ := f.us(f.elems, 0x00280103)
	pm.signed = rep == 1
	pc, _ := f.us(f.elems, 0x00280006)
	pm.planar = pc == 1
	pm.photometric = strings.ToUpper(f.text(0x00280004))
	if pm.photometric == "" {
		pm.photometric = "MONOCHROME2"
		if pm.spp == 3 {
			pm.photometric = "RGB"
		}
	}
	pm.frames = 1
	if s := f.text(0x00280008); s != "" {
		n, err := parseIS(s)
		switch {
		case err != nil:
			f.warnings = append(f.warnings, fmt.Sprintf("Number of Frames %q is not a number: reading one frame", s))
		case n >= 1:
			pm.frames = n
		}
	}
	switch {
	case pm.spp != 1 && pm.spp != 3:
		return pm, fmt.Errorf("Samples per Pixel %d not supported (1 or 3)", pm.spp)
	case pm.bitsAlloc != 1 && pm.bitsAlloc != 8 && pm.bitsAlloc != 16 && pm.bitsAlloc != 32:
		return pm, fmt.Errorf("Bits Allocated %d not supported (1, 8, 16 or 32)", pm.bitsAlloc)
	case pm.bitsStored > pm.bitsAlloc:
		return pm, fmt.Errorf("Bits Stored %d exceeds Bits Allocated %d", pm.bitsStored, pm.bitsAlloc)
	case pm.highBit < pm.bitsStored-1 || pm.highBit >= pm.bitsAlloc:
		return pm, fmt.Errorf("High Bit %d does not fit Bits Stored %d in Bits Allocated %d", pm.highBit, pm.bitsStored, pm.bitsAlloc)
	case pm.rows*pm.cols*pm.spp > maxPixels:
		return pm, fmt.Errorf("image of %d×%d×%d samples is too large", pm.cols, pm.rows, pm.spp)
	case pm.spp == 3 && pm.bitsAlloc < 8:
		return pm, fmt.Errorf("colour with Bits Allocated %d not supported", pm.bitsAlloc)
	}
	if want := samplesFor(pm.photometric); want != 0 && pm.spp != want {
		// The decoders fill Gray or RGB by Samples per Pixel and the
		// display pipeline reads them by the photometric: a file where
		// the two disagree cannot be shown.
		return pm, fmt.Errorf("Photometric Interpretation %s needs Samples per Pixel %d, the file has %d", pm.photometric, want, pm.spp)
	}
	return pm, nil
}

// samplesFor is the Samples per Pixel a photometric interpretation needs
// (PS3.3 C.7.6.3.1.2), 0 for those cxrview does not know.
func samplesFor(photometric string) int {
	switch {
	case photometric == "MONOCHROME1", photometric == "MONOCHROME2", photometric == "PALETTE COLOR":
		return 1
	case photometric == "RGB", strings.HasPrefix(photometric, "YBR_"):
		return 3
	}
	return 0
}

func parseIS(s string) (int, error) {
	return strconv.Atoi(strings.TrimSpace(s))
}

// decodePixels decodes frame into im and sets up its display pipeline.
func (f *dicomFile) decodePixels(im *Image, frame int) error {
	pm, err := f.pixelModule()
	if err != nil {
		return err
	}
	if frame >= pm.frames {
		return fmt.Errorf("frame %d: the file has %d frame(s), numbered from 0", frame, pm.frames)
	}
	im.Width, im.Height, im.Frames, im.Frame = pm.cols, pm.rows, pm.frames, frame
	im.Samples = pm.spp // PALETTE COLOR becomes 3 in applyPalette
	switch f.ts.codec {
	case codecNative, codecDeflate:
		if f.pixel.undefined {
			return fmt.Errorf("pixel data is encapsulated although the transfer syntax %s is not", f.ts)
		}
		buf, err := f.nativeFrame(pm, frame)
		if err != nil {
			return err
		}
		if err := f.fromNative(im, pm, buf, f.bo, frame); err != nil {
			return err
		}
	default:
		if !f.pixel.undefined {
			return fmt.Errorf("pixel data is not encapsulated although the transfer syntax %s requires it", f.ts)
		}
		data, err := f.encapsulatedFrame(pm.frames, frame)
		if err != nil {
			return err
		}
		if err := f.decodeCompressed(im, pm, data); err != nil {
			return fmt.Errorf("decode %s frame %d: %w", f.ts.name, frame, err)
		}
	}
	if pm.photometric == "PALETTE COLOR" {
		if err := f.applyPalette(im, pm); err != nil {
			return err
		}
	}
	f.displayModule(im, pm)
	return nil
}

// frameBytes is the size of one native frame.
func (pm pixelModule) frameBytes() int64 {
	n := int64(pm.rows) * int64(pm.cols) * int64(pm.spp)
	if pm.photometric == "YBR_FULL_422" && pm.spp == 3 {
		n = n * 2 / 3
	}
	if pm.bitsAlloc == 1 {
		return (n + 7) / 8
	}
	return n * int64(pm.bitsAlloc/8)
}

// nativeFrame reads the bytes of one native frame after checking that the
// Pixel Data holds all frames: Rows × Columns × Samples × BitsAllocated/8 ×
// Frames.
func (f *dicomFile) nativeFrame(pm pixelModule, frame int) ([]byte, error) {
	fb := pm.frameBytes()
	need := fb * int64(pm.frames)
	if pm.bitsAlloc == 1 {
		need = (int64(pm.rows)*int64(pm.cols)*int64(pm.spp)*int64(pm.frames) + 7) / 8
	}
	have := min(f.pixel.length, f.srcSize-f.pixel.valOff)
	if have < need {
		what := "Rows × Columns × Samples per Pixel × Bits Allocated/8 × Frames"
		if f.pixel.length > have {
			return nil, fmt.Errorf("pixel data truncated: the file ends %d bytes into Pixel Data, which should hold %d bytes (%s)", have, need, what)
		}
		return nil, fmt.Errorf("pixel data too short: %d bytes where %s = %d", have, what, need)
	}
	if f.pixel.length > have {
		f.warnings = append(f.warnings, fmt.Sprintf("Pixel Data length %d runs past the end of the file; the frames are complete", f.pixel.length))
	}
	start := f.pixel.valOff + fb*int64(frame)
	n := fb
	if pm.bitsAlloc == 1 {
		bit := int64(pm.rows) * int64(pm.cols) * int64(pm.spp) * int64(frame)
		start = f.pixel.valOff + bit/8
		n = (bit%8 + int64(pm.rows)*int64(pm.cols)*int64(pm.spp) + 7) / 8
	}
	lo, hi := start, start+n
	swap := f.big && f.pixel.vr == "OW" && pm.bitsAlloc <= 8
	if swap {
		// OW in big endian stores 16-bit words, so 8- and 1-bit samples
		// come pairwise swapped: read whole words and swap them back.
		lo -= (lo - f.pixel.valOff) % 2
		hi = min(hi+(hi-f.pixel.valOff)%2, f.pixel.valOff+have)
	}
	buf := make([]byte, hi-lo)
	if _, err := f.src.ReadAt(buf, lo); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read pixel data: %w", err)
	}
	if swap {
		for i := 0; i+1 < len(buf); i += 2 {
			buf[i], buf[i+1] = buf[i+1], buf[i]
		}
		buf = buf[start-lo:]
	}
	return buf, nil
}

// fromNative converts one native frame (buf, byte order bo) into im.
func (f *dicomFile) fromNative(im *Image, pm pixelModule, buf []byte, bo binary.ByteOrder, frame int) error {
	n := pm.rows * pm.cols
	shift := pm.highBit + 1 - pm.bitsStored
	if pm.spp == 1 {
		im.BitsStored, im.Signed = pm.bitsStored, pm.signed
		switch pm.bitsAlloc {
		case 1:
			bit0 := 0
			if frame > 0 {
				bit0 = (n * frame) % 8
			}
			im.Gray = make([]uint16, n)
			for i := range n {
				b := bit0 + i
				im.Gray[i] = uint16(buf[b/8]>>(b%8)) & 1
			}
			im.BitsStored, im.Signed = 1, false
		case 8:
			im.Gray = make([]uint16, n)
			mask := uint16(1)<<pm.bitsStored - 1
			for i, v := range buf[:n] {
				im.Gray[i] = uint16(v) >> shift & mask
			}
		case 16:
			im.Gray = make([]uint16, n)
			mask := uint16(1<<pm.bitsStored - 1)
			src := buf[:2*n]
			if bo == binary.LittleEndian {
				for i := range im.Gray {
					im.Gray[i] = (uint16(src[2*i]) | uint16(src[2*i+1])<<8) >> shift & mask
				}
			} else {
				for i := range im.Gray {
					im.Gray[i] = (uint16(src[2*i+1]) | uint16(src[2*i])<<8) >> shift & mask
				}
			}
		case 32:
			vals := make([]uint32, n)
			for i := range vals {
				vals[i] = bo.Uint32(buf[4*i:])
			}
			f.from32(im, pm, vals)
		}
		return nil
	}
	// Colour.
	im.BitsStored = 8
	im.RGB = make([]uint8, 3*n)
	if pm.photometric == "YBR_FULL_422" {
		if pm.bitsAlloc != 8 {
			return fmt.Errorf("YBR_FULL_422 with %d bits not supported", pm.bitsAlloc)
		}
		// Y1 Y2 Cb Cr for each horizontal pair (PS3.3 C.7.6.3.1.2).
		for y := range pm.rows {
			for x := 0; x < pm.cols; x += 2 {
				i := y*pm.cols + x
				q := (y*((pm.cols+1)/2) + x/2) * 4
				if q+3 >= len(buf) {
					break
				}
				cb, cr := buf[q+2], buf[q+3]
				ybrToRGB(im.RGB[3*i:3*i+3], buf[q], cb, cr)
				if x+1 < pm.cols {
					ybrToRGB(im.RGB[3*i+3:3*i+6], buf[q+1], cb, cr)
				}
			}
		}
		return nil
	}
	bps := pm.bitsAlloc / 8
	sample := func(i, c int) uint32 {
		var off int
		if pm.planar {
			off = (c*n + i) * bps
		} else {
			off = (3*i + c) * bps
		}
		switch bps {
		case 1:
			return uint32(buf[off])
		case 2:
			return uint32(bo.Uint16(buf[off:]))
		}
		return bo.Uint32(buf[off:])
	}
	down := max(pm.bitsStored-8, 0)
	mask := uint32(1)<<pm.bitsStored - 1
	if pm.bitsStored == 32 {
		mask = math.MaxUint32
	}
	for i := range n {
		var c [3]uint8
		for k := range 3 {
			c[k] = uint8((sample(i, k) >> shift & mask) >> down)
		}
		if strings.HasPrefix(pm.photometric, "YBR_FULL") {
			ybrToRGB(im.RGB[3*i:3*i+3], c[0], c[1], c[2])
		} else {
			copy(im.RGB[3*i:3*i+3], c[:])
		}
	}
	return nil
}

// from32 stores 32-bit samples in 16 bits: values that fit are kept,
// wider ones are scaled linearly onto 0..65535 with the rescale adjusted
// so that modality values stay (approximately) right.
func (f *dicomFile) from32(im *Image, pm pixelModule, vals []uint32) {
	shift := pm.highBit + 1 - pm.bitsStored
	mask := uint64(1)<<pm.bitsStored - 1
	ext := func(v uint32) int64 {
		x := int64(uint64(v>>shift) & mask)
		if pm.signed && x >= int64(1)<<(pm.bitsStored-1) {
			x -= int64(1) << pm.bitsStored
		}
		return x
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, v := range vals {
		x := ext(v)
		lo, hi = min(lo, x), max(hi, x)
	}
	im.Gray = make([]uint16, len(vals))
	if pm.bitsStored <= 16 {
		for i, v := range vals {
			im.Gray[i] = uint16(uint64(v>>shift) & mask)
		}
		return
	}
	im.BitsStored, im.Signed = 16, false
	scale := 1.0
	if hi > lo {
		scale = float64(hi-lo) / 65535
	}
	for i, v := range vals {
		im.Gray[i] = uint16(math.Round(float64(ext(v)-lo) / scale))
	}
	f.quantised = &quantisation{scale: scale, offset: float64(lo)}
	f.warnings = append(f.warnings, fmt.Sprintf("%d-bit pixels scaled to 16 bits for display", pm.bitsStored))
}

// quantisation records how 32-bit values were mapped onto 16 bits.
type quantisation struct{ scale, offset float64 }

// ybrToRGB converts full-range YCbCr (PS3.3 C.7.6.3.1.2) to RGB with
// dcmtk's arithmetic (dcmimage's YBR_FULL conversion: four-digit
// coefficients, offsets in terms of the maximum value, truncation), so
// native YBR images render as dcmtk renders them.
func ybrToRGB(dst []uint8, y, cb, cr uint8) {
	const maxv = 255.0
	Y, Cb, Cr := float64(y), float64(cb), float64(cr)
	dst[0] = truncByte(Y + 1.4020*Cr - 0.7010*maxv)
	dst[1] = truncByte(Y - 0.3441*Cb - 0.7141*Cr + 0.5291*maxv)
	dst[2] = truncByte(Y + 1.7720*Cb - 0.8859*maxv)
}

func truncByte(v float64) uint8 {
	return uint8(max(0, min(255, v)))
}
