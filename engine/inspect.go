package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"cxrview/engine/gguf"
)

// Metadata keys cxrview writes into the GGUF files it makes. WriteGGUF puts
// keys outside general.* under the architecture's name, hence the prefixes.
const (
	// KeyFamily marks a CXR-LLaVA projector: "cxr-llava-v2".
	KeyFamily = "clip.cxrview.family"
	// KeyCLSLayout records how the converter worked around the vendored
	// llama.cpp's class-token order (model notes §8.4).
	KeyCLSLayout = "clip.cxrview.cls_layout"
	// KeyTestModel marks random-weight models made for tests and benchmarks.
	KeyTestModel = "general.cxrview.test_model"
	// KeyHFLegacy records transformers' LlamaTokenizer "legacy" flag of
	// the converted checkpoint (absent: legacy). With legacy false the
	// reference puts no word-start mark after special tokens; the converter
	// then turns llama.cpp's add_space_prefix off and the engine puts the
	// mark at the start of each prompt chunk itself, as transformers does.
	KeyHFLegacy      = "tokenizer.cxrview.hf_legacy"
	FamilyCXRLLaVAv2 = "cxr-llava-v2"
	// LayoutCLSLastSwap: position rows 0 and N swapped in the file, input
	// blocks rotated by one before encoding (ReorderForProjector).
	LayoutCLSLastSwap = "cls_last_swap_v1"
)

// knownLayouts are the CLS layouts this build's llama.cpp handles. A layout
// written for a fixed llama.cpp would be silently wrong here, so anything
// else is refused.
var knownLayouts = map[string]bool{LayoutCLSLastSwap: true}

// Inspection is what the files of a model pair say about it, read without
// loading any weights.
type Inspection struct {
	Name         string
	Template     Template
	General      bool
	TestModel    bool
	BlockRotate  bool
	ImageSize    int
	PatchSize    int
	ImageTokens  int
	Embedding    int
	Layers       int
	TrainContext int
	HeadsKV      int
	Heads        int
	LayerBytes   []uint64 // weights of each repeating layer
	OutputBytes  uint64   // token embedding, output norm and head
	TextBytes    uint64   // the whole language model file
	VisionBytes  uint64   // the whole projector file
	TextType     string   // the dominant tensor type, e.g. Q4_K
	// ChunkSpace: the engine starts each prompt chunk that does not open
	// with a special token with a space (non-legacy tokenizers, KeyHFLegacy).
	ChunkSpace bool
}

// KVBytesPerToken is the f16 KV cache size of one position over all layers.
func (in Inspection) KVBytesPerToken() uint64 {
	if in.Heads == 0 {
		return 0
	}
	kvWidth := uint64(in.Embedding) * uint64(in.HeadsKV) / uint64(in.Heads)
	return 2 * kvWidth * 2 * uint64(in.Layers)
}

// Inspect checks that text and projector are a usable LLaVA-style pair and
// describes them. Every check that llama.cpp would answer with an abort (a
// missing key, a key of the wrong type) is made here first, with an error
// that names the file and the problem.
func Inspect(text, projector string) (Inspection, error) {
	var in Inspection
	tf, err := gguf.Open(text)
	if err != nil {
		return in, fmt.Errorf("language model: %w", nameErr(text, err))
	}
	pf, err := gguf.Open(projector)
	if err != nil {
		return in, fmt.Errorf("projector: %w", nameErr(projector, err))
	}
	if a := tf.Architecture(); a != "llama" {
		if a == "clip" {
			return in, fmt.Errorf("%s is a vision projector, not a language model: are the two files swapped?", text)
		}
		return in, fmt.Errorf("%s: architecture %q is not supported (cxrview runs LLaMA-based LLaVA models)", text, a)
	}
	if a := pf.Architecture(); a != "clip" {
		if a == "llama" {
			return in, fmt.Errorf("%s is a language model, not a vision projector (mmproj): are the two files swapped?", projector)
		}
		return in, fmt.Errorf("%s: architecture %q is not a vision projector (want clip)", projector, a)
	}
	if err := inspectText(tf, &in); err != nil {
		return in, fmt.Errorf("%s: %w", text, err)
	}
	if err := inspectProjector(pf, &in); err != nil {
		return in, fmt.Errorf("%s: %w", projector, err)
	}
	in.TextBytes, in.VisionBytes = uint64(tf.Size), uint64(pf.Size)
	if name, ok := tf.String("general.name"); ok && name != "" {
		in.Name = name
	} else {
		in.Name = strings.TrimSuffix(filepath.Base(text), filepath.Ext(text))
	}
	return in, nil
}

func nameErr(path string, err error) error {
	if errors.Is(err, gguf.ErrNotGGUF) {
		return fmt.Errorf("%s is not a GGUF model file", path)
	}
	return err
}

func inspectText(f *gguf.File, in *Inspection) error {
	need := func(key string) (int, error) {
		v, ok := f.Uint(key)
		if !ok || v == 0 {
			return 0, fmt.Errorf("metadata %s is missing or not a positive integer", key)
		}
		return int(v), nil
	}
	var err error
	if in.Embedding, err = need("llama.embedding_length"); err != nil {
		return err
	}
	if in.Layers, err = need("llama.block_count"); err != nil {
		return err
	}
	if in.Heads, err = need("llama.attention.head_count"); err != nil {
		return err
	}
	in.HeadsKV = in.Heads
	if v, ok := f.Uint("llama.attention.head_count_kv"); ok && v > 0 {
		in.HeadsKV = int(v)
	}
	if v, ok := f.Uint("llama.context_length"); ok {
		in.TrainContext = int(v)
	}
	if in.Embedding%in.Heads != 0 || (in.Embedding/in.Heads)%2 != 0 {
		return fmt.Errorf("embedding width %d does not split into %d heads of even size", in.Embedding, in.Heads)
	}
	if m, _ := f.String("tokenizer.ggml.model"); m == "" {
		return errors.New("the file has no tokenizer (tokenizer.ggml.model)")
	}
	if _, ok := f.Tensor("token_embd.weight"); !ok {
		return errors.New("tensor token_embd.weight is missing")
	}
	in.LayerBytes = make([]uint64, in.Layers)
	types := map[uint32]uint64{}
	for _, t := range f.Tensors {
		types[t.Type] += t.Bytes
		var n int
		if _, err := fmt.Sscanf(t.Name, "blk.%d.", &n); err == nil && n >= 0 && n < in.Layers {
			in.LayerBytes[n] += t.Bytes
		} else {
			in.OutputBytes += t.Bytes
		}
	}
	for i, b := range in.LayerBytes {
		if b == 0 {
			return fmt.Errorf("layer %d has no tensors (block_count is %d)", i, in.Layers)
		}
	}
	var best uint64
	for t, b := range types {
		if b > best {
			best, in.TextType = b, gguf.TypeName(t)
		}
	}
	if v, ok := f.Bool(KeyTestModel); ok && v {
		in.TestModel = true
	}
	if legacy, ok := f.Bool(KeyHFLegacy); ok && !legacy {
		if prefix, ok := f.Bool("tokenizer.ggml.add_space_prefix"); !ok || prefix {
			return errors.New("the tokenizer is marked non-legacy but llama.cpp's add_space_prefix is on: convert the checkpoint again")
		}
		in.ChunkSpace = true
	}
	return nil
}

func inspectProjector(f *gguf.File, in *Inspection) error {
	if v, ok := f.Bool("clip.has_vision_encoder"); !ok || !v {
		return errors.New("clip.has_vision_encoder is not true: this projector has no vision encoder")
	}
	if pt, ok := f.String("clip.projector_type"); ok && pt != "mlp" {
		return fmt.Errorf("projector type %q is not supported (cxrview runs LLaVA's mlp projector)", pt)
	}
	// llama.cpp reads these with getters that abort on a wrong type.
	u32 := []string{"clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
		"clip.vision.feed_forward_length", "clip.vision.attention.head_count", "clip.vision.block_count",
		"clip.vision.projection_dim"}
	vals := map[string]int{}
	for _, k := range u32 {
		v, ok := f.KV[k]
		if !ok {
			return fmt.Errorf("metadata %s is missing", k)
		}
		if v.Type != gguf.TypeUint32 {
			return fmt.Errorf("metadata %s has GGUF type %d, llama.cpp needs uint32", k, v.Type)
		}
		n, _ := v.Uint()
		if n == 0 {
			return fmt.Errorf("metadata %s is 0", k)
		}
		vals[k] = int(n)
	}
	if v, ok := f.KV["clip.vision.attention.layer_norm_epsilon"]; !ok || v.Type != gguf.TypeFloat32 {
		return errors.New("metadata clip.vision.attention.layer_norm_epsilon is missing or not float32")
	}
	for _, k := range []string{"clip.vision.image_mean", "clip.vision.image_std"} {
		v, ok := f.KV[k]
		if !ok || v.Type != gguf.TypeArray || v.Elem != gguf.TypeFloat32 || v.Len < 3 {
			return fmt.Errorf("metadata %s is missing or not three float32 values", k)
		}
	}
	if v, ok := f.KV["clip.vision.feature_layer"]; ok && (v.Type != gguf.TypeArray || v.Elem != gguf.TypeInt32) {
		return errors.New("metadata clip.vision.feature_layer is not an int32 array")
	}
	in.ImageSize, in.PatchSize = vals["clip.vision.image_size"], vals["clip.vision.patch_size"]
	if in.ImageSize%in.PatchSize != 0 {
		return fmt.Errorf("image size %d is not a multiple of the patch size %d", in.ImageSize, in.PatchSize)
	}
	grid := in.ImageSize / in.PatchSize
	in.ImageTokens = grid * grid
	width := vals["clip.vision.embedding_length"]
	if width%vals["clip.vision.attention.head_count"] != 0 {
		return fmt.Errorf("vision width %d does not split into %d heads", width, vals["clip.vision.attention.head_count"])
	}
	for _, name := range []string{"v.patch_embd.weight", "v.position_embd.weight", "mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"} {
		if _, ok := f.Tensor(name); !ok {
			return fmt.Errorf("tensor %s is missing", name)
		}
	}
	for i := 0; i < vals["clip.vision.block_count"]; i++ {
		for _, s := range []string{"attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down", "ln1", "ln2"} {
			if _, ok := f.Tensor(fmt.Sprintf("v.blk.%d.%s.weight", i, s)); !ok {
				return fmt.Errorf("tensor v.blk.%d.%s.weight is missing (block_count is %d)", i, s, vals["clip.vision.block_count"])
			}
		}
	}
	pos, _ := f.Tensor("v.position_embd.weight")
	_, hasCLS := f.Tensor("v.class_embd")
	wantPos := in.ImageTokens
	if hasCLS {
		wantPos++
	}
	if len(pos.Shape) != 2 || int(pos.Shape[0]) != width || int(pos.Shape[1]) != wantPos {
		return fmt.Errorf("position table has shape %v, want [%d %d] for %d×%d patches", pos.Shape, width, wantPos, grid, grid)
	}
	mm2, _ := f.Tensor("mm.2.weight")
	if len(mm2.Shape) != 2 {
		return fmt.Errorf("tensor mm.2.weight has shape %v", mm2.Shape)
	}
	if out := int(mm2.Shape[1]); out != in.Embedding {
		return fmt.Errorf("the projector produces %d-wide embeddings but the language model is %d wide: these files do not belong together", out, in.Embedding)
	}
	family, _ := f.String(KeyFamily)
	layout, hasLayout := f.String(KeyCLSLayout)
	switch {
	case family == FamilyCXRLLaVAv2:
		if !hasLayout || !knownLayouts[layout] {
			return fmt.Errorf("CXR-LLaVA projector with CLS layout %q, which this build's llama.cpp does not handle (it knows %s): convert the checkpoint again with this version of cxrview", layout, LayoutCLSLastSwap)
		}
		in.Template = TemplateCXRLLaVA
		in.BlockRotate = layout == LayoutCLSLastSwap
	case family != "":
		return fmt.Errorf("unknown model family %q", family)
	default:
		in.Template, in.General = TemplateVicuna, true
	}
	if v, ok := f.Bool(KeyTestModel); ok && v {
		in.TestModel = true
	}
	return nil
}
