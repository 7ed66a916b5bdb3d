package convert

import (
	"context"
	"math"
	"strconv"
	"testing"

	"cxrview/engine"
	"cxrview/engine/convert/converttest"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/quant"

	"github.com/x448/float16"
)

// The converted language model against a float64 forward pass of
// transformers' LlamaModel as the checkpoint defines it (HF layout,
// rotate_half RoPE, RMSNorm, SwiGLU, separate lm_head): greedy decoding
// must pick the same tokens. This is what proves the rotary q/k
// permutation and the tensor mapping, which random weights would otherwise
// hide. The image rows come from llama.cpp (checked on their own by
// TestConvertedVisionMatchesOriginal).
func TestConvertedTextMatchesReference(t *testing.T) {
	ck, results := converted(t)
	res := results[quant.F16]
	r := newRunner(t)
	info, err := r.Load(context.Background(), engine.ModelSpec{Text: res.Text, Projector: res.Projector, Context: 1024, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := cxrtest.Image(info.ImageSize)
	q, _ := engine.PresetReport.Question("")
	st, err := r.Generate(context.Background(), engine.Request{Image: img, Turns: []engine.Turn{{User: q}}, MaxTokens: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	image, err := r.Embed(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefLlama(ck)
	var rows [][]float64
	for _, id := range st.PromptTokenIDs {
		if id == engine.ImageTokenID {
			for _, e := range image {
				row := make([]float64, len(e))
				for i, x := range e {
					row[i] = float64(x)
				}
				rows = append(rows, row)
			}
			continue
		}
		rows = append(rows, ref.embed(id))
	}
	matched := 0
	for step, got := range st.TokenIDs {
		logits := ref.forward(rows)
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		if best != got {
			// Only a near-tie may go either way under F16 rounding
			// (activations are rounded to F16 in llama.cpp's CPU matmul:
			// about 10⁻³ of a logit).
			if gap := logits[best] - logits[got]; gap > 2e-3*math.Max(1, math.Abs(logits[best])) {
				t.Fatalf("step %d: llama.cpp chose %d, the reference %d (logit %.4f vs %.4f)", step, got, best, logits[got], logits[best])
			}
			t.Logf("step %d: near-tie (%.5f vs %.5f); stopping the comparison", step, logits[best], logits[got])
			break
		}
		matched++
		rows = append(rows, ref.embed(got))
	}
	t.Logf("%d of %d greedy tokens identical to the float64 reference", matched, len(st.TokenIDs))
	if matched < 8 {
		t.Errorf("only %d tokens compared", matched)
	}
}

// refLlama holds the checkpoint's language model as F16 would round it.
type refLlama struct {
	s       converttest.Shape
	vocab   int
	tensors map[string][]float32
}

func newRefLlama(ck *converttest.Checkpoint) *refLlama {
	r := &refLlama{s: ck.Shape, vocab: ck.Vocab, tensors: map[string][]float32{}}
	for _, name := range ck.Names() {
		v := ck.Tensor(name)
		if len(v) > ck.Shape.Embd { // matrices are F16 in the file
			for i, x := range v {
				v[i] = float16.Fromfloat32(x).Float32()
			}
		}
		r.tensors[name] = v
	}
	return r
}

func (r *refLlama) w(name string) []float32 { return r.tensors[name] }

func (r *refLlama) embed(id int) []float64 {
	e := r.s.Embd
	row := r.w("llama.embed_tokens.weight")[id*e : (id+1)*e]
	out := make([]float64, e)
	for i, x := range row {
		out[i] = float64(x)
	}
	return out
}

func matVec(w []float32, x []float64, out int) []float64 {
	y := make([]float64, out)
	n := len(x)
	for o := range y {
		s := 0.0
		for i, xi := range x {
			s += float64(w[o*n+i]) * xi
		}
		y[o] = s
	}
	return y
}

func rmsNorm(x []float64, w []float32, eps float64) []float64 {
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * scale * float64(w[i])
	}
	return out
}

// rope applies transformers' rotary embedding: dimension d of the first
// half of a head turns with dimension d + hd/2.
func rope(x []float64, pos, heads int, theta float64) {
	hd := len(x) / heads
	half := hd / 2
	for h := 0; h < heads; h++ {
		v := x[h*hd : (h+1)*hd]
		for d := 0; d < half; d++ {
			angle := float64(pos) / math.Pow(theta, float64(2*d)/float64(hd))
			c, s := math.Cos(angle), math.Sin(angle)
			a, b := v[d], v[d+half]
			v[d], v[d+half] = a*c-b*s, b*c+a*s
		}
	}
}

// forward returns the logits after the last of rows.
func (r *refLlama) forward(rows [][]float64) []float64 {
	s := r.s
	e, heads := s.Embd, s.Heads
	hd := e / heads
	eps := 1e-5
	x := make([][]float64, len(rows))
	for i := range rows {
		x[i] = append([]float64(nil), rows[i]...)
	}
	for l := 0; l < s.Layers; l++ {
		p := func(n string) []float32 { return r.w("llama.layers." + strconv.Itoa(l) + "." + n) }
		n := len(x)
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range x {
			h := rmsNorm(x[i], p("input_layernorm.weight"), eps)
			qs[i] = matVec(p("self_attn.q_proj.weight"), h, e)
			ks[i] = matVec(p("self_attn.k_proj.weight"), h, e)
			vs[i] = matVec(p("self_attn.v_proj.weight"), h, e)
			rope(qs[i], i, heads, 10000)
			rope(ks[i], i, heads, 10000)
		}
		for i := range x {
			att := make([]float64, e)
			for h := 0; h < heads; h++ {
				lo := h * hd
				scores := make([]float64, i+1)
				m := math.Inf(-1)
				for j := 0; j <= i; j++ {
					d := 0.0
					for k := lo; k < lo+hd; k++ {
						d += qs[i][k] * ks[j][k]
					}
					scores[j] = d / math.Sqrt(float64(hd))
					m = math.Max(m, scores[j])
				}
				sum := 0.0
				for j := range scores {
					scores[j] = math.Exp(scores[j] - m)
					sum += scores[j]
				}
				for j := range scores {
					for k := lo; k < lo+hd; k++ {
						att[k] += scores[j] / sum * vs[j][k]
					}
				}
			}
			o := matVec(p("self_attn.o_proj.weight"), att, e)
			for k := range o {
				x[i][k] += o[k]
			}
			h := rmsNorm(x[i], p("post_attention_layernorm.weight"), eps)
			g := matVec(p("mlp.gate_proj.weight"), h, s.FF)
			u := matVec(p("mlp.up_proj.weight"), h, s.FF)
			for k := range g {
				g[k] = g[k] / (1 + math.Exp(-g[k])) * u[k]
			}
			d := matVec(p("mlp.down_proj.weight"), g, e)
			for k := range d {
				x[i][k] += d[k]
			}
		}
	}
	last := rmsNorm(x[len(x)-1], r.w("llama.norm.weight"), eps)
	return matVec(r.w("lm_head.weight"), last, r.vocab)
}
