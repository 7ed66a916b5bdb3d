// Package cxr maps CXR-LLaVA's vision tower and projector onto llama.cpp's
// CLIP "mlp" projector format. The original architecture (one gray channel,
// class token first, a single linear projector) does not fit that graph as
// is; the transforms here make it fit exactly, and are shared by the
// checkpoint converter and the test-model generator (docs/model.md).
package cxr

import (
	"fmt"
	"io"
	"math"
	"os"

	"cxrview/engine"
	"cxrview/engine/quant"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// Vision is the vision tower and projector in the original layout: PyTorch
// shapes, row-major, float32.
type Vision struct {
	ImageSize, Patch int
	Width, Layers    int
	Heads, FF        int
	Out              int     // the language model's width
	Eps              float32 // LayerNorm epsilon
	Mean, Std        float32 // input normalisation of the 8-bit gray value / 255

	Conv   []float32 // [Width, 1, Patch, Patch]
	Class  []float32 // [Width]
	Pos    []float32 // [Patches+1, Width], row 0 belongs to the class token
	PreW   []float32 // ln_pre
	PreB   []float32
	Blocks []Block
	PostW  []float32 // ln_post
	PostB  []float32
	ProjW  []float32 // mm_projector.weight [Out, Width]
	ProjB  []float32 // mm_projector.bias [Out]
}

// Block is one residual attention block (open_clip's ResidualAttentionBlock).
type Block struct {
	LN1W, LN1B []float32
	InW        []float32 // attn.in_proj_weight [3*Width, Width]: q, k, v rows
	InB        []float32 // [3*Width]
	OutW       []float32 // attn.out_proj.weight [Width, Width]
	OutB       []float32
	LN2W, LN2B []float32
	FcW        []float32 // mlp.c_fc.weight [FF, Width]
	FcB        []float32
	PrW        []float32 // mlp.c_proj.weight [Width, FF]
	PrB        []float32
}

// Patches is the number of image tokens.
func (v *Vision) Patches() int { g := v.ImageSize / v.Patch; return g * g }

// Input is a tensor of the original checkpoint that the projector file is
// made from: its name there and its PyTorch shape.
type Input struct {
	Name  string
	Shape []int
}

// Elements is the number of values the tensor holds.
func (in Input) Elements() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// Checkpoint names of the vision tower's and the projector's tensors.
const (
	towerPrefix = "vision_tower."
	projPrefix  = "mm_projector."
)

// Inputs lists the checkpoint tensors the projector is made from, in the
// released checkpoint's names and shapes. The tower's unused contrastive
// projection (vision_tower.proj) is not among them.
func (v *Vision) Inputs() []Input {
	w, p, n := v.Width, v.Patch, v.Patches()
	t := func(name string, shape ...int) Input { return Input{Name: towerPrefix + name, Shape: shape} }
	ins := []Input{
		t("conv1.weight", w, 1, p, p),
		t("class_embedding", w),
		t("positional_embedding", n+1, w),
		t("ln_pre.weight", w), t("ln_pre.bias", w),
	}
	for i := 0; i < v.Layers; i++ {
		b := fmt.Sprintf("transformer.resblocks.%d.", i)
		ins = append(ins,
			t(b+"ln_1.weight", w), t(b+"ln_1.bias", w),
			t(b+"attn.in_proj_weight", 3*w, w), t(b+"attn.in_proj_bias", 3*w),
			t(b+"attn.out_proj.weight", w, w), t(b+"attn.out_proj.bias", w),
			t(b+"ln_2.weight", w), t(b+"ln_2.bias", w),
			t(b+"mlp.c_fc.weight", v.FF, w), t(b+"mlp.c_fc.bias", v.FF),
			t(b+"mlp.c_proj.weight", w, v.FF), t(b+"mlp.c_proj.bias", w),
		)
	}
	return append(ins,
		t("ln_post.weight", w), t("ln_post.bias", w),
		Input{Name: projPrefix + "weight", Shape: []int{v.Out, w}},
		Input{Name: projPrefix + "bias", Shape: []int{v.Out}},
	)
}

// CheckGeometry verifies the sizes, without looking at any weights.
func (v *Vision) CheckGeometry() error {
	if v.Patch <= 0 || v.ImageSize <= 0 || v.ImageSize%v.Patch != 0 || v.Heads <= 0 || v.Width <= 0 || v.Width%v.Heads != 0 ||
		v.Layers <= 0 || v.FF <= 0 || v.Out <= 0 {
		return fmt.Errorf("invalid vision geometry: image %d, patch %d, width %d, heads %d, layers %d, feed-forward %d, output %d",
			v.ImageSize, v.Patch, v.Width, v.Heads, v.Layers, v.FF, v.Out)
	}
	return nil
}

// Check verifies that the in-memory weights all have their shapes.
func (v *Vision) Check() error {
	if err := v.CheckGeometry(); err != nil {
		return err
	}
	if len(v.Blocks) != v.Layers {
		return fmt.Errorf("%d blocks for %d layers", len(v.Blocks), v.Layers)
	}
	for _, in := range v.Inputs() {
		data, _ := v.memory(in.Name)
		if len(data) != in.Elements() {
			return fmt.Errorf("vision tensor %s has %d values, want %d", in.Name, len(data), in.Elements())
		}
	}
	return nil
}

// memory is the Source of a Vision whose weights are in memory.
func (v *Vision) memory(name string) ([]float32, error) {
	var blk int
	var field string
	if _, err := fmt.Sscanf(name, towerPrefix+"transformer.resblocks.%d.%s", &blk, &field); err == nil {
		if blk < 0 || blk >= len(v.Blocks) {
			return nil, fmt.Errorf("no tensor %s", name)
		}
		b := &v.Blocks[blk]
		m := map[string][]float32{
			"ln_1.weight": b.LN1W, "ln_1.bias": b.LN1B,
			"attn.in_proj_weight": b.InW, "attn.in_proj_bias": b.InB,
			"attn.out_proj.weight": b.OutW, "attn.out_proj.bias": b.OutB,
			"ln_2.weight": b.LN2W, "ln_2.bias": b.LN2B,
			"mlp.c_fc.weight": b.FcW, "mlp.c_fc.bias": b.FcB,
			"mlp.c_proj.weight": b.PrW, "mlp.c_proj.bias": b.PrB,
		}
		if d, ok := m[field]; ok {
			return d, nil
		}
		return nil, fmt.Errorf("no tensor %s", name)
	}
	m := map[string][]float32{
		towerPrefix + "conv1.weight":         v.Conv,
		towerPrefix + "class_embedding":      v.Class,
		towerPrefix + "positional_embedding": v.Pos,
		towerPrefix + "ln_pre.weight":        v.PreW, towerPrefix + "ln_pre.bias": v.PreB,
		towerPrefix + "ln_post.weight": v.PostW, towerPrefix + "ln_post.bias": v.PostB,
		projPrefix + "weight": v.ProjW, projPrefix + "bias": v.ProjB,
	}
	if d, ok := m[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("no tensor %s", name)
}

// Luma weights the three channels llama.cpp feeds the patch kernel with:
// for a gray input (R=G=B) any weights summing to 1 are exact; these also
// reproduce PIL's convert("L") for colour input (up to its rounding).
var luma = [3]float32{0.299, 0.587, 0.114}

// IdentityShift returns the per-feature bias c that keeps the input of
// llama.cpp's projector GELU at or above 10, where ggml's GELU is exactly the
// identity on CPU (and saturates to it on CUDA and Metal). A LayerNorm output
// satisfies |z| ≤ √(width−1) (Samuelson's inequality), so ln_post's output
// y = γz + β is at least β − |γ|√(width−1).
func IdentityShift(postW, postB []float32) []float64 {
	bound := math.Sqrt(float64(len(postW)-1)) + 0.01
	c := make([]float64, len(postW))
	for i := range c {
		low := float64(postB[i]) - math.Abs(float64(postW[i]))*bound
		c[i] = math.Max(0, 10-low) + 1
	}
	return c
}

// Source returns a tensor of the original checkpoint by its name there (see
// Inputs), as float32 values in PyTorch's row-major order.
type Source func(name string) ([]float32, error)

// Tensors returns the mmproj tensors of in-memory weights; see
// StreamTensors for the transforms.
func (v *Vision) Tensors(visionType uint32) ([]*fsggml.Tensor, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	return v.StreamTensors(v.memory, visionType)
}

// StreamTensors returns the mmproj tensors with the converter's transforms:
// three-channel patch kernel, q/k/v split, position rows 0 and N swapped
// (the CLS-order workaround, with ReorderBlocks at run time), the identity
// mm.0 with shift c and mm.2 = W with bias b − W·c. visionType is the type of
// the big block matrices (F16 for real files, F32 for exact tests); the class
// embedding and the projector stay F32, which llama.cpp needs (class) and
// the identity trick needs for exactness (projector).
//
// Only v's geometry is used: each tensor's data is read from src and
// transformed when the tensor is written, so that a checkpoint never sits
// in memory whole. Reading fails if src returns a tensor of the wrong size.
func (v *Vision) StreamTensors(src Source, visionType uint32) ([]*fsggml.Tensor, error) {
	if err := v.CheckGeometry(); err != nil {
		return nil, err
	}
	shapes := map[string]int{}
	for _, in := range v.Inputs() {
		shapes[in.Name] = in.Elements()
	}
	get := func(name string) ([]float32, error) {
		d, err := src(name)
		if err != nil {
			return nil, err
		}
		if len(d) != shapes[name] {
			return nil, fmt.Errorf("tensor %s has %d values, want %d", name, len(d), shapes[name])
		}
		return d, nil
	}
	w, p, n := v.Width, v.Patch, v.Patches()
	var ts []*fsggml.Tensor
	add := func(name string, typ uint32, shape []uint64, make func() ([]float32, error)) {
		if len(shape) < 2 {
			typ = quant.TypeF32
		}
		ts = append(ts, &fsggml.Tensor{Name: name, Kind: typ, Shape: shape,
			WriterTo: lazyTensor{name: name, typ: typ, shape: shape, make: make}})
	}
	// copyOf takes a checkpoint tensor unchanged, or the rows [lo, hi) of it.
	copyOf := func(from string, lo, hi int) func() ([]float32, error) {
		return func() ([]float32, error) {
			d, err := get(from)
			if err != nil {
				return nil, err
			}
			if hi > 0 {
				d = d[lo:hi]
			}
			return d, nil
		}
	}
	vec := func(name, from string, size int) {
		add(name, quant.TypeF32, []uint64{uint64(size)}, copyOf(from, 0, 0))
	}
	tw := func(s string) string { return towerPrefix + s }

	add("v.patch_embd.weight", visionType, []uint64{uint64(p), uint64(p), 3, uint64(w)}, func() ([]float32, error) {
		conv, err := get(tw("conv1.weight"))
		if err != nil {
			return nil, err
		}
		kernel := make([]float32, 0, 3*len(conv))
		for c := 0; c < w; c++ {
			k := conv[c*p*p : (c+1)*p*p]
			for ch := 0; ch < 3; ch++ {
				for _, x := range k {
					kernel = append(kernel, x*luma[ch])
				}
			}
		}
		return kernel, nil
	})
	vec("v.class_embd", tw("class_embedding"), w)
	add("v.position_embd.weight", quant.TypeF32, []uint64{uint64(w), uint64(n + 1)}, func() ([]float32, error) {
		d, err := get(tw("positional_embedding"))
		if err != nil {
			return nil, err
		}
		pos := append([]float32(nil), d...)
		swapRows(pos, w, 0, n)
		return pos, nil
	})
	vec("v.pre_ln.weight", tw("ln_pre.weight"), w)
	vec("v.pre_ln.bias", tw("ln_pre.bias"), w)
	for i := 0; i < v.Layers; i++ {
		pre := fmt.Sprintf("v.blk.%d.", i)
		from := func(s string) string { return tw(fmt.Sprintf("transformer.resblocks.%d.%s", i, s)) }
		for j, s := range []string{"attn_q", "attn_k", "attn_v"} {
			add(pre+s+".weight", visionType, []uint64{uint64(w), uint64(w)}, copyOf(from("attn.in_proj_weight"), j*w*w, (j+1)*w*w))
			add(pre+s+".bias", quant.TypeF32, []uint64{uint64(w)}, copyOf(from("attn.in_proj_bias"), j*w, (j+1)*w))
		}
		add(pre+"attn_out.weight", visionType, []uint64{uint64(w), uint64(w)}, copyOf(from("attn.out_proj.weight"), 0, 0))
		vec(pre+"attn_out.bias", from("attn.out_proj.bias"), w)
		vec(pre+"ln1.weight", from("ln_1.weight"), w)
		vec(pre+"ln1.bias", from("ln_1.bias"), w)
		vec(pre+"ln2.weight", from("ln_2.weight"), w)
		vec(pre+"ln2.bias", from("ln_2.bias"), w)
		add(pre+"ffn_up.weight", visionType, []uint64{uint64(w), uint64(v.FF)}, copyOf(from("mlp.c_fc.weight"), 0, 0))
		vec(pre+"ffn_up.bias", from("mlp.c_fc.bias"), v.FF)
		add(pre+"ffn_down.weight", visionType, []uint64{uint64(v.FF), uint64(w)}, copyOf(from("mlp.c_proj.weight"), 0, 0))
		vec(pre+"ffn_down.bias", from("mlp.c_proj.bias"), w)
	}
	vec("v.post_ln.weight", tw("ln_post.weight"), w)
	vec("v.post_ln.bias", tw("ln_post.bias"), w)
	shift := func() ([]float64, error) {
		pw, err := get(tw("ln_post.weight"))
		if err != nil {
			return nil, err
		}
		pb, err := get(tw("ln_post.bias"))
		if err != nil {
			return nil, err
		}
		return IdentityShift(pw, pb), nil
	}
	add("mm.0.weight", quant.TypeF32, []uint64{uint64(w), uint64(w)}, func() ([]float32, error) {
		eye := make([]float32, w*w)
		for i := 0; i < w; i++ {
			eye[i*w+i] = 1
		}
		return eye, nil
	})
	add("mm.0.bias", quant.TypeF32, []uint64{uint64(w)}, func() ([]float32, error) {
		c, err := shift()
		if err != nil {
			return nil, err
		}
		out := make([]float32, w)
		for i := range out {
			out[i] = float32(c[i])
		}
		return out, nil
	})
	add("mm.2.weight", quant.TypeF32, []uint64{uint64(w), uint64(v.Out)}, copyOf(projPrefix+"weight", 0, 0))
	add("mm.2.bias", quant.TypeF32, []uint64{uint64(v.Out)}, func() ([]float32, error) {
		c, err := shift()
		if err != nil {
			return nil, err
		}
		pw, err := get(projPrefix + "weight")
		if err != nil {
			return nil, err
		}
		pb, err := get(projPrefix + "bias")
		if err != nil {
			return nil, err
		}
		bias := make([]float32, v.Out)
		for o := range bias {
			s := float64(pb[o])
			for i, x := range pw[o*w : (o+1)*w] {
				s -= float64(x) * c[i]
			}
			bias[o] = float32(s)
		}
		return bias, nil
	})
	return ts, nil
}

// lazyTensor computes, encodes and writes its data when the file is
// written.
type lazyTensor struct {
	name  string
	typ   uint32
	shape []uint64
	make  func() ([]float32, error)
}

func (t lazyTensor) WriteTo(w io.Writer) (int64, error) {
	data, err := t.make()
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", t.name, err)
	}
	b, err := quant.Encode(data, t.shape, t.typ)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", t.name, err)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// KV returns the mmproj metadata; every integer is uint32 and the arrays
// have the types llama.cpp's getters assert on.
func (v *Vision) KV(name string, testModel bool) fsggml.KV {
	kv := fsggml.KV{
		"general.architecture":                     "clip",
		"general.name":                             name,
		"general.file_type":                        uint32(1),
		"clip.has_vision_encoder":                  true,
		"clip.has_text_encoder":                    false,
		"clip.projector_type":                      "mlp",
		"clip.use_gelu":                            true,
		"clip.vision.image_size":                   uint32(v.ImageSize),
		"clip.vision.patch_size":                   uint32(v.Patch),
		"clip.vision.embedding_length":             uint32(v.Width),
		"clip.vision.feed_forward_length":          uint32(v.FF),
		"clip.vision.projection_dim":               uint32(v.Out),
		"clip.vision.attention.head_count":         uint32(v.Heads),
		"clip.vision.attention.layer_norm_epsilon": v.Eps,
		"clip.vision.block_count":                  uint32(v.Layers),
		"clip.vision.image_mean":                   []float32{v.Mean, v.Mean, v.Mean},
		"clip.vision.image_std":                    []float32{v.Std, v.Std, v.Std},
		// All blocks, then ln_post: also right once llama.cpp's off-by-one
		// in the legacy layer count (#25817) is fixed.
		"clip.vision.feature_layer": []int32{int32(v.Layers)},
		engine.KeyFamily:            engine.FamilyCXRLLaVAv2,
		engine.KeyCLSLayout:         engine.LayoutCLSLastSwap,
	}
	if testModel {
		kv[engine.KeyTestModel] = true
	}
	return kv
}

// WriteGGUF writes the projector file to path through a temporary file.
func (v *Vision) WriteGGUF(path, name string, visionType uint32, testModel bool) error {
	ts, err := v.Tensors(visionType)
	if err != nil {
		return err
	}
	return WriteFile(path, v.KV(name, testModel), ts)
}

// WriteFile writes a GGUF file atomically: to a temporary file beside path,
// synced, then renamed. A failure (a full disk) leaves nothing behind.
func WriteFile(path string, kv fsggml.KV, ts []*fsggml.Tensor) error {
	tmp, err := WriteTemp(path, kv, ts)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// TempPattern names the temporary files WriteTemp makes (os.CreateTemp's
// pattern; filepath.Match finds them).
const TempPattern = ".cxrview-*.gguf.tmp"

// WriteTemp writes a GGUF file meant for path into a temporary file beside
// it, synced to disk, and returns the temporary file's name; the caller
// renames it into place (several files at once, when they belong
// together) or removes it. On error nothing is left behind.
func WriteTemp(path string, kv fsggml.KV, ts []*fsggml.Tensor) (string, error) {
	f, err := os.CreateTemp(dirOf(path), TempPattern)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := fsggml.WriteGGUF(f, kv, ts); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tmp, nil
}

func swapRows(m []float32, width, a, b int) {
	ra, rb := m[a*width:(a+1)*width], m[b*width:(b+1)*width]
	for i := range ra {
		ra[i], rb[i] = rb[i], ra[i]
	}
}
