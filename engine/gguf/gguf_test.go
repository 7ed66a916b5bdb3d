package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// sample writes a small GGUF file with fs/ggml's writer and returns its bytes.
func sample(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := fsggml.KV{
		"general.architecture":  "llama",
		"general.name":          "sample",
		"llama.block_count":     uint32(2),
		"llama.rope.freq_base":  float32(10000),
		"tokenizer.ggml.tokens": []string{"<unk>", "<s>", "</s>", "a"},
		"llama.image_mean":      []float32{0.5, 0.5, 0.5},
		"general.flag":          true,
	}
	data := bytes.Repeat([]byte{1}, 4*8)
	ts := []*fsggml.Tensor{
		{Name: "blk.0.w", Kind: 0, Shape: []uint64{8}, WriterTo: bytes.NewReader(data)},
		{Name: "token_embd.weight", Kind: 0, Shape: []uint64{4, 2}, WriterTo: bytes.NewReader(data)},
	}
	if err := fsggml.WriteGGUF(f, kv, ts); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRead(t *testing.T) {
	b := sample(t)
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Architecture() != "llama" {
		t.Errorf("architecture %q", f.Architecture())
	}
	if n, ok := f.Uint("llama.block_count"); !ok || n != 2 {
		t.Errorf("block_count %d %v", n, ok)
	}
	if v, ok := f.Float("llama.rope.freq_base"); !ok || v != 10000 {
		t.Errorf("freq_base %v", v)
	}
	if toks := f.Strings("tokenizer.ggml.tokens"); len(toks) != 4 || toks[3] != "a" {
		t.Errorf("tokens %v", toks)
	}
	if v := f.KV["llama.image_mean"]; v.Elem != TypeFloat32 || v.Len != 3 {
		t.Errorf("image_mean %+v", v)
	}
	if b, ok := f.Bool("general.flag"); !ok || !b {
		t.Error("bool lost")
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Bytes != 32 || emb.Elements() != 8 {
		t.Errorf("tensor %+v", emb)
	}
}

// TestReadCorrupt cuts the file at every length and flips length fields: the
// reader must return an error every time, never panic or allocate wildly.
func TestReadCorrupt(t *testing.T) {
	b := sample(t)
	for n := 0; n < len(b)-32; n++ {
		if _, err := Read(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	for i := 8; i < 200 && i < len(b); i++ {
		c := bytes.Clone(b)
		for j := 0; j < 8 && i+j < len(c); j++ {
			c[i+j] = 0xff
		}
		Read(bytes.NewReader(c), int64(len(c))) // must not panic
	}
	if _, err := Read(strings.NewReader("GGML0000"), 8); err != ErrNotGGUF {
		t.Errorf("wrong magic: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(bytes.NewReader(b), int64(len(b)))
	})
}

// header writes a GGUF v3 header with no metadata and one F32 tensor of the
// given shape at data offset off, followed by data bytes of tensor data.
func header(shape []uint64, off uint64, data int) []byte {
	var b []byte
	b = append(b, "GGUF"...)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, 1) // tensors
	b = binary.LittleEndian.AppendUint64(b, 0) // keys
	name := "t"
	b = binary.LittleEndian.AppendUint64(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(shape)))
	for _, d := range shape {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // F32
	b = binary.LittleEndian.AppendUint64(b, off)
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	return append(b, make([]byte, data)...)
}

// TestReadSizeOverflow gives tensor sizes and offsets whose sums wrap around
// 64 bits: each must be an error, not a tensor that seems to fit.
func TestReadSizeOverflow(t *testing.T) {
	cases := []struct {
		name  string
		shape []uint64
		off   uint64
	}{
		{"size wraps to 0", []uint64{1 << 62}, 0},         // 2^62 floats = 2^64 bytes
		{"size fits, end wraps", []uint64{1<<62 - 14}, 0}, // 2^64-56 bytes after a 64-byte header: the end wraps to 8
		{"offset past the end", []uint64{8}, math.MaxUint64 - 16},
		{"elements overflow", []uint64{1 << 32, 1 << 32}, 0},
	}
	if _, err := Read(bytes.NewReader(header([]uint64{8}, 0, 32)), int64(len(header([]uint64{8}, 0, 32)))); err != nil {
		t.Fatalf("a well-formed header fails: %v", err)
	}
	for _, c := range cases {
		b := header(c.shape, c.off, 64)
		if f, err := Read(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("%s: no error (tensor %+v)", c.name, f.Tensors[0])
		}
	}
}

// TestOffsets checks the positions Read records against the bytes of the file.
func TestOffsets(t *testing.T) {
	b := sample(t)
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(b[KVCountOffset:]); n != uint64(len(f.KV)) {
		t.Errorf("key count at KVCountOffset is %d, want %d", n, len(f.KV))
	}
	if v := f.KV["general.flag"]; b[v.Offset] != 1 {
		t.Errorf("general.flag: byte %d at its offset, want 1", b[v.Offset])
	}
	if v := f.KV["llama.block_count"]; binary.LittleEndian.Uint32(b[v.Offset:]) != 2 {
		t.Errorf("block_count: %d at its offset", binary.LittleEndian.Uint32(b[v.Offset:]))
	}
	if v := f.KV["general.name"]; binary.LittleEndian.Uint64(b[v.Offset:]) != uint64(len("sample")) || string(b[v.Offset+8:v.Offset+14]) != "sample" {
		t.Errorf("general.name at its offset: %q", b[v.Offset:v.Offset+14])
	}
	// The tensor table starts with the first tensor's name.
	first := f.Tensors[0].Name
	if n := binary.LittleEndian.Uint64(b[f.TableStart:]); n != uint64(len(first)) || string(b[f.TableStart+8:f.TableStart+8+int64(n)]) != first {
		t.Errorf("the tensor table does not start at %d", f.TableStart)
	}
	if f.TableEnd > f.DataOffset || f.DataOffset-f.TableEnd >= 32 || f.DataOffset%32 != 0 {
		t.Errorf("table end %d, data offset %d", f.TableEnd, f.DataOffset)
	}
}
