// Package jpeg decodes the JPEG processes DICOM uses, including those Go's
// image/jpeg does not: lossless (process 14, SOF3, all seven predictors,
// 2–16 bits) and sequential DCT with 8- and 12-bit samples (SOF0, SOF1).
// The DCT path reproduces the IJG library's integer IDCT ("islow",
// jidctint.c), its range limiting and, on request, its fancy upsampling,
// so its output is bit-identical to dcmtk's, gdcm's and libjpeg's.
//
// Only Huffman coding is supported (no arithmetic coding, no progressive or
// hierarchical modes). Components are returned as stored; YCbCrToRGB is
// the library's colour conversion for callers that need it.
package jpeg

import (
	"errors"
	"fmt"
)

// Image is a decoded JPEG frame.
type Image struct {
	Width, Height int
	Precision     int // bits per sample (P)
	Components    int
	Lossless      bool
	// Data holds the samples interleaved (Components per pixel),
	// row-major; subsampled components are replicated to full size.
	Data []uint16
	// IDs are the component identifiers from the frame header; Adobe is
	// the APP14 colour transform flag (-1 when there is no Adobe marker);
	// JFIF is set when the stream has a JFIF APP0 marker.
	IDs   []uint8
	Adobe int
	JFIF  bool
}

// YCbCr reports whether a 3-component image holds YCbCr, by the IJG
// library's rules: a JFIF marker means YCbCr, an Adobe marker says which,
// component identifiers 'R','G','B' mean RGB, anything else YCbCr.
func (im *Image) YCbCr() bool {
	switch {
	case im.Components != 3:
		return false
	case im.JFIF:
		return true
	case im.Adobe >= 0:
		return im.Adobe != 0
	}
	return !(im.IDs[0] == 'R' && im.IDs[1] == 'G' && im.IDs[2] == 'B')
}

// IsUnsupported reports whether err means the stream uses a JPEG process
// this package does not decode (progressive, arithmetic, hierarchical).
func IsUnsupported(err error) bool { return errors.Is(err, errUnsupported) }

// Config is what the frame header says.
type Config struct {
	Width, Height, Precision, Components int
	SOF                                  int // 0xC0, 0xC1 or 0xC3
}

// Markers.
const (
	sof0  = 0xC0
	sof1  = 0xC1
	sof3  = 0xC3
	dht   = 0xC4
	soi   = 0xD8
	eoi   = 0xD9
	sos   = 0xDA
	dqt   = 0xDB
	dri   = 0xDD
	app14 = 0xEE
)

// maxPixels bounds the frame size the decoder allocates.
const maxPixels = 1 << 28

// ErrUnsupported marks streams of JPEG processes this package does not
// decode.
var ErrUnsupported = errors.New("unsupported")

var errUnsupported = ErrUnsupported

type component struct {
	id     uint8
	h, v   int
	tq     int
	td, ta int // Huffman table selectors of the current scan
	// plane holds decoded samples at component resolution, padded to
	// whole blocks (DCT) or exact (lossless).
	plane  []uint16
	pw, ph int // plane size
	bw, bh int // blocks (DCT) covering the component
	pred   int // DC predictor (DCT)
	cw, ch int // component size in samples
}

type decoder struct {
	data       []byte
	pos        int
	sof        int
	prec       int
	width      int
	height     int
	comps      []component
	hmax, vmax int
	dc, ac     [4]*huffman
	quant      [4][64]int32
	restart    int
	adobe      int
	bits       bitReader
	seenSOF    bool
	decodedAny bool
	fancy      bool
	jfif       bool
}

// DecodeConfig reads the frame header without decoding.
func DecodeConfig(data []byte) (Config, error) {
	d := &decoder{data: data, adobe: -1}
	if err := d.start(); err != nil {
		return Config{}, err
	}
	for {
		m, seg, err := d.segment()
		if err != nil {
			return Config{}, err
		}
		switch m {
		case sof0, sof1, sof3:
			if err := d.frameHeader(m, seg); err != nil {
				return Config{}, err
			}
			return Config{Width: d.width, Height: d.height, Precision: d.prec, Components: len(d.comps), SOF: m}, nil
		case sos, eoi:
			return Config{}, errors.New("jpeg: no frame header before the scan")
		case 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7:
			return Config{}, fmt.Errorf("jpeg: %w process (SOF marker FF%02X)", errUnsupported, m)
		}
	}
}

// Options change how Decode builds its output.
type Options struct {
	// Fancy interpolates 2:1 subsampled components (h2v1, h2v2) as the
	// IJG library does by default ("fancy upsampling", triangle filter)
	// instead of replicating samples, so colour output matches
	// libjpeg-based decoders such as dcmtk's.
	Fancy bool
}

// Decode decodes a JPEG stream of the supported processes.
func Decode(data []byte) (*Image, error) {
	return DecodeOptions(data, Options{})
}

// DecodeOptions decodes with the given options.
func DecodeOptions(data []byte, o Options) (*Image, error) {
	d := &decoder{data: data, adobe: -1, fancy: o.Fancy}
	if err := d.start(); err != nil {
		return nil, err
	}
	for {
		m, seg, err := d.segment()
		if err != nil {
			return nil, err
		}
		switch m {
		case sof0, sof1, sof3:
			if d.seenSOF {
				return nil, errors.New("jpeg: two frame headers")
			}
			if err := d.frameHeader(m, seg); err != nil {
				return nil, err
			}
		case 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7:
			return nil, fmt.Errorf("jpeg: %w process (SOF marker FF%02X)", errUnsupported, m)
		case dht:
			if err := d.huffmanTables(seg); err != nil {
				return nil, err
			}
		case dqt:
			if err := d.quantTables(seg); err != nil {
				return nil, err
			}
		case dri:
			if len(seg) != 2 {
				return nil, errors.New("jpeg: bad DRI segment")
			}
			d.restart = int(seg[0])<<8 | int(seg[1])
		case app14:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe = int(seg[11])
			}
		case 0xE0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case sos:
			if !d.seenSOF {
				return nil, errors.New("jpeg: scan before the frame header")
			}
			if err := d.scan(seg); err != nil {
				return nil, err
			}
			d.decodedAny = true
		case eoi:
			if !d.decodedAny {
				return nil, errors.New("jpeg: no scan before end of image")
			}
			return d.output(), nil
		}
	}
}

func (d *decoder) start() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != soi {
		return errors.New("jpeg: missing SOI marker")
	}
	d.pos = 2
	return nil
}

// segment finds the next marker and returns it with its payload (nil for
// markers without one). A missing EOI after the last scan is tolerated.
func (d *decoder) segment() (int, []byte, error) {
	for {
		// Skip anything up to the next 0xFF (encoders leave fill bytes).
		for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			if d.decodedAny {
				return eoi, nil, nil
			}
			return 0, nil, errors.New("jpeg: data ends before the image")
		}
		m := int(d.data[d.pos])
		d.pos++
		switch {
		case m == 0 || (m >= 0xD0 && m <= 0xD7) || m == 0x01:
			continue // stuffed byte, stray restart or TEM
		case m == soi:
			return 0, nil, errors.New("jpeg: second SOI marker")
		case m == eoi:
			return m, nil, nil
		}
		if d.pos+2 > len(d.data) {
			return 0, nil, errors.New("jpeg: segment length past the end")
		}
		n := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
		if n < 2 || d.pos+n > len(d.data) {
			return 0, nil, fmt.Errorf("jpeg: segment FF%02X of %d bytes runs past the end", m, n)
		}
		seg := d.data[d.pos+2 : d.pos+n]
		d.pos += n
		return m, seg, nil
	}
}

func (d *decoder) frameHeader(m int, seg []byte) error {
	if len(seg) < 6 {
		return errors.New("jpeg: short frame header")
	}
	d.sof = m
	d.prec = int(seg[0])
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	nc := int(seg[5])
	switch {
	case m == sof3 && (d.prec < 2 || d.prec > 16):
		return fmt.Errorf("jpeg: lossless precision %d (2 to 16)", d.prec)
	case m != sof3 && d.prec != 8 && d.prec != 12:
		return fmt.Errorf("jpeg: DCT precision %d (8 or 12)", d.prec)
	case d.width == 0 || d.height == 0:
		return errors.New("jpeg: zero image size (DNL not supported)")
	case nc == 0 || nc > 4:
		return fmt.Errorf("jpeg: %d components", nc)
	case len(seg) != 6+3*nc:
		return errors.New("jpeg: bad frame header length")
	case d.width*d.height*nc > maxPixels:
		return fmt.Errorf("jpeg: %d×%d×%d is too large", d.width, d.height, nc)
	}
	d.comps = make([]component, nc)
	for i := range d.comps {
		c := &d.comps[i]
		c.id = seg[6+3*i]
		c.h, c.v = int(seg[7+3*i]>>4), int(seg[7+3*i]&15)
		c.tq = int(seg[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errors.New("jpeg: bad component sampling or table")
		}
		if m == sof3 && (c.h != 1 || c.v != 1) {
			return fmt.Errorf("jpeg: lossless with subsampling is %w", errUnsupported)
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	// Every sample of a lossless scan takes at least one bit, every DCT
	// block at least two (a DC code and an end of block): a stream too
	// short for its declared size is refused before the planes are
	// allocated.
	minBits := d.width * d.height * nc
	if m != sof3 {
		minBits = 2 * ((d.width + 7) / 8) * ((d.height + 7) / 8) * nc
	}
	if 8*(len(d.data)-d.pos) < minBits {
		return fmt.Errorf("jpeg: %d bytes cannot hold a %d×%d×%d image: %w", len(d.data)-d.pos, d.width, d.height, nc, errTruncated)
	}
	for i := range d.comps {
		c := &d.comps[i]
		c.cw = (d.width*c.h + d.hmax - 1) / d.hmax
		c.ch = (d.height*c.v + d.vmax - 1) / d.vmax
		if m == sof3 {
			c.pw, c.ph = c.cw, c.ch
		} else {
			mcux := (d.width + 8*d.hmax - 1) / (8 * d.hmax)
			mcuy := (d.height + 8*d.vmax - 1) / (8 * d.vmax)
			c.bw, c.bh = mcux*c.h, mcuy*c.v
			c.pw, c.ph = 8*c.bw, 8*c.bh
		}
		c.plane = make([]uint16, c.pw*c.ph)
	}
	d.seenSOF = true
	return nil
}

func (d *decoder) quantTables(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := int(seg[0]>>4), int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return errors.New("jpeg: bad DQT")
		}
		n := 64 << pq
		if len(seg) < 1+n {
			return errors.New("jpeg: short DQT")
		}
		// Tables arrive in zigzag order; keep them in natural order.
		for i := range 64 {
			if pq == 0 {
				d.quant[tq][natural[i]] = int32(seg[1+i])
			} else {
				d.quant[tq][natural[i]] = int32(seg[1+2*i])<<8 | int32(seg[2+2*i])
			}
		}
		seg = seg[1+n:]
	}
	return nil
}

func (d *decoder) huffmanTables(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errors.New("jpeg: short DHT")
		}
		tc, th := int(seg[0]>>4), int(seg[0]&15)
		if tc > 1 || th > 3 {
			return errors.New("jpeg: bad DHT class or id")
		}
		var counts [16]int
		total := 0
		for i := range 16 {
			counts[i] = int(seg[1+i])
			total += counts[i]
		}
		if total > 256 || len(seg) < 17+total {
			return errors.New("jpeg: bad DHT length")
		}
		h, err := newHuffman(counts, seg[17:17+total])
		if err != nil {
			return err
		}
		if tc == 0 {
			d.dc[th] = h
		} else {
			d.ac[th] = h
		}
		seg = seg[17+total:]
	}
	return nil
}

// output interleaves the component planes at full size.
func (d *decoder) output() *Image {
	nc := len(d.comps)
	im := &Image{
		Width: d.width, Height: d.height, Precision: d.prec, Components: nc,
		Lossless: d.sof == sof3, Data: make([]uint16, d.width*d.height*nc), Adobe: d.adobe, JFIF: d.jfif,
	}
	for i := range d.comps {
		im.IDs = append(im.IDs, d.comps[i].id)
	}
	if nc == 1 {
		c := &d.comps[0]
		for y := range d.height {
			copy(im.Data[y*d.width:(y+1)*d.width], c.plane[y*c.pw:])
		}
		return im
	}
	for k := range d.comps {
		c := &d.comps[k]
		hx, vx := d.hmax/c.h, d.vmax/c.v
		if d.fancy && d.sof != sof3 && hx == 2 && (vx == 1 || vx == 2) && c.cw > 2 && d.hmax%c.h == 0 && d.vmax%c.v == 0 {
			fancyUpsample(im.Data, k, nc, d.width, d.height, c, vx)
			continue
		}
		for y := range d.height {
			sy := y * c.v / d.vmax
			row := c.plane[sy*c.pw:]
			o := y * d.width * nc
			for x := range d.width {
				im.Data[o+x*nc+k] = row[x*c.h/d.hmax]
			}
		}
	}
	return im
}

// fancyUpsample is the IJG library's h2v1_fancy_upsample and
// h2v2_fancy_upsample (jdsample.c): each output sample is 3/4 of the
// nearer input sample and 1/4 of the next one (in both directions for
// h2v2), with the library's alternating rounding bias. Rows above the
// first and below the last real row repeat the edge row, as the IJG main
// controller supplies them.
func fancyUpsample(dst []uint16, k, nc, width, height int, c *component, vx int) {
	row := func(r int) []uint16 {
		r = max(0, min(r, c.ch-1))
		return c.plane[r*c.pw : r*c.pw+c.cw]
	}
	out := make([]int32, 2*c.cw)
	emit := func(y int) {
		if y >= height {
			return
		}
		o := y * width * nc
		for x := range width {
			dst[o+x*nc+k] = uint16(out[x])
		}
	}
	for r := range (height + vx - 1) / vx {
		if vx == 1 {
			in := row(r)
			v := int32(in[0])
			out[0] = v
			out[1] = (v*3 + int32(in[1]) + 2) >> 2
			for i := 1; i < len(in)-1; i++ {
				v := int32(in[i]) * 3
				out[2*i] = (v + int32(in[i-1]) + 1) >> 2
				out[2*i+1] = (v + int32(in[i+1]) + 2) >> 2
			}
			n := len(in) - 1
			v = int32(in[n])
			out[2*n] = (v*3 + int32(in[n-1]) + 1) >> 2
			out[2*n+1] = v
			emit(r)
			continue
		}
		for v := range 2 {
			in0, in1 := row(r), row(r-1)
			if v == 1 {
				in1 = row(r + 1)
			}
			col := func(i int) int32 { return int32(in0[i])*3 + int32(in1[i]) }
			this, next := col(0), col(1)
			out[0] = (this*4 + 8) >> 4
			out[1] = (this*3 + next + 7) >> 4
			last := this
			this = next
			for i := 1; i < len(in0)-1; i++ {
				next = col(i + 1)
				out[2*i] = (this*3 + last + 8) >> 4
				out[2*i+1] = (this*3 + next + 7) >> 4
				last, this = this, next
			}
			n := len(in0) - 1
			out[2*n] = (this*3 + last + 8) >> 4
			out[2*n+1] = (this*4 + 7) >> 4
			emit(2*r + v)
		}
	}
}

// YCbCrToRGB is the IJG library's integer YCbCr → RGB conversion for
// 8-bit samples (jdcolor.c, 16-bit fixed point).
func YCbCrToRGB(y, cb, cr uint16) (r, g, b uint8) {
	const (
		scale = 16
		half  = 1 << (scale - 1)
	)
	fix := func(x float64) int64 { return int64(x*(1<<scale) + 0.5) }
	Y, Cb, Cr := int64(y), int64(cb)-128, int64(cr)-128
	clamp := func(v int64) uint8 { return uint8(max(0, min(255, v))) }
	r = clamp(Y + (fix(1.40200)*Cr+half)>>scale)
	g = clamp(Y + (-fix(0.34414)*Cb+half-fix(0.71414)*Cr)>>scale)
	b = clamp(Y + (fix(1.77200)*Cb+half)>>scale)
	return r, g, b
}
