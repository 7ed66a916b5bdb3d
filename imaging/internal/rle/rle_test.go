package rle

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"cxrview/imaging/internal/fuzzstat"
)

// pack is a plain PackBits encoder for the tests.
func pack(src []byte) []byte {
	var out []byte
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && j-i < 128 && src[j] == src[i] {
			j++
		}
		if j-i >= 2 {
			out = append(out, byte(int8(1-(j-i))), src[i])
			i = j
			continue
		}
		j = i + 1
		for j < len(src) && j-i < 128 && (j+1 >= len(src) || src[j] != src[j+1]) {
			j++
		}
		out = append(out, byte(j-i-1))
		out = append(out, src[i:j]...)
		i = j
	}
	if len(out)%2 == 1 {
		out = append(out, 0x80) // no-op padding, as encoders write
	}
	return out
}

// frame builds an RLE frame from byte planes.
func frame(planes ...[]byte) []byte {
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(planes)))
	var body []byte
	for i, p := range planes {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(64+len(body)))
		body = append(body, pack(p)...)
	}
	return append(hdr, body...)
}

func TestDecode(t *testing.T) {
	const w, h = 7, 5
	n := w * h
	msb, lsb, r, g, b := make([]byte, n), make([]byte, n), make([]byte, n), make([]byte, n), make([]byte, n)
	for i := range n {
		msb[i], lsb[i] = byte(i/3), byte(i*37)
		r[i], g[i], b[i] = 200, byte(i), byte(i%4)
	}
	out, err := Decode(frame(msb, lsb), w, h, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if out[2*i] != lsb[i] || out[2*i+1] != msb[i] {
			t.Fatalf("16-bit pixel %d: % x", i, out[2*i:2*i+2])
		}
	}
	out, err = Decode(frame(r, g, b), w, h, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, append(append(append([]byte(nil), r...), g...), b...)) {
		t.Fatalf("colour planes %v", out)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"short header", make([]byte, 10), "header"},
		{"segment count", frame(msb), "1 segments where"},
		{"short segment", frame(msb[:3], lsb), "decodes to 3 bytes, want 35"},
		{"bad offset", func() []byte {
			f := frame(msb, lsb)
			binary.LittleEndian.PutUint32(f[4:], 9999)
			return f
		}(), "out of order"},
		{"literal past end", func() []byte {
			f := frame(bytes.Repeat([]byte{1, 2}, n/2+1)[:n], lsb)
			binary.LittleEndian.PutUint32(f[8:], uint32(len(f)))
			return append(f[:len(f):len(f)], 0x7F)
		}(), "segment"},
	} {
		_, err := Decode(c.data, w, h, 1, 2)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestDecodeRefusesImplausibleSize(t *testing.T) {
	_, err := Decode(frame([]byte{1}, []byte{2}), 1000, 1000, 1, 2)
	if err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("4 bytes for a megapixel: %v", err)
	}
}

var statDecode = fuzzstat.New("rle.FuzzDecode")

func FuzzDecode(f *testing.F) {
	f.Add(frame(bytes.Repeat([]byte{9}, 12), []byte("abcdefghijkl")), 4, 3, 1, 2)
	if d, err := os.ReadFile("/usr/lib/python3/dist-packages/pydicom/data/test_files/MR_small_RLE.dcm"); err == nil {
		if i := bytes.Index(d, []byte{0x02, 0, 0, 0, 0x40, 0, 0, 0}); i >= 0 {
			f.Add(d[i:], 64, 64, 1, 2)
		}
	} else {
		f.Fatalf("%v (install the Debian package python3-pydicom)", err)
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h, samples, bps int) {
		statDecode.Inc()
		if w <= 0 || h <= 0 || w*h > 1<<20 || samples < 1 || samples > 4 || bps < 1 || bps > 4 {
			return
		}
		out, err := Decode(data, w, h, samples, bps)
		if err == nil && len(out) != w*h*samples*bps {
			t.Fatalf("%d bytes for %d×%d×%d×%d", len(out), w, h, samples, bps)
		}
	})
}
