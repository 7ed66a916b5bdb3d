package quant

import (
	"math"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	shape := []uint64{256, 4}
	vals := make([]float32, 256*4)
	for i := range vals {
		vals[i] = float32(math.Sin(float64(i)*0.37)) * 0.5
	}
	for _, c := range []struct {
		typ    uint32
		bytes  int
		maxErr float64 // relative RMS error
	}{
		{TypeF32, 4 * 1024, 0},
		{TypeF16, 2 * 1024, 1e-3},
		{TypeQ8_0, 1024 / 32 * 34, 0.01},
		{TypeQ6_K, 1024 / 256 * 210, 0.02},
		{TypeQ4_K, 1024 / 256 * 144, 0.1},
	} {
		b, err := Encode(vals, shape, c.typ)
		if err != nil {
			t.Fatalf("type %d: %v", c.typ, err)
		}
		if len(b) != c.bytes {
			t.Errorf("type %d: %d bytes, want %d", c.typ, len(b), c.bytes)
		}
		back, err := Decode(b, c.typ, uint64(len(vals)))
		if err != nil {
			t.Fatal(err)
		}
		var se, ss float64
		for i := range vals {
			d := float64(back[i] - vals[i])
			se += d * d
			ss += float64(vals[i]) * float64(vals[i])
		}
		if rel := math.Sqrt(se / ss); rel > c.maxErr {
			t.Errorf("type %d: relative error %.4f > %.4f", c.typ, rel, c.maxErr)
		}
	}
	if _, err := Encode(vals[:100], []uint64{100}, TypeQ4_K); err == nil {
		t.Error("rows of 100 quantized to Q4_K without an error")
	}
}

func TestTextType(t *testing.T) {
	big := []uint64{4096, 4096}
	cases := []struct {
		name  string
		shape []uint64
		layer int
		ft    FileType
		want  uint32
	}{
		{"blk.0.attn_norm.weight", []uint64{4096}, 0, Q4_K_M, TypeF32},
		{"output.weight", []uint64{4096, 32000}, -1, Q4_K_M, TypeQ6_K},
		{"token_embd.weight", []uint64{4096, 32000}, -1, Q4_K_M, TypeQ4_K},
		{"blk.0.attn_v.weight", big, 0, Q4_K_M, TypeQ6_K},                       // first eighth
		{"blk.5.attn_v.weight", big, 5, Q4_K_M, TypeQ4_K},                       // (5-4)%3 == 1
		{"blk.6.attn_v.weight", big, 6, Q4_K_M, TypeQ6_K},                       // (6-4)%3 == 2: every third layer
		{"blk.10.attn_v.weight", big, 10, Q4_K_M, TypeQ4_K},                     // (10-4)%3 == 0
		{"blk.31.ffn_down.weight", []uint64{11008, 4096}, 31, Q4_K_M, TypeQ6_K}, // last eighth
		{"blk.12.attn_q.weight", big, 12, Q4_K_M, TypeQ4_K},
		{"blk.12.attn_q.weight", big, 12, Q8_0, TypeQ8_0},
		{"blk.12.attn_q.weight", big, 12, F16, TypeF16},
		{"blk.0.attn_q.weight", []uint64{64, 64}, 0, Q4_K_M, TypeQ8_0}, // rows too short for K-quants
		{"blk.0.attn_q.weight", []uint64{48, 64}, 0, Q8_0, TypeF16},    // not even Q8_0 blocks
	}
	for _, c := range cases {
		if got := TextType(c.name, c.shape, c.layer, 32, c.ft); got != c.want {
			t.Errorf("%s %v %s: type %d, want %d", c.name, c.shape, c.ft, got, c.want)
		}
	}
	if _, err := ParseFileType("q5_k_m"); err == nil {
		t.Error("unknown file type accepted")
	}
}
