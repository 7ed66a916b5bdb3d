package jpeg

import "errors"

// huffman is a decoding table (ITU-T T.81 Annex C and F.2.2.3) with a
// 9-bit lookahead for the common short codes.
type huffman struct {
	lookup  [1 << lookBits]uint16 // length<<8 | value; 0 = longer code
	maxcode [17]int32             // largest code of each length, -1 if none
	valptr  [17]int32
	mincode [17]int32
	vals    []uint8
}

const lookBits = 9

var errBadHuffman = errors.New("jpeg: bad Huffman table")

func newHuffman(counts [16]int, vals []uint8) (*huffman, error) {
	h := &huffman{vals: append([]uint8(nil), vals...)}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valptr[l] = k
		h.mincode[l] = code
		if n == 0 {
			h.maxcode[l] = -1
		} else {
			h.maxcode[l] = code + n - 1
			if h.maxcode[l] >= 1<<l {
				return nil, errBadHuffman
			}
			if l <= lookBits {
				for i := range n {
					c := code + i
					shift := lookBits - l
					for j := int32(0); j < 1<<shift; j++ {
						h.lookup[c<<shift|j] = uint16(l)<<8 | uint16(vals[k+i])
					}
				}
			}
		}
		code += n
		k += n
		code <<= 1
	}
	return h, nil
}

// bitReader reads entropy-coded data: 0xFF00 stands for 0xFF, any other
// 0xFF xx is a marker that ends the segment. Past a marker or the end it
// supplies zero bits, as the IJG library does, and counts them so that a
// truncated stream can be told from encoder padding.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      uint
	marker bool // a marker (or the end) was reached
	padded uint // zero bits supplied past the data
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		switch {
		case b.marker || b.pos >= len(b.data):
			b.marker = true
			b.padded += 8
		case b.data[b.pos] != 0xFF:
			c = b.data[b.pos]
			b.pos++
		case b.pos+1 < len(b.data) && b.data[b.pos+1] == 0:
			c = 0xFF
			b.pos += 2
		default:
			b.marker = true
			b.padded += 8
		}
		b.acc = b.acc<<8 | uint64(c)
		b.n += 8
	}
}

// overrun reports how many zero bits were consumed beyond the data.
func (b *bitReader) overrun() uint {
	if b.padded > b.n {
		return b.padded - b.n
	}
	return 0
}

func (b *bitReader) bits(k uint) int32 {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
	}
	b.n -= k
	return int32(b.acc>>b.n) & (1<<k - 1)
}

// receiveExtend reads k bits and sign-extends them (T.81 F.2.2.1).
func (b *bitReader) receiveExtend(k uint) int32 {
	if k == 0 {
		return 0
	}
	v := b.bits(k)
	if v < 1<<(k-1) {
		v += -1<<k + 1
	}
	return v
}

func (b *bitReader) decode(h *huffman) (uint8, error) {
	if b.n < 16 {
		b.fill()
	}
	e := h.lookup[(b.acc>>(b.n-lookBits))&(1<<lookBits-1)]
	if e != 0 {
		b.n -= uint(e >> 8)
		return uint8(e), nil
	}
	for l := uint(lookBits + 1); l <= 16; l++ {
		code := int32(b.acc>>(b.n-l)) & (1<<l - 1)
		if code <= h.maxcode[l] {
			b.n -= l
			i := h.valptr[l] + code - h.mincode[l]
			if int(i) >= len(h.vals) {
				return 0, errBadHuffman
			}
			return h.vals[i], nil
		}
	}
	return 0, errors.New("jpeg: corrupt data (no Huffman code matches)")
}

// restart discards the bits of the interval and steps over its RSTn
// marker; it reports whether the marker was where it belonged.
func (b *bitReader) restart() bool {
	b.acc, b.n, b.marker, b.padded = 0, 0, false, 0
	for b.pos < len(b.data) && b.data[b.pos] != 0xFF {
		b.pos++
	}
	for b.pos+1 < len(b.data) && b.data[b.pos] == 0xFF && b.data[b.pos+1] == 0xFF {
		b.pos++
	}
	if b.pos+1 < len(b.data) && b.data[b.pos+1] >= 0xD0 && b.data[b.pos+1] <= 0xD7 {
		b.pos += 2
		return true
	}
	return false
}

// natural maps zigzag order to natural order; the 16 extra entries catch
// runs past the end of a corrupt block as the IJG library does.
var natural = [64 + 16]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}
