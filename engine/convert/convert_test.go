package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"cxrview/engine"
	"cxrview/engine/convert/converttest"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/gguf"
	"cxrview/engine/llm"
	"cxrview/engine/quant"

	"github.com/x448/float16"
)

// The test binary doubles as the runner (CXRVIEW_TEST_RUNNER=1, argument
// "runner") and as the converter's command line (CXRVIEW_TEST_CONVERT=1),
// so that memory is measured on a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("CXRVIEW_TEST_RUNNER") == "1" {
		os.Exit(llm.Main())
	}
	if os.Getenv("CXRVIEW_TEST_CONVERT") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv("CXRVIEW_TEST_RUNNER", "1")
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// libDir holds ggml's CPU backends: CXRVIEW_LIBDIR, else the repository's
// lib/ollama that `make build` fills.
func libDir() string {
	if d := os.Getenv("CXRVIEW_LIBDIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "lib", "ollama")
}

func newRunner(t testing.TB) *engine.Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := engine.NewRunner(exe, engine.WithLibDir(libDir()))
	t.Cleanup(func() { r.Close() })
	return r
}

const seed = 7

// shared is the tiny checkpoint, converted to every type once per binary.
var shared struct {
	once sync.Once
	dir  string
	ckpt *converttest.Checkpoint
	res  map[quant.FileType]Result
	err  error
}

func converted(t testing.TB) (*converttest.Checkpoint, map[quant.FileType]Result) {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "cxrview-convert-test-")
		if shared.err != nil {
			return
		}
		shared.ckpt, shared.err = converttest.Write(filepath.Join(shared.dir, "ckpt"), converttest.Tiny(), seed)
		if shared.err != nil {
			return
		}
		shared.res = map[quant.FileType]Result{}
		for _, ft := range []quant.FileType{quant.F16, quant.Q8_0, quant.Q4_K_M} {
			var res Result
			res, shared.err = Convert(context.Background(), Options{From: shared.ckpt.Dir, Out: filepath.Join(shared.dir, "out"), Type: ft})
			if shared.err != nil {
				return
			}
			shared.res[ft] = res
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ckpt, shared.res
}

// Proof 1: the tiny checkpoint, converted at every type, loads through the
// runner and generates; its files carry what the engine checks.
func TestConvertedModelsGenerate(t *testing.T) {
	_, results := converted(t)
	for _, ft := range []quant.FileType{quant.F16, quant.Q8_0, quant.Q4_K_M} {
		t.Run(string(ft), func(t *testing.T) {
			res := results[ft]
			checkManifest(t, res)
			in, err := engine.Inspect(res.Text, res.Projector)
			if err != nil {
				t.Fatal(err)
			}
			if in.Template != engine.TemplateCXRLLaVA || !in.BlockRotate || in.TestModel || in.General || in.ImageTokens != 16 {
				t.Fatalf("inspection %+v", in)
			}
			want := map[quant.FileType]string{quant.F16: "F16", quant.Q8_0: "Q8_0", quant.Q4_K_M: "Q4_K"}[ft]
			if in.TextType != want {
				t.Errorf("dominant tensor type %s, want %s", in.TextType, want)
			}
			checkTypes(t, res.Text, ft)

			r := newRunner(t)
			info, err := r.Load(context.Background(), engine.ModelSpec{Text: res.Text, Projector: res.Projector, Context: 1024, Threads: 2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := engine.PresetReport.Question("")
			req := engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: []engine.Turn{{User: q}}, MaxTokens: 12}
			var text strings.Builder
			st, err := r.Generate(context.Background(), req, func(p engine.Piece) { text.WriteString(p.Text) })
			if err != nil {
				t.Fatal(err)
			}
			if st.GenTokens == 0 || text.Len() == 0 {
				t.Fatalf("nothing generated: %+v", st)
			}
			t.Logf("%s: %d tokens %q", ft, st.GenTokens, text.String())
		})
	}
}

// checkManifest compares the manifest's SHA-256 with the files.
func checkManifest(t *testing.T, res Result) {
	t.Helper()
	b, err := os.ReadFile(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("manifest has %d lines:\n%s", len(lines), b)
	}
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("manifest line %q is not in sha256sum format", line)
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(res.Manifest), name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: manifest says %s, file hashes to %x", name, sum, h)
		}
	}
}

// checkTypes verifies each tensor's type against the documented mix.
func checkTypes(t *testing.T, path string, ft quant.FileType) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Tensors); n != 3+9*converttest.Tiny().Layers {
		t.Errorf("%d tensors", n)
	}
	seen := map[string]bool{}
	for _, ts := range f.Tensors {
		name, typ := ts.Name, gguf.TypeName(ts.Type)
		seen[typ] = true
		var want string
		switch {
		case len(ts.Shape) == 1:
			want = "F32"
		case ft == quant.F16:
			want = "F16"
		case ft == quant.Q8_0:
			want = "Q8_0"
		case name == "output.weight":
			want = "Q6_K"
		case strings.HasPrefix(name, "blk.1.") && (strings.HasSuffix(name, "attn_v.weight") || strings.HasSuffix(name, "ffn_down.weight")):
			want = "Q6_K" // the last eighth of the layers gets more bits
		default:
			want = "Q4_K"
		}
		if typ != want {
			t.Errorf("%s: %s, want %s", name, typ, want)
		}
	}
	if ft == quant.Q4_K_M && (!seen["Q4_K"] || !seen["Q6_K"]) {
		t.Errorf("Q4_K_M file without both Q4_K and Q6_K: %v", seen)
	}
}

// readTensor decodes a tensor of a GGUF file.
func readTensor(t *testing.T, path, name string) ([]float32, gguf.Tensor) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %s", path, name)
	}
	raw := make([]byte, ts.Bytes)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.ReadAt(raw, f.DataOffset+int64(ts.Offset)); err != nil {
		t.Fatal(err)
	}
	v, err := quant.Decode(raw, ts.Type, ts.Elements())
	if err != nil {
		t.Fatal(err)
	}
	return v, ts
}

// The F16 file holds the checkpoint's values rounded to f16 (exact for
// bf16 values of normal f16 magnitude, 6·10⁻⁵ to 65504), in llama.cpp's
// layout: names, shapes, and the q/k rows permuted per head.
func TestTextTensorsExact(t *testing.T) {
	ck, results := converted(t)
	path := results[quant.F16].Text
	s := ck.Shape
	hd := s.Embd / s.Heads
	for _, c := range []struct{ gguf, hf string }{
		{"token_embd.weight", "llama.embed_tokens.weight"},
		{"output.weight", "lm_head.weight"},
		{"output_norm.weight", "llama.norm.weight"},
		{"blk.1.attn_q.weight", "llama.layers.1.self_attn.q_proj.weight"},
		{"blk.0.attn_k.weight", "llama.layers.0.self_attn.k_proj.weight"},
		{"blk.0.attn_v.weight", "llama.layers.0.self_attn.v_proj.weight"},
		{"blk.0.attn_output.weight", "llama.layers.0.self_attn.o_proj.weight"},
		{"blk.1.ffn_gate.weight", "llama.layers.1.mlp.gate_proj.weight"},
		{"blk.1.ffn_up.weight", "llama.layers.1.mlp.up_proj.weight"},
		{"blk.1.ffn_down.weight", "llama.layers.1.mlp.down_proj.weight"},
		{"blk.0.attn_norm.weight", "llama.layers.0.input_layernorm.weight"},
		{"blk.0.ffn_norm.weight", "llama.layers.0.post_attention_layernorm.weight"},
	} {
		got, ts := readTensor(t, path, c.gguf)
		want := ck.Tensor(c.hf)
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.gguf, len(got), len(want))
		}
		cols := len(want)
		if len(ts.Shape) == 2 {
			cols = int(ts.Shape[0])
		}
		for i := range want {
			row, col := i/cols, i%cols
			src := row
			if strings.Contains(c.gguf, "attn_q") || strings.Contains(c.gguf, "attn_k") {
				// Row 2j+i of a head came from row i·hd/2 + j.
				h, r := row/hd, row%hd
				src = h*hd + (r%2)*(hd/2) + r/2
			}
			w := want[src*cols+col]
			if len(ts.Shape) == 2 {
				w = float16.Fromfloat32(w).Float32()
			}
			if got[i] != w {
				t.Fatalf("%s[%d][%d] = %g, want %g (from row %d)", c.gguf, row, col, got[i], w, src)
			}
		}
	}
}

// Proof 2: the converted projector through llama.cpp against the float64
// reference of the ORIGINAL architecture. Image tokens 0…N−2 agree; the
// last slot holds the projected class token (llama.cpp #25814, the
// documented limitation of the CLS-order workaround).
func TestConvertedVisionMatchesOriginal(t *testing.T) {
	ck, results := converted(t)
	res := results[quant.F16]
	r := newRunner(t)
	info, err := r.Load(context.Background(), engine.ModelSpec{Text: res.Text, Projector: res.Projector, Context: 1024, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := cxrtest.Image(info.ImageSize)
	got, err := r.Embed(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	cxrtest.CheckEmbeddings(t, ck.Vision(), img, got) // F16 tower
}

// F16 and F32 sources convert like BF16 ones: the F16 file holds each
// source value rounded to f16.
func TestSourceTypes(t *testing.T) {
	_, results := converted(t)
	want := results[quant.F16]
	for _, dt := range []string{"F16", "F32"} {
		t.Run(dt, func(t *testing.T) {
			dir := t.TempDir()
			s := converttest.Tiny()
			s.DType, s.Shards = dt, 1
			ck, err := converttest.Write(filepath.Join(dir, "ckpt"), s, seed)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(context.Background(), Options{From: ck.Dir, Out: filepath.Join(dir, "out"), Type: quant.F16})
			if err != nil {
				t.Fatal(err)
			}
			if res.TextBytes != want.TextBytes || res.ProjectorBytes != want.ProjectorBytes {
				t.Errorf("sizes %d+%d, want %d+%d as from BF16", res.TextBytes, res.ProjectorBytes, want.TextBytes, want.ProjectorBytes)
			}
			got, _ := readTensor(t, res.Text, "token_embd.weight")
			src := ck.Tensor("llama.embed_tokens.weight")
			for i := range src {
				if r := float16.Fromfloat32(src[i]).Float32(); got[i] != r {
					t.Fatalf("token_embd[%d] = %g, want %g (the %s value %g in f16)", i, got[i], r, dt, src[i])
				}
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, 4_000_000_000)
	p.add(1_000_000_000)
	p.start = p.start.Add(-10e9) // ten seconds in
	line := p.line(p.start.Add(10e9))
	for _, want := range []string{"1.00 GB / 4.00 GB", "25%", "100.0 MB/s", "ETA 30s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	p.add(3_000_000_000)
	p.finish()
	out := b.String()
	if strings.Count(out, "\n") < 3 || !strings.Contains(out, "converted  4.00 GB") {
		t.Errorf("progress output:\n%s", out)
	}
}
