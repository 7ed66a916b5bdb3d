// Package cxrtest holds a float64 forward pass of CXR-LLaVA's vision tower
// and projector, written from the original architecture (open_clip's
// VisionTransformer as the reference code configures it: one gray channel,
// class token first, exact erf GELU, ln_post on all tokens, class token
// dropped, one linear projector), not from llama.cpp. Tests compare what
// llama.cpp computes from converted files against it.
package cxrtest

import (
	"image"
	"math"

	"cxrview/engine/cxr"
)

// Vision returns the projected image tokens of img, class token dropped:
// what the original model feeds its language model.
func Vision(v *cxr.Vision, img *image.Gray) [][]float64 {
	h := hidden(v, img)
	out := make([][]float64, 0, len(h)-1)
	for _, tok := range h[1:] {
		out = append(out, project(v, tok))
	}
	return out
}

// CLS returns the class token pushed through the projector: what the
// vendored llama.cpp puts in the last image slot instead (see docs/model.md).
func CLS(v *cxr.Vision, img *image.Gray) []float64 {
	return project(v, hidden(v, img)[0])
}

func project(v *cxr.Vision, x []float64) []float64 {
	out := make([]float64, v.Out)
	for o := range out {
		s := float64(v.ProjB[o])
		for i, xi := range x {
			s += float64(v.ProjW[o*v.Width+i]) * xi
		}
		out[o] = s
	}
	return out
}

// referenceHidden runs the tower: patch embedding of the normalised gray
// image, class token first, positions, ln_pre, the blocks, ln_post on every
// token.
func hidden(v *cxr.Vision, img *image.Gray) [][]float64 {
	w, p, size := v.Width, v.Patch, v.ImageSize
	grid := size / p
	x := make([][]float64, 0, grid*grid+1)
	cls := make([]float64, w)
	for i := range cls {
		cls[i] = float64(v.Class[i])
	}
	x = append(x, cls)
	for gy := 0; gy < grid; gy++ {
		for gx := 0; gx < grid; gx++ {
			tok := make([]float64, w)
			for c := 0; c < w; c++ {
				s := 0.0
				for ky := 0; ky < p; ky++ {
					for kx := 0; kx < p; kx++ {
						g := float64(img.GrayAt(gx*p+kx, gy*p+ky).Y)
						norm := (g/255 - float64(v.Mean)) / float64(v.Std)
						s += float64(v.Conv[(c*p+ky)*p+kx]) * norm
					}
				}
				tok[c] = s
			}
			x = append(x, tok)
		}
	}
	for t := range x {
		for c := 0; c < w; c++ {
			x[t][c] += float64(v.Pos[t*w+c])
		}
		x[t] = layerNorm(x[t], v.PreW, v.PreB, float64(v.Eps))
	}
	for _, b := range v.Blocks {
		x = block(v, b, x)
	}
	for t := range x {
		x[t] = layerNorm(x[t], v.PostW, v.PostB, float64(v.Eps))
	}
	return x
}

func block(v *cxr.Vision, b cxr.Block, x [][]float64) [][]float64 {
	w, heads := v.Width, v.Heads
	hd := w / heads
	n := len(x)
	q, k, val := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	for t := range x {
		h := layerNorm(x[t], b.LN1W, b.LN1B, float64(v.Eps))
		q[t] = linear(b.InW[0:w*w], b.InB[0:w], h, w)
		k[t] = linear(b.InW[w*w:2*w*w], b.InB[w:2*w], h, w)
		val[t] = linear(b.InW[2*w*w:3*w*w], b.InB[2*w:3*w], h, w)
	}
	attn := make([][]float64, n)
	for t := range attn {
		attn[t] = make([]float64, w)
	}
	scale := 1 / math.Sqrt(float64(hd))
	for hh := 0; hh < heads; hh++ {
		lo := hh * hd
		for t := 0; t < n; t++ {
			scores := make([]float64, n)
			m := math.Inf(-1)
			for u := 0; u < n; u++ {
				s := 0.0
				for d := lo; d < lo+hd; d++ {
					s += q[t][d] * k[u][d]
				}
				scores[u] = s * scale
				m = math.Max(m, scores[u])
			}
			sum := 0.0
			for u := range scores {
				scores[u] = math.Exp(scores[u] - m)
				sum += scores[u]
			}
			for u := range scores {
				for d := lo; d < lo+hd; d++ {
					attn[t][d] += scores[u] / sum * val[u][d]
				}
			}
		}
	}
	out := make([][]float64, n)
	for t := range x {
		o := linear(b.OutW, b.OutB, attn[t], w)
		y := make([]float64, w)
		for c := range y {
			y[c] = x[t][c] + o[c]
		}
		h := layerNorm(y, b.LN2W, b.LN2B, float64(v.Eps))
		f := linear(b.FcW, b.FcB, h, v.FF)
		for i := range f {
			f[i] = 0.5 * f[i] * (1 + math.Erf(f[i]/math.Sqrt2)) // exact GELU, torch.nn.GELU()
		}
		d := linear(b.PrW, b.PrB, f, w)
		for c := range y {
			y[c] += d[c]
		}
		out[t] = y
	}
	return out
}

// linear computes W·x + b for W of shape [out, len(x)].
func linear(wt, bias []float32, x []float64, out int) []float64 {
	y := make([]float64, out)
	for o := range y {
		s := float64(bias[o])
		row := wt[o*len(x) : (o+1)*len(x)]
		for i, xi := range x {
			s += float64(row[i]) * xi
		}
		y[o] = s
	}
	return y
}

func layerNorm(x []float64, g, b []float32, eps float64) []float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	variance := 0.0
	for _, v := range x {
		variance += (v - mean) * (v - mean)
	}
	variance /= float64(len(x))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (v-mean)/math.Sqrt(variance+eps)*float64(g[i]) + float64(b[i])
	}
	return out
}

// Cosine is the cosine similarity of an embedding and a reference vector.
func Cosine(a []float32, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * b[i]
		aa += float64(a[i]) * float64(a[i])
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}
