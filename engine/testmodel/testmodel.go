// Package testmodel writes random-weight LLaVA-style GGUF pairs — a LLaMA
// language model and a CLIP projector — of chosen shapes. Tests run the real
// engine on the tiny ones; benchmarks use the 7B shapes, which cost as much
// to run as the real models. Their text is never a report: the files are
// marked as test models and the viewer labels their output TEST MODEL.
package testmodel

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cxrview/engine"
	"cxrview/engine/cxr"
	"cxrview/engine/quant"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// Shape is the geometry of a model pair.
type Shape struct {
	Name        string
	Description string
	// Language model.
	Embd, Layers, Heads, HeadsKV, FF, Vocab, Context int
	// Vision tower.
	Image, Patch, VWidth, VLayers, VHeads, VFF int
	// CXR lays the projector out as cxrview's converter does for CXR-LLaVA
	// (one linear layer, class-token workaround); otherwise it is
	// LLaVA-1.5's two-layer projector of width VHidden.
	CXR     bool
	VHidden int
	// VisionType is the type of the vision tower's matrices.
	VisionType uint32
}

// Shapes lists the shapes the generator knows.
func Shapes() []Shape {
	return []Shape{
		{Name: "tiny", Description: "CXR-LLaVA layout, 64×64 image, 16 image tokens, 0.5 MB",
			Embd: 64, Layers: 2, Heads: 4, HeadsKV: 4, FF: 128, Vocab: 512, Context: 4096,
			Image: 64, Patch: 16, VWidth: 32, VLayers: 2, VHeads: 2, VFF: 64, CXR: true, VisionType: quant.TypeF32},
		{Name: "tiny-llava", Description: "LLaVA-1.5 layout (vicuna template), 56×56 image, 16 image tokens",
			Embd: 64, Layers: 2, Heads: 4, HeadsKV: 4, FF: 128, Vocab: 512, Context: 4096,
			Image: 56, Patch: 14, VWidth: 32, VLayers: 2, VHeads: 2, VFF: 64, VHidden: 64, VisionType: quant.TypeF32},
		{Name: "cxr7b", Description: "CXR-LLaVA-v2 shape: LLaMA-2-7B and ViT-L/16 at 512, 1024 image tokens",
			Embd: 4096, Layers: 32, Heads: 32, HeadsKV: 32, FF: 11008, Vocab: 32000, Context: 4096,
			Image: 512, Patch: 16, VWidth: 1024, VLayers: 24, VHeads: 16, VFF: 4096, CXR: true, VisionType: quant.TypeF16},
		{Name: "llava7b", Description: "LLaVA-1.5-7B shape: Vicuna-7B and CLIP ViT-L/14 at 336, 576 image tokens",
			Embd: 4096, Layers: 32, Heads: 32, HeadsKV: 32, FF: 11008, Vocab: 32000, Context: 4096,
			Image: 336, Patch: 14, VWidth: 1024, VLayers: 24, VHeads: 16, VFF: 4096, VHidden: 4096, VisionType: quant.TypeF16},
	}
}

// Lookup returns the shape called name.
func Lookup(name string) (Shape, error) {
	var names []string
	for _, s := range Shapes() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Shape{}, fmt.Errorf("unknown model shape %q (want %s)", name, strings.Join(names, ", "))
}

// Files are the paths of a generated pair.
type Files struct{ Text, Projector string }

// Paths returns where Generate puts a pair in dir.
func Paths(dir string, s Shape, ft quant.FileType) Files {
	return Files{
		Text:      filepath.Join(dir, fmt.Sprintf("%s-%s.gguf", s.Name, ft)),
		Projector: filepath.Join(dir, fmt.Sprintf("%s-mmproj.gguf", s.Name)),
	}
}

// Generate writes a pair into dir (created if needed) and returns its paths.
// The same shape, type and seed always give the same bytes.
func Generate(dir string, s Shape, ft quant.FileType, seed uint64) (Files, error) {
	return GenerateContext(context.Background(), dir, s, ft, seed)
}

// GenerateContext is Generate that stops when ctx is cancelled (a 7B
// model takes minutes), leaving no partial or temporary file behind (a
// killed process leaves its cxr.TempPattern file).
func GenerateContext(ctx context.Context, dir string, s Shape, ft quant.FileType, seed uint64) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, err
	}
	p := Paths(dir, s, ft)
	if err := writeText(ctx, p.Text, s, ft, seed); err != nil {
		return Files{}, err
	}
	if err := ctx.Err(); err != nil {
		return Files{}, err
	}
	if err := writeVision(ctx, p.Projector, s, seed); err != nil {
		return Files{}, err
	}
	return p, nil
}

// Vocabulary returns the test vocabulary: the three SentencePiece specials at
// LLaMA's ids (unk 0, bos 1, eos 2), all 256 byte tokens <0x00>…<0xFF> at
// ids 3…258 as in LLaMA (llama.cpp needs them for byte fallback), the word
// marker, printable ASCII, and filler pieces up to n.
func Vocabulary(n int) (tokens []string, scores []float32, types []int32) {
	add := func(t string, score float32, typ int32) {
		tokens = append(tokens, t)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, 2)
	add("<s>", 0, 3)
	add("</s>", 0, 3)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, 6)
	}
	seen := map[string]bool{}
	normal := func(t string) {
		if len(tokens) < n && !seen[t] {
			seen[t] = true
			add(t, -float32(len(tokens)), 1)
		}
	}
	normal("▁")
	for c := byte(33); c < 127; c++ {
		normal(string(c))
		normal("▁" + string(c))
	}
	for _, w := range []string{"the", "no", "heart", "lung", "lungs", "size", "normal", "pleural", "effusion",
		"pneumothorax", "consolidation", "edema", "cardiomegaly", "atelectasis", "is", "are", "of", "and", "clear"} {
		normal("▁" + w)
	}
	for i := 0; len(tokens) < n; i++ {
		normal(fmt.Sprintf("▁w%d", i))
	}
	return tokens, scores, types
}

func writeText(ctx context.Context, path string, s Shape, ft quant.FileType, seed uint64) error {
	tokens, scores, types := Vocabulary(s.Vocab)
	kv := fsggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "cxrview test model (" + s.Name + ")",
		"general.file_type":                      ft.GGUF(),
		"llama.context_length":                   uint32(s.Context),
		"llama.embedding_length":                 uint32(s.Embd),
		"llama.block_count":                      uint32(s.Layers),
		"llama.feed_forward_length":              uint32(s.FF),
		"llama.rope.dimension_count":             uint32(s.Embd / s.Heads),
		"llama.attention.head_count":             uint32(s.Heads),
		"llama.attention.head_count_kv":          uint32(s.HeadsKV),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.freq_base":                   float32(10000),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.scores":                  scores,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.unknown_token_id":        uint32(0),
		"tokenizer.ggml.padding_token_id":        uint32(0),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_eos_token":           false,
		engine.KeyTestModel:                      true,
	}
	kvw := s.Embd / s.Heads * s.HeadsKV
	var ts []*fsggml.Tensor
	add := func(name string, layer int, scale, offset float32, shape ...uint64) {
		t := quant.TextType(name, shape, layer, s.Layers, ft)
		ts = append(ts, &fsggml.Tensor{Name: name, Kind: t, Shape: shape,
			WriterTo: randomTensor{ctx: ctx, seed: seed, name: name, shape: shape, typ: t, scale: scale, offset: offset}})
	}
	e, f, v := uint64(s.Embd), uint64(s.FF), uint64(s.Vocab)
	// Scales keep activations in range for any depth: 1/sqrt(fan-in).
	we, wf := float32(1/math.Sqrt(float64(e))), float32(1/math.Sqrt(float64(f)))
	add("token_embd.weight", -1, 1, 0, e, v)
	add("output_norm.weight", -1, 0.1, 1, e)
	add("output.weight", -1, we, 0, e, v)
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		add(p+"attn_norm.weight", i, 0.1, 1, e)
		add(p+"attn_q.weight", i, we, 0, e, e)
		add(p+"attn_k.weight", i, we, 0, e, uint64(kvw))
		add(p+"attn_v.weight", i, we, 0, e, uint64(kvw))
		add(p+"attn_output.weight", i, we, 0, e, e)
		add(p+"ffn_norm.weight", i, 0.1, 1, e)
		add(p+"ffn_gate.weight", i, we, 0, e, f)
		add(p+"ffn_up.weight", i, we, 0, e, f)
		add(p+"ffn_down.weight", i, wf, 0, f, e)
	}
	return cxr.WriteFile(path, kv, ts)
}

// CXRVision returns the random original-layout vision tower of a CXR shape;
// the same seed gives the same weights, which the numerical oracle uses.
func CXRVision(s Shape, seed uint64) *cxr.Vision {
	w, ff, n := s.VWidth, s.VFF, (s.Image/s.Patch)*(s.Image/s.Patch)
	r := func(name string, count int, scale, offset float32) []float32 {
		return values(seed, "orig."+name, count, scale, offset)
	}
	sw, sf := float32(1/math.Sqrt(float64(w))), float32(1/math.Sqrt(float64(ff)))
	v := &cxr.Vision{
		ImageSize: s.Image, Patch: s.Patch, Width: w, Layers: s.VLayers, Heads: s.VHeads, FF: ff, Out: s.Embd,
		Eps: 1e-5, Mean: 0.5518136078431373, Std: 0.3821719215686275,
		Conv:  r("conv1", w*s.Patch*s.Patch, float32(1/float64(s.Patch)), 0),
		Class: r("class", w, 1, 0),
		Pos:   r("pos", (n+1)*w, 1, 0),
		PreW:  r("ln_pre.w", w, 0.2, 1), PreB: r("ln_pre.b", w, 0.2, 0),
		PostW: r("ln_post.w", w, 0.2, 1), PostB: r("ln_post.b", w, 0.2, 0),
		ProjW: r("proj.w", s.Embd*w, sw, 0), ProjB: r("proj.b", s.Embd, 0.1, 0),
	}
	for i := 0; i < s.VLayers; i++ {
		p := fmt.Sprintf("blk%d.", i)
		v.Blocks = append(v.Blocks, cxr.Block{
			LN1W: r(p+"ln1.w", w, 0.2, 1), LN1B: r(p+"ln1.b", w, 0.2, 0),
			InW: r(p+"in.w", 3*w*w, sw, 0), InB: r(p+"in.b", 3*w, 0.1, 0),
			OutW: r(p+"out.w", w*w, sw, 0), OutB: r(p+"out.b", w, 0.1, 0),
			LN2W: r(p+"ln2.w", w, 0.2, 1), LN2B: r(p+"ln2.b", w, 0.2, 0),
			FcW: r(p+"fc.w", ff*w, sw, 0), FcB: r(p+"fc.b", ff, 0.1, 0),
			PrW: r(p+"pr.w", w*ff, sf, 0), PrB: r(p+"pr.b", w, 0.1, 0),
		})
	}
	return v
}

func writeVision(ctx context.Context, path string, s Shape, seed uint64) error {
	name := "cxrview test projector (" + s.Name + ")"
	if s.CXR {
		return CXRVision(s, seed).WriteGGUF(path, name, s.VisionType, true)
	}
	// LLaVA-1.5: CLIP with quick-GELU, features from the second-to-last
	// block (llama.cpp's default), projector Linear → GELU → Linear.
	w, ff, n := uint64(s.VWidth), uint64(s.VFF), uint64((s.Image/s.Patch)*(s.Image/s.Patch))
	kv := fsggml.KV{
		"general.architecture":                     "clip",
		"general.name":                             name,
		"general.file_type":                        uint32(1),
		"clip.has_vision_encoder":                  true,
		"clip.has_text_encoder":                    false,
		"clip.has_llava_projector":                 true,
		"clip.projector_type":                      "mlp",
		"clip.vision.image_size":                   uint32(s.Image),
		"clip.vision.patch_size":                   uint32(s.Patch),
		"clip.vision.embedding_length":             uint32(s.VWidth),
		"clip.vision.feed_forward_length":          uint32(s.VFF),
		"clip.vision.projection_dim":               uint32(s.Embd),
		"clip.vision.attention.head_count":         uint32(s.VHeads),
		"clip.vision.attention.layer_norm_epsilon": float32(1e-5),
		"clip.vision.block_count":                  uint32(s.VLayers),
		"clip.vision.image_mean":                   []float32{0.48145466, 0.4578275, 0.40821073},
		"clip.vision.image_std":                    []float32{0.26862954, 0.26130258, 0.27577711},
		engine.KeyTestModel:                        true,
	}
	var ts []*fsggml.Tensor
	add := func(name string, typ uint32, scale, offset float32, shape ...uint64) {
		if len(shape) < 2 {
			typ = quant.TypeF32
		}
		ts = append(ts, &fsggml.Tensor{Name: name, Kind: typ, Shape: shape,
			WriterTo: randomTensor{ctx: ctx, seed: seed, name: name, shape: shape, typ: typ, scale: scale, offset: offset}})
	}
	vt := s.VisionType
	sw, sf := float32(1/math.Sqrt(float64(w))), float32(1/math.Sqrt(float64(ff)))
	add("v.patch_embd.weight", vt, float32(1/float64(s.Patch)), 0, uint64(s.Patch), uint64(s.Patch), 3, w)
	add("v.class_embd", quant.TypeF32, 1, 0, w)
	add("v.position_embd.weight", quant.TypeF32, 1, 0, w, n+1)
	add("v.pre_ln.weight", quant.TypeF32, 0.2, 1, w)
	add("v.pre_ln.bias", quant.TypeF32, 0.2, 0, w)
	for i := 0; i < s.VLayers; i++ {
		p := fmt.Sprintf("v.blk.%d.", i)
		for _, m := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
			add(p+m+".weight", vt, sw, 0, w, w)
			add(p+m+".bias", quant.TypeF32, 0.1, 0, w)
		}
		add(p+"ln1.weight", quant.TypeF32, 0.2, 1, w)
		add(p+"ln1.bias", quant.TypeF32, 0.2, 0, w)
		add(p+"ln2.weight", quant.TypeF32, 0.2, 1, w)
		add(p+"ln2.bias", quant.TypeF32, 0.2, 0, w)
		add(p+"ffn_up.weight", vt, sw, 0, w, ff)
		add(p+"ffn_up.bias", quant.TypeF32, 0.1, 0, ff)
		add(p+"ffn_down.weight", vt, sf, 0, ff, w)
		add(p+"ffn_down.bias", quant.TypeF32, 0.1, 0, w)
	}
	h, e := uint64(s.VHidden), uint64(s.Embd)
	add("mm.0.weight", vt, sw, 0, w, h)
	add("mm.0.bias", quant.TypeF32, 0.1, 0, h)
	add("mm.2.weight", vt, float32(1/math.Sqrt(float64(h))), 0, h, e)
	add("mm.2.bias", quant.TypeF32, 0.1, 0, e)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return cxr.WriteFile(path, kv, ts)
}

// randomTensor produces its values when written, so that a 7B model never
// sits in memory whole.
type randomTensor struct {
	ctx           context.Context
	seed          uint64
	name          string
	shape         []uint64
	typ           uint32
	scale, offset float32
}

func (r randomTensor) WriteTo(w io.Writer) (int64, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n := uint64(1)
	for _, d := range r.shape {
		n *= d
	}
	data, err := quant.Encode(values(r.seed, r.name, int(n), r.scale, r.offset), r.shape, r.typ)
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", r.name, err)
	}
	m, err := w.Write(data)
	return int64(m), err
}

// values returns count deterministic values, uniform in offset±scale·√3
// (standard deviation scale), from a generator seeded by seed and name.
func values(seed uint64, name string, count int, scale, offset float32) []float32 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	io.WriteString(h, name)
	x := h.Sum64() | 1
	out := make([]float32, count)
	a := float64(scale) * math.Sqrt(3)
	for i := range out {
		// xorshift64*: fast, and good enough for random weights.
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		u := float64((x*0x2545F4914F6CDD1D)>>11) / (1 << 53)
		out[i] = offset + float32((2*u-1)*a)
	}
	return out
}
