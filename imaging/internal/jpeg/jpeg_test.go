package jpeg

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// pattern fills w×h×comps samples below 2^bits with gradients, noise and
// sharp edges, so that every predictor and difference category occurs.
func pattern(w, h, comps, bits int, seed uint32) []uint16 {
	s := make([]uint16, w*h*comps)
	mask := uint32(1)<<bits - 1
	x := seed | 1
	for i := range s {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p := i / comps
		r, c := p/w, p%w
		var v uint32
		switch (r / 5) % 3 {
		case 0:
			v = uint32(c) * mask / uint32(max(w-1, 1))
		case 1:
			v = x
		default:
			if (r+c)%2 == 0 {
				v = mask
			}
		}
		s[i] = uint16(v & mask)
	}
	return s
}

func TestLosslessRoundTrip(t *testing.T) {
	for bits := 2; bits <= 16; bits++ {
		for psv := 1; psv <= 7; psv++ {
			for _, c := range []struct{ comps, pt, restart int }{{1, 0, 0}, {3, 0, 0}, {1, 1, 0}, {1, 0, 7}, {1, 0, 23}, {3, 0, 23}} {
				if c.pt >= bits-1 {
					continue
				}
				name := fmt.Sprintf("P%d/SV%d/comps%d/pt%d/ri%d", bits, psv, c.comps, c.pt, c.restart)
				w, h := 23, 17
				in := pattern(w, h, c.comps, bits, uint32(bits*100+psv))
				data, err := EncodeLossless(in, w, h, c.comps, bits, psv, c.pt, c.restart)
				if err != nil {
					t.Fatalf("%s: encode: %v", name, err)
				}
				im, err := Decode(data)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if im.Width != w || im.Height != h || im.Components != c.comps || im.Precision != bits || !im.Lossless {
					t.Fatalf("%s: header %+v", name, im)
				}
				for i, v := range in {
					want := v >> c.pt << c.pt
					if im.Data[i] != want {
						t.Fatalf("%s: sample %d is %d, want %d", name, i, im.Data[i], want)
					}
				}
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := EncodeLossless(pattern(16, 16, 1, 12, 1), 16, 16, 1, 12, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sof := bytes.Index(good, []byte{0xFF, 0xC3})
	sos := bytes.Index(good, []byte{0xFF, 0xDA})
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "missing SOI"},
		{"not JPEG", []byte("hello world"), "missing SOI"},
		{"truncated in header", good[:sof+5], "runs past the end"},
		{"truncated scan", good[:sos+40], "truncated"},
		{"no scan", func() []byte {
			tiny, _ := EncodeLossless([]uint16{1, 2, 3, 4}, 2, 2, 1, 8, 1, 0, 0)
			i := bytes.Index(tiny, []byte{0xFF, 0xDA})
			return append(tiny[:i:i], 0xFF, 0xD9, 0, 0)
		}(), "no scan"},
		{"too short for its size", good[:sos+12], "cannot hold"},
		{"precision 1", mutate(func(b []byte) []byte { b[sof+4] = 1; return b }), "precision"},
		{"precision 17", mutate(func(b []byte) []byte { b[sof+4] = 17; return b }), "precision"},
		{"zero width", mutate(func(b []byte) []byte { b[sof+7], b[sof+8] = 0, 0; return b }), "zero image size"},
		{"predictor 0", mutate(func(b []byte) []byte { b[sos+7] = 0; return b }), "predictor"},
		{"predictor 8", mutate(func(b []byte) []byte { b[sos+7] = 8; return b }), "predictor"},
		{"huge", mutate(func(b []byte) []byte { b[sof+5], b[sof+6], b[sof+7], b[sof+8] = 0xFF, 0xFF, 0xFF, 0xFF; return b }), "too large"},
		{"undefined table", mutate(func(b []byte) []byte { b[sos+6] = 0x30; return b }), "undefined Huffman table"},
		{"progressive", mutate(func(b []byte) []byte { b[sof+1] = 0xC2; return b }), "unsupported"},
		{"arithmetic", mutate(func(b []byte) []byte { b[sof+1] = 0xCB; return b }), "unsupported"},
	}
	for _, c := range cases {
		_, err := Decode(c.data)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := Decode(mutate(func(b []byte) []byte { b[sof+1] = 0xC2; return b })); !errors.Is(err, errUnsupported) {
		t.Errorf("progressive: %v does not wrap errUnsupported", err)
	}
}

// TestIDCTDCOnly checks the integer IDCT on blocks whose value is known:
// a DC-only block is flat at DC/8 + centre, for 8 and 12 bits.
func TestIDCTDCOnly(t *testing.T) {
	for _, prec := range []int{8, 12} {
		center := 1 << (prec - 1)
		for _, dc := range []int32{0, 8, -8, 80, -80, 1000} {
			var coef, q [64]int32
			for i := range q {
				q[i] = 1
			}
			coef[0] = dc
			out := make([]uint16, 64)
			idctIslow(&coef, &q, out, 8, prec)
			want := min(max(center+int(dc)/8, 0), 1<<prec-1)
			for i, v := range out {
				if int(v) != want {
					t.Fatalf("P%d DC %d: sample %d is %d, want %d", prec, dc, i, v, want)
				}
			}
		}
	}
}
