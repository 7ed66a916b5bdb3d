package jpeg

import (
	"bytes"
	"fmt"
)

// EncodeLossless writes a process-14 (SOF3) JPEG stream of the samples
// (interleaved, comps per pixel, each below 2^precision) with predictor
// psv, point transform pt and a restart marker every restart MCUs (0 for
// none). It exists so that tests can make streams of every precision
// (2–16), predictor and restart layout, which the Debian encoders do not
// all produce; dcmtk then serves as the independent decoder.
func EncodeLossless(samples []uint16, width, height, comps, precision, psv, pt, restart int) ([]byte, error) {
	switch {
	case precision < 2 || precision > 16:
		return nil, fmt.Errorf("precision %d", precision)
	case psv < 1 || psv > 7:
		return nil, fmt.Errorf("predictor %d", psv)
	case pt < 0 || pt >= precision:
		return nil, fmt.Errorf("point transform %d", pt)
	case comps < 1 || comps > 4 || len(samples) != width*height*comps:
		return nil, fmt.Errorf("%d samples for %d×%d×%d", len(samples), width, height, comps)
	}
	var out bytes.Buffer
	seg := func(m byte, payload ...byte) {
		out.Write([]byte{0xFF, m, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)})
		out.Write(payload)
	}
	out.Write([]byte{0xFF, soi})
	// One fixed table for the 17 difference categories: lengths 3 (×6),
	// 4, 5, 6, 7, 8 (×2 each) and 9 (×1); no code is all ones.
	counts := [16]byte{0, 0, 6, 2, 2, 2, 2, 2, 1}
	dhtPayload := append([]byte{0x00}, counts[:]...)
	for v := range 17 {
		dhtPayload = append(dhtPayload, byte(v))
	}
	seg(dht, dhtPayload...)
	var table [17]struct {
		code uint32
		n    uint
	}
	code, k := uint32(0), 0
	for l := 1; l <= 16; l++ {
		for range counts[l-1] {
			table[k].code, table[k].n = code, uint(l)
			code++
			k++
		}
		code <<= 1
	}
	sof := []byte{byte(precision), byte(height >> 8), byte(height), byte(width >> 8), byte(width), byte(comps)}
	for c := range comps {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	seg(sof3, sof...)
	if restart > 0 {
		seg(dri, byte(restart>>8), byte(restart))
	}
	sos := []byte{byte(comps)}
	for c := range comps {
		sos = append(sos, byte(c+1), 0x00)
	}
	sos = append(sos, byte(psv), 0, byte(pt))
	seg(0xDA, sos...)

	var acc uint64
	var nacc uint
	flush := func() {
		for nacc >= 8 {
			b := byte(acc >> (nacc - 8))
			out.WriteByte(b)
			if b == 0xFF {
				out.WriteByte(0)
			}
			nacc -= 8
		}
	}
	put := func(v uint32, n uint) {
		acc = acc<<n | uint64(v)&(1<<n-1)
		nacc += n
		flush()
	}
	pad := func() {
		if nacc > 0 {
			put(1<<(8-nacc)-1, 8-nacc)
		}
	}
	initial := int32(1) << (precision - pt - 1)
	val := func(x, y, c int) int32 { return int32(samples[(y*width+x)*comps+c] >> pt) }
	mcus, rst := 0, 0
	resetNext, firstRow, restartRow := true, true, 0
	for y := range height {
		if y != restartRow {
			firstRow = false
		}
		for x := range width {
			if restart > 0 && mcus > 0 && mcus%restart == 0 {
				pad()
				out.Write([]byte{0xFF, byte(0xD0 + rst%8)})
				rst++
				resetNext, firstRow, restartRow = true, true, y
			}
			for c := range comps {
				var pred int32
				switch {
				case resetNext:
					pred = initial
				case firstRow:
					pred = val(x-1, y, c)
				case x == 0:
					pred = val(x, y-1, c)
				default:
					ra, rb, rc := val(x-1, y, c), val(x, y-1, c), val(x-1, y-1, c)
					pred = [8]int32{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[psv]
				}
				d := (val(x, y, c) - pred) & 0xFFFF
				if d >= 0x8000 {
					d -= 0x10000
				}
				ssss := bitLen(d)
				put(table[ssss].code, table[ssss].n)
				if ssss > 0 && ssss < 16 {
					if d < 0 {
						d += 1<<ssss - 1
					}
					put(uint32(d), ssss)
				}
			}
			resetNext = false
			mcus++
		}
	}
	pad()
	out.Write([]byte{0xFF, eoi})
	return out.Bytes(), nil
}

// bitLen is the difference category: the number of bits of |d|.
func bitLen(d int32) uint {
	if d < 0 {
		d = -d
	}
	n := uint(0)
	for d > 0 {
		n++
		d >>= 1
	}
	return n
}
