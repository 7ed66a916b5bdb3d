package cxrtest

import (
	"image"
	"math"
	"testing"

	"cxrview/engine/cxr"
)

// Image is a deterministic gray test pattern with structure in every
// patch, size×size pixels.
func Image(size int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			g.Pix[y*size+x] = uint8((x*7 + y*13 + (x*y)%29) % 256)
		}
	}
	return g
}

// CheckEmbeddings compares the image embeddings llama.cpp returned for img
// with the original architecture's: image tokens 0…N−2 must agree with
// cosine ≥ 0.999, and the last slot must hold the projected class token,
// as the vendored llama.cpp puts it there (llama.cpp #25814; a fixed
// llama.cpp fails this, on purpose). It returns the worst cosine of tokens
// 0…N−2.
func CheckEmbeddings(t testing.TB, v *cxr.Vision, img *image.Gray, got [][]float32) float64 {
	t.Helper()
	want := Vision(v, img)
	if len(got) != len(want) {
		t.Fatalf("%d embeddings, want %d", len(got), len(want))
	}
	n := len(want)
	worst := 1.0
	for i := 0; i < n-1; i++ {
		c := Cosine(got[i], want[i])
		worst = math.Min(worst, c)
		if c < 0.999 {
			t.Errorf("image token %d: cosine %.6f with the original architecture", i, c)
		}
	}
	last := Cosine(got[n-1], want[n-1])
	cls := Cosine(got[n-1], CLS(v, img))
	t.Logf("tokens 0..%d: worst cosine %.7f (1-cos %.2g); last slot: cosine %.4f with patch %d, %.7f with the projected class token",
		n-2, worst, 1-worst, last, n-1, cls)
	if cls < 0.999 {
		t.Errorf("last slot: cosine %.4f with the projected class token; has llama.cpp's class-token order changed?", cls)
	}
	return worst
}
