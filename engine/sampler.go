package engine

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Sampler picks tokens from logits the way the CXR-LLaVA reference code does
// (transformers 4.36 generate): temperature, then top-k, then top-p, then a
// draw from the remaining distribution. llama.cpp's common sampler applies
// temperature last and adds min-p, which changes the distribution, so the
// order is implemented here. Temperature 0 means greedy decoding.
type Sampler struct {
	s   Sampling
	rng *rand.Rand
	idx []int // scratch, reused between tokens
}

// NewSampler returns a sampler for s; the same seed gives the same draws.
func NewSampler(s Sampling) *Sampler {
	return &Sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}
}

// Greedy reports whether the sampler always picks the most likely token.
func (sp *Sampler) Greedy() bool { return sp.s.Temperature <= 0 }

// Sample returns the chosen token id.
func (sp *Sampler) Sample(logits []float32) int {
	if sp.Greedy() {
		return argmax(logits)
	}
	k := sp.s.TopK
	if k <= 0 || k > len(logits) {
		k = len(logits)
	}
	// Top-k by partial selection: the k largest logits, in descending order.
	// Ties keep the lower token id first, as a stable sort would.
	sp.idx = topK(logits, k, sp.idx[:0])
	inv := 1 / sp.s.Temperature
	maxL := float64(logits[sp.idx[0]]) * inv
	probs := make([]float64, len(sp.idx))
	var sum float64
	for i, id := range sp.idx {
		p := math.Exp(float64(logits[id])*inv - maxL)
		probs[i] = p
		sum += p
	}
	n := len(probs)
	if p := sp.s.TopP; p > 0 && p < 1 {
		// transformers' TopPLogitsWarper sorts ascending and drops the
		// tokens whose cumulative probability is <= 1-top_p, keeping at
		// least one. In descending order that keeps a prefix.
		cum := 0.0
		keep := n
		for i := n - 1; i >= 0; i-- {
			cum += probs[i] / sum
			if cum <= 1-p {
				keep = i
			}
		}
		n = max(keep, 1)
		sum = 0
		for _, q := range probs[:n] {
			sum += q
		}
	}
	u := sp.rng.Float64() * sum
	for i := 0; i < n; i++ {
		u -= probs[i]
		if u < 0 {
			return sp.idx[i]
		}
	}
	return sp.idx[n-1]
}

func argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// topK returns the indices of the k largest values, largest first.
func topK(logits []float32, k int, dst []int) []int {
	if k >= len(logits) {
		for i := range logits {
			dst = append(dst, i)
		}
	} else {
		// Keep a min-heap of size k over (value, -index).
		h := make([]int, 0, k)
		less := func(a, b int) bool { // a ranks below b
			if logits[a] != logits[b] {
				return logits[a] < logits[b]
			}
			return a > b
		}
		down := func(i int) {
			for {
				l := 2*i + 1
				if l >= len(h) {
					return
				}
				m := l
				if r := l + 1; r < len(h) && less(h[r], h[l]) {
					m = r
				}
				if !less(h[m], h[i]) {
					return
				}
				h[i], h[m] = h[m], h[i]
				i = m
			}
		}
		for i := range logits {
			if len(h) < k {
				h = append(h, i)
				for j := len(h) - 1; j > 0; {
					p := (j - 1) / 2
					if !less(h[j], h[p]) {
						break
					}
					h[j], h[p] = h[p], h[j]
					j = p
				}
				continue
			}
			if less(h[0], i) {
				h[0] = i
				down(0)
			}
		}
		dst = append(dst, h...)
	}
	sort.Slice(dst, func(a, b int) bool {
		if logits[dst[a]] != logits[dst[b]] {
			return logits[dst[a]] > logits[dst[b]]
		}
		return dst[a] < dst[b]
	})
	return dst
}
