// Package cxr maps CXR-LLaVA's vision tower and projector onto llama.cpp's
// CLIP "mlp" projector format. The original architecture (one gray channel,
// class token first, a single linear projector) does not fit that graph as
// is; the transforms here make it fit exactly, and are shared by the
// checkpoint converter and the test-model generator (docs/model.md).
package cxr

import (
	"fmt"
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

// Check verifies that every tensor has its shape.
func (v *Vision) Check() error {
	if v.Patch <= 0 || v.ImageSize%v.Patch != 0 || v.Heads <= 0 || v.Width%v.Heads != 0 {
		return fmt.Errorf("invalid vision geometry: image %d, patch %d, width %d, heads %d", v.ImageSize, v.Patch, v.Width, v.Heads)
	}
	w, n := v.Width, v.Patches()
	type size struct {
		name      string
		got, want int
	}
	checks := []size{
		{"conv1.weight", len(v.Conv), w * v.Patch * v.Patch},
		{"class_embedding", len(v.Class), w},
		{"positional_embedding", len(v.Pos), (n + 1) * w},
		{"ln_pre.weight", len(v.PreW), w}, {"ln_pre.bias", len(v.PreB), w},
		{"ln_post.weight", len(v.PostW), w}, {"ln_post.bias", len(v.PostB), w},
		{"mm_projector.weight", len(v.ProjW), v.Out * w}, {"mm_projector.bias", len(v.ProjB), v.Out},
	}
	for i, b := range v.Blocks {
		p := fmt.Sprintf("resblocks.%d.", i)
		checks = append(checks,
			size{p + "ln_1.weight", len(b.LN1W), w},
			size{p + "ln_1.bias", len(b.LN1B), w},
			size{p + "attn.in_proj_weight", len(b.InW), 3 * w * w},
			size{p + "attn.in_proj_bias", len(b.InB), 3 * w},
			size{p + "attn.out_proj.weight", len(b.OutW), w * w},
			size{p + "attn.out_proj.bias", len(b.OutB), w},
			size{p + "ln_2.weight", len(b.LN2W), w},
			size{p + "ln_2.bias", len(b.LN2B), w},
			size{p + "mlp.c_fc.weight", len(b.FcW), v.FF * w},
			size{p + "mlp.c_fc.bias", len(b.FcB), v.FF},
			size{p + "mlp.c_proj.weight", len(b.PrW), w * v.FF},
			size{p + "mlp.c_proj.bias", len(b.PrB), w},
		)
	}
	if len(v.Blocks) != v.Layers {
		return fmt.Errorf("%d blocks for %d layers", len(v.Blocks), v.Layers)
	}
	for _, c := range checks {
		if c.got != c.want {
			return fmt.Errorf("vision tensor %s has %d values, want %d", c.name, c.got, c.want)
		}
	}
	return nil
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

// Tensors returns the mmproj tensors with the converter's transforms:
// three-channel patch kernel, q/k/v split, position rows 0 and N swapped
// (the CLS-order workaround, with ReorderBlocks at run time), the identity
// mm.0 with shift c and mm.2 = W with bias b − W·c. visionType is the type of
// the big block matrices (F16 for real files, F32 for exact tests); the class
// embedding and the projector stay F32, which llama.cpp needs (class) and
// the identity trick needs for exactness (projector).
func (v *Vision) Tensors(visionType uint32) ([]*fsggml.Tensor, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	w, p, n := v.Width, v.Patch, v.Patches()
	var ts []*fsggml.Tensor
	var err error
	add := func(name string, data []float32, typ uint32, shape ...uint64) {
		if err != nil {
			return
		}
		if len(shape) < 2 {
			typ = quant.TypeF32
		}
		var b []byte
		b, err = quant.Encode(data, shape, typ)
		if err != nil {
			err = fmt.Errorf("encode %s: %w", name, err)
			return
		}
		ts = append(ts, &fsggml.Tensor{Name: name, Kind: typ, Shape: shape, WriterTo: bytesWriter(b)})
	}
	kernel := make([]float32, 0, 3*len(v.Conv))
	for c := 0; c < w; c++ {
		k := v.Conv[c*p*p : (c+1)*p*p]
		for ch := 0; ch < 3; ch++ {
			for _, x := range k {
				kernel = append(kernel, x*luma[ch])
			}
		}
	}
	add("v.patch_embd.weight", kernel, visionType, uint64(p), uint64(p), 3, uint64(w))
	add("v.class_embd", v.Class, quant.TypeF32, uint64(w))
	pos := append([]float32(nil), v.Pos...)
	swapRows(pos, w, 0, n)
	add("v.position_embd.weight", pos, quant.TypeF32, uint64(w), uint64(n+1))
	add("v.pre_ln.weight", v.PreW, quant.TypeF32, uint64(w))
	add("v.pre_ln.bias", v.PreB, quant.TypeF32, uint64(w))
	for i, b := range v.Blocks {
		pre := fmt.Sprintf("v.blk.%d.", i)
		for j, s := range []string{"attn_q", "attn_k", "attn_v"} {
			add(pre+s+".weight", b.InW[j*w*w:(j+1)*w*w], visionType, uint64(w), uint64(w))
			add(pre+s+".bias", b.InB[j*w:(j+1)*w], quant.TypeF32, uint64(w))
		}
		add(pre+"attn_out.weight", b.OutW, visionType, uint64(w), uint64(w))
		add(pre+"attn_out.bias", b.OutB, quant.TypeF32, uint64(w))
		add(pre+"ln1.weight", b.LN1W, quant.TypeF32, uint64(w))
		add(pre+"ln1.bias", b.LN1B, quant.TypeF32, uint64(w))
		add(pre+"ln2.weight", b.LN2W, quant.TypeF32, uint64(w))
		add(pre+"ln2.bias", b.LN2B, quant.TypeF32, uint64(w))
		add(pre+"ffn_up.weight", b.FcW, visionType, uint64(w), uint64(v.FF))
		add(pre+"ffn_up.bias", b.FcB, quant.TypeF32, uint64(v.FF))
		add(pre+"ffn_down.weight", b.PrW, visionType, uint64(v.FF), uint64(w))
		add(pre+"ffn_down.bias", b.PrB, quant.TypeF32, uint64(w))
	}
	add("v.post_ln.weight", v.PostW, quant.TypeF32, uint64(w))
	add("v.post_ln.bias", v.PostB, quant.TypeF32, uint64(w))
	c := IdentityShift(v.PostW, v.PostB)
	eye := make([]float32, w*w)
	shift := make([]float32, w)
	for i := range shift {
		eye[i*w+i] = 1
		shift[i] = float32(c[i])
	}
	add("mm.0.weight", eye, quant.TypeF32, uint64(w), uint64(w))
	add("mm.0.bias", shift, quant.TypeF32, uint64(w))
	bias := make([]float32, v.Out)
	for o := 0; o < v.Out; o++ {
		s := float64(v.ProjB[o])
		row := v.ProjW[o*w : (o+1)*w]
		for i, x := range row {
			s -= float64(x) * c[i]
		}
		bias[o] = float32(s)
	}
	add("mm.2.weight", v.ProjW, quant.TypeF32, uint64(w), uint64(v.Out))
	add("mm.2.bias", bias, quant.TypeF32, uint64(v.Out))
	return ts, err
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
	f, err := os.CreateTemp(dirOf(path), ".cxrview-*.gguf.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
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
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func swapRows(m []float32, width, a, b int) {
	ra, rb := m[a*width:(a+1)*width], m[b*width:(b+1)*width]
	for i := range ra {
		ra[i], rb[i] = rb[i], ra[i]
	}
}
