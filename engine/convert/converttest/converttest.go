// Package converttest writes synthetic CXR-LLaVA v2 checkpoints for tests
// and benchmarks: the released repository's layout (safetensors shards with
// an index, the tensor names, config.json's structure, a SentencePiece
// tokenizer.model, tokenizer_config.json, added_tokens.json) at chosen
// sizes, with deterministic random weights. The real weights cannot be
// downloaded where the tests run.
package converttest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"cxrview/engine/cxr"

	"github.com/x448/float16"
)

// Shape is the geometry of a synthetic checkpoint.
type Shape struct {
	Embd, FF, Layers, Heads, HeadsKV int // the LLaMA language model
	Context                          int
	Vocab                            int // 0: the tokenizer's size
	Image, Patch, VWidth, VLayers    int // the ViT (head width 64, MLP ratio 4, as open_clip's defaults)
	Shards                           int
	DType                            string // BF16 (the release's), F16 or F32
	// Legacy is tokenizer_config.json's "legacy" flag; nil leaves it out.
	Legacy *bool
	// Omit leaves these tensors out; Extra adds tensors of these names
	// (shape [8]): checkpoints that are not CXR-LLaVA's, for error tests.
	Omit, Extra []string
}

// Tiny is small enough to convert and run in a test: 2+2 layers, 64-pixel
// images of 16 patches, 256-wide language model (so that Q4_K applies).
func Tiny() Shape {
	return Shape{Embd: 256, FF: 512, Layers: 2, Heads: 4, HeadsKV: 4, Context: 4096,
		Image: 64, Patch: 16, VWidth: 128, VLayers: 2, Shards: 3, DType: "BF16"}
}

// Slice7B has CXR-LLaVA's real widths (LLaMA-2-7B, ViT-L/16 at 512) but
// only two layers of each: the largest tensors (token embedding and output
// head, 262 MB each in bf16) are the real ones, so a conversion's memory
// use means what it will mean on the 14 GB checkpoint.
func Slice7B() Shape {
	return Shape{Embd: 4096, FF: 11008, Layers: 2, Heads: 32, HeadsKV: 32, Context: 4096, Vocab: 32000,
		Image: 512, Patch: 16, VWidth: 1024, VLayers: 2, Shards: 3, DType: "BF16"}
}

// Checkpoint is a written synthetic checkpoint.
type Checkpoint struct {
	Dir   string
	Shape Shape
	Seed  uint64
	Vocab int
	Bytes int64 // tensor data
}

// Mean and Std are CXR-LLaVA's input normalisation (config.json).
const (
	Mean = 0.5518136078431373
	Std  = 0.3821719215686275
)

// tensorSpec is one checkpoint tensor.
type tensorSpec struct {
	name          string
	shape         []int
	scale, offset float32
}

func (t tensorSpec) count() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// specs lists the tensors of the released checkpoint (model notes §3.1) for
// shape s and vocabulary size v.
func specs(s Shape, v int) []tensorSpec {
	e, f, w := s.Embd, s.FF, s.VWidth
	kv := e / s.Heads * s.HeadsKV
	n := (s.Image / s.Patch) * (s.Image / s.Patch)
	ffv := 4 * w
	inv := func(fan int) float32 { return float32(1 / math.Sqrt(float64(fan))) }
	var ts []tensorSpec
	add := func(name string, scale, offset float32, shape ...int) {
		ts = append(ts, tensorSpec{name, shape, scale, offset})
	}
	vt := func(s string) string { return "vision_tower." + s }
	add(vt("conv1.weight"), float32(1/float64(s.Patch)), 0, w, 1, s.Patch, s.Patch)
	add(vt("class_embedding"), 1, 0, w)
	add(vt("positional_embedding"), 1, 0, n+1, w)
	add(vt("ln_pre.weight"), 0.2, 1, w)
	add(vt("ln_pre.bias"), 0.2, 0, w)
	for i := 0; i < s.VLayers; i++ {
		b := func(x string) string { return vt(fmt.Sprintf("transformer.resblocks.%d.%s", i, x)) }
		add(b("ln_1.weight"), 0.2, 1, w)
		add(b("ln_1.bias"), 0.2, 0, w)
		add(b("attn.in_proj_weight"), inv(w), 0, 3*w, w)
		add(b("attn.in_proj_bias"), 0.1, 0, 3*w)
		add(b("attn.out_proj.weight"), inv(w), 0, w, w)
		add(b("attn.out_proj.bias"), 0.1, 0, w)
		add(b("ln_2.weight"), 0.2, 1, w)
		add(b("ln_2.bias"), 0.2, 0, w)
		add(b("mlp.c_fc.weight"), inv(w), 0, ffv, w)
		add(b("mlp.c_fc.bias"), 0.1, 0, ffv)
		add(b("mlp.c_proj.weight"), inv(ffv), 0, w, ffv)
		add(b("mlp.c_proj.bias"), 0.1, 0, w)
	}
	add(vt("ln_post.weight"), 0.2, 1, w)
	add(vt("ln_post.bias"), 0.2, 0, w)
	add(vt("proj"), inv(w), 0, w, 128)
	add("mm_projector.weight", inv(w), 0, e, w)
	add("mm_projector.bias", 0.1, 0, e)
	add("llama.embed_tokens.weight", 1, 0, v, e)
	for i := 0; i < s.Layers; i++ {
		l := func(x string) string { return fmt.Sprintf("llama.layers.%d.%s", i, x) }
		add(l("self_attn.q_proj.weight"), inv(e), 0, e, e)
		add(l("self_attn.k_proj.weight"), inv(e), 0, kv, e)
		add(l("self_attn.v_proj.weight"), inv(e), 0, kv, e)
		add(l("self_attn.o_proj.weight"), inv(e), 0, e, e)
		add(l("mlp.gate_proj.weight"), inv(e), 0, f, e)
		add(l("mlp.up_proj.weight"), inv(e), 0, f, e)
		add(l("mlp.down_proj.weight"), inv(f), 0, e, f)
		add(l("input_layernorm.weight"), 0.1, 1, e)
		add(l("post_attention_layernorm.weight"), 0.1, 1, e)
	}
	add("llama.norm.weight", 0.1, 1, e)
	add("lm_head.weight", inv(e), 0, v, e)
	for _, name := range s.Extra {
		add(name, 1, 0, 8)
	}
	out := ts[:0]
	for _, t := range ts {
		omit := false
		for _, o := range s.Omit {
			omit = omit || o == t.name
		}
		if !omit {
			out = append(out, t)
		}
	}
	return out
}

// Write writes a synthetic checkpoint into dir (created if needed).
func Write(dir string, s Shape, seed uint64) (*Checkpoint, error) {
	if s.DType == "" {
		s.DType = "BF16"
	}
	if s.Shards <= 0 {
		s.Shards = 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tok := Tokenizer(true)
	v := s.Vocab
	if v == 0 {
		v = len(tok.Pieces)
	}
	if v < len(tok.Pieces) {
		return nil, fmt.Errorf("vocabulary of %d rows is smaller than the tokenizer's %d pieces", v, len(tok.Pieces))
	}
	if err := WriteTokenizer(filepath.Join(dir, "tokenizer.model"), tok); err != nil {
		return nil, err
	}
	c := &Checkpoint{Dir: dir, Shape: s, Seed: seed, Vocab: v}
	ts := specs(s, v)
	es := dtypeBytes[s.DType]
	if es == 0 {
		return nil, fmt.Errorf("unknown dtype %s", s.DType)
	}
	var total int64
	for _, t := range ts {
		total += int64(t.count() * es)
	}
	// Shards of roughly equal size, in order, as transformers splits them.
	weightMap := map[string]string{}
	per := total/int64(s.Shards) + 1
	var groups [][]tensorSpec
	var size int64
	for _, t := range ts {
		if len(groups) == 0 || (size >= per && len(groups) < s.Shards) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
		size += int64(t.count() * es)
	}
	for i, g := range groups {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		if err := writeShard(filepath.Join(dir, name), g, s.DType, seed); err != nil {
			return nil, err
		}
		for _, t := range g {
			weightMap[t.name] = name
		}
	}
	c.Bytes = total
	index := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
	if err := writeJSON(filepath.Join(dir, "model.safetensors.index.json"), index); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), Config(s, v)); err != nil {
		return nil, err
	}
	tc := map[string]any{
		"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
		"clean_up_tokenization_spaces": false, "model_max_length": 1000000000000000019884624838656.0,
		"pad_token": nil, "padding_side": "right", "sp_model_kwargs": map[string]any{}, "tokenizer_class": "LlamaTokenizer",
	}
	if s.Legacy != nil {
		tc["legacy"] = *s.Legacy
	}
	if err := writeJSON(filepath.Join(dir, "tokenizer_config.json"), tc); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "added_tokens.json"), map[string]int{"</s>": 2, "<s>": 1, "<unk>": 0}); err != nil {
		return nil, err
	}
	return c, nil
}

// Config is config.json as the released repository structures it: the
// CXR-LLaVA wrapper's keys, the LlamaConfig under "llama", open_clip's
// vision configuration under "clip_vision_cfg".
func Config(s Shape, vocab int) map[string]any {
	return map[string]any{
		"_name_or_path": "ECOFRI/CXR-LLAVA-v2",
		"architectures": []string{"CXRLLAVAModel"},
		"auto_map": map[string]string{
			"AutoConfig": "CXR_LLAVA_HF.CXRLLAVAConfig",
			"AutoModel":  "CXR_LLAVA_HF.CXRLLAVAModel",
		},
		"clip_embed_dim":          128,
		"clip_quick_gelu":         false,
		"clip_vision_cfg":         map[string]any{"image_size": s.Image, "layers": s.VLayers, "width": s.VWidth, "patch_size": s.Patch},
		"clip_vision_tower_dtype": "bf16",
		"clip_vision_tower_path":  nil,
		"image_aspect_ratio":      "square",
		"image_grid_pinpoints":    nil,
		"image_preprocess_cfg":    map[string]any{"mean": Mean, "std": Std},
		"llama": map[string]any{
			"architectures": []string{"LlamaForCausalLM"}, "bos_token_id": 1, "eos_token_id": 2,
			"hidden_act": "silu", "hidden_size": s.Embd, "initializer_range": 0.02, "intermediate_size": s.FF,
			"max_position_embeddings": s.Context, "model_type": "llama", "num_attention_heads": s.Heads,
			"num_hidden_layers": s.Layers, "num_key_value_heads": s.HeadsKV, "pad_token_id": 0, "pretraining_tp": 1,
			"rms_norm_eps": 1e-5, "rope_scaling": nil, "rope_theta": 10000.0, "tie_word_embeddings": false,
			"torch_dtype": "bfloat16", "use_cache": true, "vocab_size": vocab,
		},
		"llama_model_dtype":    "bf16",
		"llama_model_path":     nil,
		"mm_projector_dim":     s.VWidth,
		"mm_projector_dtype":   "fp32",
		"mm_projector_path":    nil,
		"model_type":           "CXR-LLAVA",
		"torch_dtype":          "bfloat16",
		"transformers_version": "4.36.2",
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeShard(path string, ts []tensorSpec, dtype string, seed uint64) error {
	es := dtypeBytes[dtype]
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, t := range ts {
		n := int64(t.count() * es)
		header[t.name] = map[string]any{"dtype": dtype, "shape": t.shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	_, err = f.Write(append(lenBuf[:], hb...))
	buf := make([]byte, 0, 1<<20)
	for _, t := range ts {
		if err != nil {
			break
		}
		g := newGen(seed, t.name, t.scale, t.offset)
		for left := t.count(); left > 0 && err == nil; {
			k := min(left, cap(buf)/es)
			buf = buf[:k*es]
			for i := 0; i < k; i++ {
				putValue(buf[i*es:], dtype, g.next())
			}
			_, err = f.Write(buf)
			left -= k
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// dtypeBytes are the safetensors dtypes the writer knows; F64 exists for
// tests of a dtype the converter refuses.
var dtypeBytes = map[string]int{"BF16": 2, "F16": 2, "F32": 4, "F64": 8}

func putValue(b []byte, dtype string, x float32) {
	switch dtype {
	case "F64":
		binary.LittleEndian.PutUint64(b, math.Float64bits(float64(x)))
	case "BF16":
		binary.LittleEndian.PutUint16(b, uint16(math.Float32bits(x)>>16))
	case "F16":
		binary.LittleEndian.PutUint16(b, float16.Fromfloat32(x).Bits())
	case "F32":
		binary.LittleEndian.PutUint32(b, math.Float32bits(x))
	}
}

// stored returns x as the checkpoint stores it (truncated to bf16, or
// rounded to f16), widened back to float32.
func stored(x float32, dtype string) float32 {
	switch dtype {
	case "BF16":
		return math.Float32frombits(math.Float32bits(x) &^ 0xFFFF)
	case "F16":
		return float16.Fromfloat32(x).Float32()
	}
	return x
}

// gen produces a tensor's values: uniform with the given standard
// deviation around offset, from a stream seeded by seed and the name.
type gen struct {
	x             uint64
	scale, offset float64
}

func newGen(seed uint64, name string, scale, offset float32) *gen {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	io.WriteString(h, name)
	return &gen{x: h.Sum64() | 1, scale: float64(scale) * math.Sqrt(3), offset: float64(offset)}
}

func (g *gen) next() float32 {
	g.x ^= g.x >> 12
	g.x ^= g.x << 25
	g.x ^= g.x >> 27
	u := float64((g.x*0x2545F4914F6CDD1D)>>11) / (1 << 53)
	return float32(g.offset + (2*u-1)*g.scale)
}

// Tensor returns a tensor's values exactly as the checkpoint stores them
// (for references computed from the original weights), or nil for a name
// the checkpoint does not have.
func (c *Checkpoint) Tensor(name string) []float32 {
	for _, t := range specs(c.Shape, c.Vocab) {
		if t.name != name {
			continue
		}
		g := newGen(c.Seed, name, t.scale, t.offset)
		out := make([]float32, t.count())
		for i := range out {
			out[i] = stored(g.next(), c.Shape.DType)
		}
		return out
	}
	return nil
}

// Names lists the checkpoint's tensors.
func (c *Checkpoint) Names() []string {
	var names []string
	for _, t := range specs(c.Shape, c.Vocab) {
		names = append(names, t.name)
	}
	sort.Strings(names)
	return names
}

// Vision returns the checkpoint's vision tower and projector in the
// original layout, for the float64 reference.
func (c *Checkpoint) Vision() *cxr.Vision {
	s := c.Shape
	v := &cxr.Vision{ImageSize: s.Image, Patch: s.Patch, Width: s.VWidth, Layers: s.VLayers, Heads: s.VWidth / 64,
		FF: 4 * s.VWidth, Out: s.Embd, Eps: 1e-5, Mean: Mean, Std: Std}
	vt := func(x string) []float32 { return c.Tensor("vision_tower." + x) }
	v.Conv, v.Class, v.Pos = vt("conv1.weight"), vt("class_embedding"), vt("positional_embedding")
	v.PreW, v.PreB, v.PostW, v.PostB = vt("ln_pre.weight"), vt("ln_pre.bias"), vt("ln_post.weight"), vt("ln_post.bias")
	v.ProjW, v.ProjB = c.Tensor("mm_projector.weight"), c.Tensor("mm_projector.bias")
	for i := 0; i < s.VLayers; i++ {
		b := func(x string) []float32 { return vt(fmt.Sprintf("transformer.resblocks.%d.%s", i, x)) }
		v.Blocks = append(v.Blocks, cxr.Block{
			LN1W: b("ln_1.weight"), LN1B: b("ln_1.bias"), InW: b("attn.in_proj_weight"), InB: b("attn.in_proj_bias"),
			OutW: b("attn.out_proj.weight"), OutB: b("attn.out_proj.bias"), LN2W: b("ln_2.weight"), LN2B: b("ln_2.bias"),
			FcW: b("mlp.c_fc.weight"), FcB: b("mlp.c_fc.bias"), PrW: b("mlp.c_proj.weight"), PrB: b("mlp.c_proj.bias"),
		})
	}
	return v
}

// ShardOf returns the shard file that holds a tensor.
func (c *Checkpoint) ShardOf(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "model.safetensors.index.json"))
	if err != nil {
		return "", err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", err
	}
	if f, ok := idx.WeightMap[name]; ok {
		return filepath.Join(c.Dir, f), nil
	}
	return "", fmt.Errorf("no tensor %s", name)
}

// EditConfig rewrites config.json through edit.
func (c *Checkpoint) EditConfig(edit func(cfg map[string]any)) error {
	path := filepath.Join(c.Dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	edit(cfg)
	return writeJSON(path, cfg)
}
