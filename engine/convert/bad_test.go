package convert

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/engine/convert/converttest"
	"cxrview/engine/quant"

	"github.com/ollama/ollama/convert/sentencepiece"
)

// Bad checkpoints: one clear error each, naming the file and the problem,
// and nothing left in the output folder.
func TestBadCheckpoints(t *testing.T) {
	tiny := converttest.Tiny()
	cases := []struct {
		name  string
		shape func(*converttest.Shape)
		edit  func(t *testing.T, ck *converttest.Checkpoint)
		want  []string
	}{
		{name: "missing shard", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.Remove(filepath.Join(ck.Dir, "model-00002-of-00003.safetensors"))
		}, want: []string{"model-00002-of-00003.safetensors", "missing", "incomplete"}},
		{name: "missing tensor", shape: func(s *converttest.Shape) {
			s.Omit = []string{"llama.layers.1.mlp.up_proj.weight"}
		}, want: []string{"llama.layers.1.mlp.up_proj.weight is missing"}},
		{name: "unexpected tensor", shape: func(s *converttest.Shape) {
			s.Extra = []string{"vision_tower.attn_pool.query"}
		}, want: []string{"unexpected tensor vision_tower.attn_pool.query"}},
		{name: "wrong shape", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			edit(t, ck, func(c map[string]any) { c["llama"].(map[string]any)["intermediate_size"] = 384 })
		}, want: []string{"llama.layers.0.mlp.down_proj.weight has shape [256 512]", "config.json implies [256 384]"}},
		{name: "wrong vision width", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			edit(t, ck, func(c map[string]any) {
				c["clip_vision_cfg"].(map[string]any)["width"] = 192
				c["mm_projector_dim"] = 192
			})
		}, want: []string{"mm_projector.weight has shape [256 128]", "config.json implies [256 192]"}},
		{name: "unsupported dtype", shape: func(s *converttest.Shape) { s.DType, s.Shards = "F64", 1 },
			want: []string{"model-00001-of-00001.safetensors", "type F64", "BF16, F16 and F32"}},
		{name: "truncated shard", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			p := filepath.Join(ck.Dir, "model-00003-of-00003.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, want: []string{"model-00003-of-00003.safetensors is truncated"}},
		{name: "LFS pointer", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.WriteFile(filepath.Join(ck.Dir, "model-00001-of-00003.safetensors"),
				[]byte("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 4920000000\n"), 0o644)
		}, want: []string{"model-00001-of-00003.safetensors is a Git LFS pointer", "git lfs pull"}},
		{name: "no config", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.Remove(filepath.Join(ck.Dir, "config.json"))
		}, want: []string{"config.json is missing", "ECOFRI/CXR-LLAVA-v2"}},
		{name: "config of another model", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.WriteFile(filepath.Join(ck.Dir, "config.json"), []byte(`{"model_type": "llava", "text_config": {}}`), 0o644)
		}, want: []string{"config.json", "not a CXR-LLaVA v2 configuration"}},
		{name: "rope scaling", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			edit(t, ck, func(c map[string]any) {
				c["llama"].(map[string]any)["rope_scaling"] = map[string]any{"type": "linear", "factor": 2}
			})
		}, want: []string{"llama.rope_scaling", "plain RoPE"}},
		{name: "attention pooling tower", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			edit(t, ck, func(c map[string]any) { c["clip_vision_cfg"].(map[string]any)["attentional_pool"] = true })
		}, want: []string{"clip_vision_cfg.attentional_pool is true"}},
		{name: "no tokenizer", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.Remove(filepath.Join(ck.Dir, "tokenizer.model"))
		}, want: []string{"tokenizer.model is missing"}},
		{name: "tokenizer without byte pieces", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			m := converttest.Tokenizer(true)
			var kept []*sentencepiece.ModelProto_SentencePiece
			for _, p := range m.Pieces {
				if p.GetType() != sentencepiece.ModelProto_SentencePiece_BYTE {
					kept = append(kept, p)
				}
			}
			m.Pieces = kept
			converttest.WriteTokenizer(filepath.Join(ck.Dir, "tokenizer.model"), m)
		}, want: []string{"tokenizer.model", "0 byte pieces", "byte fallback"}},
		{name: "unigram tokenizer", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			m := converttest.Tokenizer(true)
			m.TrainerSpec.ModelType = sentencepiece.TrainerSpec_UNIGRAM.Enum()
			converttest.WriteTokenizer(filepath.Join(ck.Dir, "tokenizer.model"), m)
		}, want: []string{"tokenizer.model", "UNIGRAM", "BPE"}},
		{name: "not a tokenizer", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.WriteFile(filepath.Join(ck.Dir, "tokenizer.model"), []byte("<html>rate limited</html>"), 0o644)
		}, want: []string{"tokenizer.model is not a SentencePiece model"}},
		{name: "foreign added tokens", edit: func(t *testing.T, ck *converttest.Checkpoint) {
			os.WriteFile(filepath.Join(ck.Dir, "added_tokens.json"), []byte(`{"<image>": 32000}`), 0o644)
		}, want: []string{"added_tokens.json", `"<image>"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := tiny
			if c.shape != nil {
				c.shape(&s)
			}
			ck, err := converttest.Write(filepath.Join(dir, "ckpt"), s, seed)
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				c.edit(t, ck)
			}
			out := filepath.Join(dir, "out")
			_, err = Convert(context.Background(), Options{From: ck.Dir, Out: out, Type: quant.Q8_0})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			assertEmpty(t, out)
		})
	}
}

func edit(t *testing.T, ck *converttest.Checkpoint, f func(map[string]any)) {
	t.Helper()
	if err := ck.EditConfig(f); err != nil {
		t.Fatal(err)
	}
}

// assertEmpty fails if dir holds anything (a missing dir is empty).
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("%s left behind in %s", e.Name(), dir)
	}
}

// smallDisk mounts a tmpfs of size bytes (root only, as `make test` in CI
// runs; skipped elsewhere).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("simulating a full disk mounts a tmpfs, which needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A disk too small for the output: refused before writing when the free
// space is known, and when a write fails all the same the temporary files
// go away and nothing appears.
func TestFullDisk(t *testing.T) {
	ck, results := converted(t)
	need := results[quant.Q8_0].TextBytes + results[quant.Q8_0].ProjectorBytes
	disk := smallDisk(t, "1m")
	if need < 2<<20 {
		t.Fatalf("the tiny conversion (%d bytes) fits the 1 MiB disk; the test needs it not to", need)
	}
	out := filepath.Join(disk, "models")
	_, err := Convert(context.Background(), Options{From: ck.Dir, Out: out, Type: quant.Q8_0})
	if err == nil || !strings.Contains(err.Error(), "not enough space in "+out) {
		t.Errorf("space check: %v", err)
	}
	assertEmpty(t, out)

	_, err = Convert(context.Background(), Options{From: ck.Dir, Out: out, Type: quant.Q8_0, skipSpaceCheck: true})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), out) {
		t.Errorf("failed write: %v", err)
	}
	assertEmpty(t, out)
}

// Cancelling (Ctrl-C) stops the conversion and leaves nothing behind.
func TestCancel(t *testing.T) {
	ck, _ := converted(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "out")
	_, err := Convert(ctx, Options{From: ck.Dir, Out: out, Type: quant.Q4_K_M})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelled conversion: %v", err)
	}
	assertEmpty(t, out)
}
