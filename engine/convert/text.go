package convert

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"cxrview/engine/quant"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// textInput is one language-model tensor of the checkpoint and the GGUF
// tensor it becomes.
type textInput struct {
	From  string // checkpoint name
	To    string // GGUF name
	Shape []int  // PyTorch shape [rows, cols] or [n]
	Layer int    // -1 outside the repeating layers
	Heads int    // > 0: rotary q/k rows, permuted per head
}

// textInputs lists the language model's tensors as the released
// checkpoint names them: transformers' LlamaModel under "llama." and the
// separate lm_head (model notes §3.1), renamed as llama.cpp expects.
func textInputs(c TextConfig) []textInput {
	e, f, v := c.Embd, c.FF, c.Vocab
	kv := e / c.Heads * c.HeadsKV
	ins := []textInput{
		{"llama.embed_tokens.weight", "token_embd.weight", []int{v, e}, -1, 0},
		{"llama.norm.weight", "output_norm.weight", []int{e}, -1, 0},
		{"lm_head.weight", "output.weight", []int{v, e}, -1, 0},
	}
	for i := 0; i < c.Layers; i++ {
		from := func(s string) string { return fmt.Sprintf("llama.layers.%d.%s", i, s) }
		to := func(s string) string { return fmt.Sprintf("blk.%d.%s", i, s) }
		ins = append(ins,
			textInput{from("input_layernorm.weight"), to("attn_norm.weight"), []int{e}, i, 0},
			textInput{from("self_attn.q_proj.weight"), to("attn_q.weight"), []int{e, e}, i, c.Heads},
			textInput{from("self_attn.k_proj.weight"), to("attn_k.weight"), []int{kv, e}, i, c.HeadsKV},
			textInput{from("self_attn.v_proj.weight"), to("attn_v.weight"), []int{kv, e}, i, 0},
			textInput{from("self_attn.o_proj.weight"), to("attn_output.weight"), []int{e, e}, i, 0},
			textInput{from("post_attention_layernorm.weight"), to("ffn_norm.weight"), []int{e}, i, 0},
			textInput{from("mlp.gate_proj.weight"), to("ffn_gate.weight"), []int{f, e}, i, 0},
			textInput{from("mlp.up_proj.weight"), to("ffn_up.weight"), []int{f, e}, i, 0},
			textInput{from("mlp.down_proj.weight"), to("ffn_down.weight"), []int{e, f}, i, 0},
		)
	}
	return ins
}

// ignored reports checkpoint tensors the converter knowingly leaves out.
func ignored(name string) bool {
	// The tower's contrastive projection acts only on the pooled class
	// token, which CXR-LLaVA never uses; rotary frequency buffers are
	// recomputed by llama.cpp from rope_theta.
	return name == "vision_tower.proj" || strings.HasSuffix(name, ".rotary_emb.inv_freq")
}

// chunkValues bounds the values one worker holds while converting: a
// tensor is read, permuted and encoded this many values at a time (whole
// rows, whole attention heads), so memory does not grow with the model.
const chunkValues = 1 << 20

// bufPool recycles the chunk buffers between tensors.
var bufPool = sync.Pool{New: func() any { return &chunkBuf{} }}

type chunkBuf struct {
	f32, tmp []float32
	raw      []byte
}

// textTensor writes one language-model tensor, chunk by chunk.
type textTensor struct {
	ctx context.Context
	in  textInput
	src *stTensor
	typ uint32
}

// ggufShape is the tensor's shape in GGUF (ggml) order: columns first.
func (in textInput) ggufShape() []uint64 {
	if len(in.Shape) == 1 {
		return []uint64{uint64(in.Shape[0])}
	}
	return []uint64{uint64(in.Shape[1]), uint64(in.Shape[0])}
}

func (t *textTensor) WriteTo(w io.Writer) (int64, error) {
	rows, cols := 1, t.in.Shape[0]
	if len(t.in.Shape) == 2 {
		rows, cols = t.in.Shape[0], t.in.Shape[1]
	}
	step := max(1, chunkValues/cols)
	if t.in.Heads > 0 {
		hd := rows / t.in.Heads
		step = max(hd, step/hd*hd)
	}
	buf := bufPool.Get().(*chunkBuf)
	defer bufPool.Put(buf)
	if cap(buf.f32) < step*cols {
		buf.f32 = make([]float32, step*cols)
		buf.tmp = make([]float32, step*cols)
	}
	var written int64
	for r := 0; r < rows; r += step {
		if err := t.ctx.Err(); err != nil {
			return written, err
		}
		n := min(step, rows-r)
		data := buf.f32[:n*cols]
		var err error
		if buf.raw, err = t.src.readRows(r, n, cols, data, buf.raw); err != nil {
			return written, err
		}
		if t.typ == quant.TypeF16 {
			for _, x := range data {
				if math.Abs(float64(x)) > 65504 {
					return written, fmt.Errorf("tensor %s holds %g, beyond the range of F16: convert to q8_0 instead", t.in.From, x)
				}
			}
		}
		if t.in.Heads > 0 {
			permuteHeads(buf.tmp[:n*cols], data, rows/t.in.Heads, cols)
			data = buf.tmp[:n*cols]
		}
		shape := []uint64{uint64(cols), uint64(n)}
		if len(t.in.Shape) == 1 {
			shape = shape[:1]
		}
		enc, err := quant.Encode(data, shape, t.typ)
		if err != nil {
			return written, fmt.Errorf("encode %s: %w", t.in.To, err)
		}
		m, err := w.Write(enc)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// permuteHeads reorders the rows of q_proj or k_proj for llama.cpp's RoPE.
// transformers rotates the two halves of each head's dimensions against
// each other (rotate_half); llama.cpp's LLaMA rotates adjacent pairs. Row
// i·hd/2 + j of a head (half i, index j) therefore moves to row 2j + i, the
// permutation llama.cpp's and ollama's converters apply. src holds whole
// heads of hd rows of cols values.
func permuteHeads(dst, src []float32, hd, cols int) {
	half := hd / 2
	for h := 0; h < len(src)/(hd*cols); h++ {
		base := h * hd
		for r := 0; r < hd; r++ {
			i, j := r/half, r%half
			to := base + 2*j + i
			copy(dst[to*cols:(to+1)*cols], src[(base+r)*cols:(base+r+1)*cols])
		}
	}
}

// textKV is the language model's metadata.
func textKV(c TextConfig, v vocab, tc tokenizerConfig, ft quant.FileType) fsggml.KV {
	kv := fsggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           modelTitle,
		"general.file_type":                      ft.GGUF(),
		"general.quantization_version":           uint32(2),
		"general.license":                        licenseID,
		"general.source.huggingface.repository":  sourceRepo,
		"llama.context_length":                   uint32(c.Context),
		"llama.embedding_length":                 uint32(c.Embd),
		"llama.block_count":                      uint32(c.Layers),
		"llama.feed_forward_length":              uint32(c.FF),
		"llama.rope.dimension_count":             uint32(c.Embd / c.Heads),
		"llama.attention.head_count":             uint32(c.Heads),
		"llama.attention.head_count_kv":          uint32(c.HeadsKV),
		"llama.attention.layer_norm_rms_epsilon": c.RMSEps,
		"llama.rope.freq_base":                   c.RopeTheta,
		"llama.vocab_size":                       uint32(c.Vocab),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  v.Tokens,
		"tokenizer.ggml.scores":                  v.Scores,
		"tokenizer.ggml.token_type":              v.Types,
		"tokenizer.ggml.bos_token_id":            uint32(v.BOS),
		"tokenizer.ggml.eos_token_id":            uint32(v.EOS),
		"tokenizer.ggml.unknown_token_id":        uint32(v.UNK),
		// The reference code pads with <unk>.
		"tokenizer.ggml.padding_token_id": uint32(v.UNK),
		"tokenizer.ggml.add_bos_token":    tc.AddBOS,
		"tokenizer.ggml.add_eos_token":    tc.AddEOS,
		// With legacy false transformers puts no word-start mark after a
		// special token, which llama.cpp always does while add_space_prefix
		// is on; the engine adds the one mark per chunk that transformers
		// keeps (engine.KeyHFLegacy, docs/model.md).
		"tokenizer.ggml.add_space_prefix": v.AddSpacePrefix && tc.Legacy,
		KeyHFLegacy:                       tc.Legacy,
	}
	return kv
}
