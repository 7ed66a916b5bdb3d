package gguf

import (
	"bytes"
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
