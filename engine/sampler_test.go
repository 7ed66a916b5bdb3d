package engine

import (
	"math"
	"testing"
)

func TestSamplerGreedy(t *testing.T) {
	logits := []float32{0.1, 3, -2, 3, 1}
	s := NewSampler(Sampling{})
	if got := s.Sample(logits); got != 1 {
		t.Errorf("greedy picked %d, want the first maximum 1", got)
	}
	// top-k 1 samples like greedy whatever the temperature.
	s = NewSampler(Sampling{Temperature: 5, TopK: 1, Seed: 3})
	for i := 0; i < 50; i++ {
		if got := s.Sample(logits); got != 1 {
			t.Fatalf("top-k 1 picked %d", got)
		}
	}
}

func TestSamplerDistribution(t *testing.T) {
	// Temperature 0.5 on logits (0, ln3/2, -10, -10): probabilities ∝ 1 : 3, the
	// two -10 tokens cut by top-k 2.
	logits := []float32{0, float32(math.Log(3) / 2), -10, -10}
	s := NewSampler(Sampling{Temperature: 0.5, TopK: 2, Seed: 42})
	counts := make([]int, 4)
	const n = 20000
	for i := 0; i < n; i++ {
		counts[s.Sample(logits)]++
	}
	if counts[2]+counts[3] != 0 {
		t.Errorf("top-k let through %v", counts)
	}
	if p := float64(counts[1]) / n; math.Abs(p-0.75) > 0.015 {
		t.Errorf("token 1 drawn with frequency %.3f, want 0.75", p)
	}
}

func TestSamplerTopP(t *testing.T) {
	// Probabilities 0.5, 0.3, 0.2 at temperature 1. transformers drops tokens
	// whose ascending cumulative probability is <= 1-top_p: with top_p 0.8
	// that is only the 0.2 token; with 0.81 nothing.
	logits := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.2))}
	for _, c := range []struct {
		topP    float64
		allowed int
	}{{0.8, 2}, {0.81, 3}, {0.4, 1}} {
		s := NewSampler(Sampling{Temperature: 1, TopP: c.topP, Seed: 9})
		seen := map[int]bool{}
		for i := 0; i < 5000; i++ {
			seen[s.Sample(logits)] = true
		}
		if len(seen) != c.allowed {
			t.Errorf("top-p %.2f: drew %d distinct tokens, want %d", c.topP, len(seen), c.allowed)
		}
	}
}

func TestSamplerSeed(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	draw := func(seed uint64) []int {
		s := NewSampler(Sampling{Temperature: 1, TopK: 50, TopP: 0.9, Seed: seed})
		out := make([]int, 20)
		for i := range out {
			out[i] = s.Sample(logits)
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	same := func(x, y []int) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) || same(a, c) {
		t.Errorf("seeded draws: %v %v %v", a, b, c)
	}
}

func BenchmarkSample32000(b *testing.B) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i) * 0.37))
	}
	s := NewSampler(ReferenceSampling())
	for b.Loop() {
		s.Sample(logits)
	}
}
