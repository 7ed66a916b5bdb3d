package engine

import (
	"fmt"
	"strings"
	"testing"
)

func TestRenderPrompt(t *testing.T) {
	sys := "You are a helpful radiologist. Try to interpret chest x ray image and answer to the question that user provides."
	report := "Write a radiologic report on the given chest radiograph, including information about atelectasis, cardiomegaly, consolidation, pulmonary edema, pleural effusion, and pneumothorax."
	ddx, _ := PresetDDx.Question("")
	cases := []struct {
		name  string
		tmpl  Template
		turns []Turn
		want  string
	}{
		{"report", TemplateCXRLLaVA, []Turn{{User: report}},
			"<s>[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n<image>\n" + report + " [/INST]"},
		// The reference strips the whole first user content: ddx's trailing newline goes.
		{"ddx", TemplateCXRLLaVA, []Turn{{User: ddx}},
			"<s>[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n<image>\nWhat are the possible differential diagnoses for this patient? [/INST]"},
		{"follow-up", TemplateCXRLLaVA, []Turn{{User: report, Assistant: "  No acute findings.\n"}, {User: " Is the heart enlarged? "}},
			"<s>[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n<image>\n" + report + " [/INST] No acute findings. </s><s>[INST] Is the heart enlarged? [/INST]"},
		// A model may write the marker; sent back, it must not split the prompt.
		{"marker in an answer", TemplateCXRLLaVA, []Turn{{User: report, Assistant: "See <image> above."}, {User: "And?"}},
			"<s>[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n<image>\n" + report + " [/INST] See [image] above. </s><s>[INST] And? [/INST]"},
		{"vicuna", TemplateVicuna, []Turn{{User: "What is shown?", Assistant: "A chest film."}, {User: "Any effusion?"}},
			"A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. USER: <image>\nWhat is shown? ASSISTANT: A chest film.</s>USER: Any effusion? ASSISTANT:"},
	}
	for _, c := range cases {
		got, err := RenderPrompt(c.tmpl, c.turns)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if strings.Count(got, ImageMarker) != 1 {
			t.Errorf("%s: image marker count %d", c.name, strings.Count(got, ImageMarker))
		}
	}
	for _, bad := range [][]Turn{nil, {{User: ""}}, {{User: "a"}, {User: "b"}}} {
		if _, err := RenderPrompt(TemplateCXRLLaVA, bad); err == nil {
			t.Errorf("conversation %+v: no error", bad)
		}
	}
	for _, turns := range [][]Turn{{{User: "What is <image>?"}}, {{User: "a", Assistant: "b"}, {User: "Compare <image> with the last one."}}} {
		_, err := RenderPrompt(TemplateCXRLLaVA, turns)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("question %d contains <image>", len(turns))) {
			t.Errorf("%+v: err %v, want one naming the question with <image>", turns, err)
		}
	}
	if _, err := RenderPrompt("alpaca", []Turn{{User: "x"}}); err == nil {
		t.Error("unknown template: no error")
	}
	if _, err := PresetQuestion.Question(" "); err == nil {
		t.Error("empty free question: no error")
	}
	if _, err := Preset("poem").Question(""); err == nil {
		t.Error("unknown preset: no error")
	}
}

func TestReorderBlocks(t *testing.T) {
	const size, patch = 8, 2
	grid := size / patch
	n := grid * grid
	pix := make([]byte, size*size)
	for i := range pix {
		pix[i] = byte(i) // every pixel distinct, so misplaced rows or columns inside a block show
	}
	out := ReorderBlocks(pix, size, patch)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			k := (y/patch)*grid + x/patch
			src := (k + n - 1) % n // block k takes block k-1's pixels, block 0 the last block's
			sx, sy := src%grid*patch+x%patch, src/grid*patch+y%patch
			if want := pix[sy*size+sx]; out[y*size+x] != want {
				t.Fatalf("pixel (%d,%d) of block %d holds %d, want %d (pixel (%d,%d) of block %d)", x, y, k, out[y*size+x], want, sx, sy, src)
			}
		}
	}
}

func TestFitGPULayers(t *testing.T) {
	const mib = 1 << 20
	in := Inspection{Layers: 4, Embedding: 64, Heads: 4, HeadsKV: 4, LayerBytes: []uint64{100 * mib, 100 * mib, 100 * mib, 100 * mib}, OutputBytes: 50 * mib, VisionBytes: 200 * mib}
	kv := int64(in.KVBytesPerToken()) / 4 * 1000 // per layer at 1000 tokens
	cases := []struct {
		free   uint64
		vision bool
		want   int
	}{
		{0, false, 0},
		{gpuReserve + 99*mib, false, 0},
		{gpuReserve + uint64(2*(100*mib+kv)), false, 2},
		{gpuReserve + uint64(4*(100*mib+kv)), false, 4},
		{gpuReserve + uint64(4*(100*mib+kv)) + 50*mib, false, 5},
		{gpuReserve + uint64(4*(100*mib+kv)) + 50*mib, true, 2}, // the output layer goes only after all others
		{80 << 30, true, 5},
	}
	for _, c := range cases {
		if got := FitGPULayers(in, 1000, c.free, c.vision); got != c.want {
			t.Errorf("free %d MiB, vision %v: %d layers, want %d", c.free/mib, c.vision, got, c.want)
		}
	}
}
