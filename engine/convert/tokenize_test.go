package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cxrview/engine"
	"cxrview/engine/convert/converttest"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/quant"
)

// Proof 3: the prompt's token ids as the engine feeds them to llama.cpp,
// against what the reference pipeline makes of the same prompt text with
// the real SentencePiece library (Debian's python3-sentencepiece, the C++
// implementation transformers' slow LlamaTokenizer wraps).
//
// The reference pipeline, transformers 4.36.2 as the CXR-LLaVA code pins it,
// emulated step by step:
//   - tokenizer_image_token splits the rendered prompt on "<image>" and
//     tokenizes each chunk with tokenizer(chunk).input_ids, which puts one
//     BOS in front (add_bos_token); the first chunk keeps its BOS, the others
//     lose theirs, and -200 marks the image;
//   - LlamaTokenizer.tokenize splits a chunk at the special tokens <s>,
//     </s>, <unk> (added tokens since transformers 4.34, no stripping of
//     spaces around them) and turns each into its id;
//   - legacy mode (tokenizer_config.json without "legacy", or true)
//     encodes each piece of text between them with sp_model.encode, whose
//     normalizer adds the dummy "▁" prefix;
//   - non-legacy mode prefixes the whole chunk with "▁" (dropping it again
//     when a special token follows), loads the model with add_dummy_prefix
//     off, and encodes text that starts with "▁" as "<unk>"+text minus the
//     pieces of "<unk>".
//
// Result: the engine's ids are exactly the reference's in both modes,
// including the two BOS at the start (the tokenizer's and the template's
// literal <s>). Non-legacy mode needs the converter's and the engine's help:
// llama.cpp marks the start of a word after every special token ("▁["),
// transformers does not ("["), so a non-legacy checkpoint is converted with
// add_space_prefix off and the engine marks each chunk's start itself.
func TestPromptTokenization(t *testing.T) {
	_, results := converted(t)
	legacyPair := results[quant.F16]
	// The same checkpoint with "legacy": false in tokenizer_config.json.
	shape := converttest.Tiny()
	no := false
	shape.Legacy = &no
	ck, err := converttest.Write(filepath.Join(t.TempDir(), "ckpt"), shape, seed)
	if err != nil {
		t.Fatal(err)
	}
	plainPair, err := Convert(context.Background(), Options{From: ck.Dir, Out: filepath.Join(t.TempDir(), "out"), Type: quant.F16})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name   string
		legacy bool
		pair   Result
	}{{"legacy", true, legacyPair}, {"non-legacy", false, plainPair}} {
		t.Run(mode.name, func(t *testing.T) {
			testPromptTokenization(t, mode.pair, mode.legacy)
		})
	}
}

func testPromptTokenization(t *testing.T, res Result, legacy bool) {
	r := newRunner(t)
	info, err := r.Load(context.Background(), engine.ModelSpec{Text: res.Text, Projector: res.Projector, Context: 2048, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	report, _ := engine.PresetReport.Question("")
	ddx, _ := engine.PresetDDx.Question("")
	conversations := map[string][]engine.Turn{
		"report": {{User: report}},
		"ddx":    {{User: ddx}},
		"follow-up": {
			{User: report, Assistant: "The heart size is normal. No pleural effusion or pneumothorax."},
			{User: "Is there a pneumothorax? Réponse en français, s'il vous plaît: 30% ≥ 2 cm"},
		},
	}
	dir := t.TempDir()
	legacyModel := filepath.Join(dir, "legacy.model")
	plainModel := filepath.Join(dir, "no-dummy-prefix.model")
	if err := converttest.WriteTokenizer(legacyModel, converttest.Tokenizer(true)); err != nil {
		t.Fatal(err)
	}
	if err := converttest.WriteTokenizer(plainModel, converttest.Tokenizer(false)); err != nil {
		t.Fatal(err)
	}
	sp := &spm{t: t, models: map[string]string{"legacy": legacyModel, "plain": plainModel}}

	for name, turns := range conversations {
		t.Run(name, func(t *testing.T) {
			st, err := r.Generate(context.Background(), engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: turns, MaxTokens: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := st.PromptTokenIDs
			want := sp.imagePrompt(st.Prompt, legacy)
			if !slices.Equal(got, want) {
				t.Errorf("engine and reference tokenization differ\nprompt %q\nengine    %v\nreference %v", st.Prompt, got, want)
			}
			if len(got) < 2 || got[0] != 1 || got[1] != 1 {
				t.Errorf("the prompt does not start with the reference's two BOS: %v", got[:min(4, len(got))])
			}
			t.Logf("%d prompt ids identical to the reference", len(got))
		})
	}
}

// spm runs SentencePiece through Python.
type spm struct {
	t      *testing.T
	models map[string]string
}

// encode encodes texts with the named models, in one Python process.
func (s *spm) encode(inputs [][2]string) [][]int {
	s.t.Helper()
	const script = `
import json, sys
try:
    import sentencepiece as spm
except ImportError:
    sys.exit("python3-sentencepiece is not installed")
req = json.load(sys.stdin)
procs = {k: spm.SentencePieceProcessor(model_file=v) for k, v in req["models"].items()}
json.dump([procs[m].encode(text) for m, text in req["inputs"]], sys.stdout)
`
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		s.t.Fatalf("%s is missing: install the Debian packages python3 and python3-sentencepiece (make test-deps does)", py)
	}
	req, _ := json.Marshal(map[string]any{"models": s.models, "inputs": inputs})
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("SentencePiece reference: %v: %s (install the Debian package python3-sentencepiece; make test-deps does)", err, strings.TrimSpace(stderr.String()))
	}
	var ids [][]int
	if err := json.Unmarshal(out, &ids); err != nil {
		s.t.Fatal(err)
	}
	return ids
}

// imagePrompt is tokenizer_image_token(prompt): chunks around <image>,
// each tokenized with a BOS, the later chunks' BOS dropped, -200 between.
func (s *spm) imagePrompt(prompt string, legacy bool) []int {
	chunks := strings.Split(prompt, "<image>")
	var ids []int
	for i, c := range chunks {
		tok := s.tokenizer(c, legacy)
		if i == 0 {
			ids = append(ids, tok...)
			continue
		}
		ids = append(ids, engine.ImageTokenID)
		ids = append(ids, tok[1:]...)
	}
	return ids
}

var specials = map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}

// tokenizer is LlamaTokenizer(text).input_ids of transformers 4.36.2.
func (s *spm) tokenizer(text string, legacy bool) []int {
	const underline = "▁"
	if !legacy {
		text = underline + strings.ReplaceAll(text, underline, " ")
	}
	// Split at the special tokens, keeping them.
	var parts []string
	for text != "" {
		cut, tok := len(text), ""
		for sp := range specials {
			if i := strings.Index(text, sp); i >= 0 && (i < cut || i == cut && len(sp) > len(tok)) {
				cut, tok = i, sp
			}
		}
		if cut > 0 {
			parts = append(parts, text[:cut])
		}
		if tok == "" {
			break
		}
		parts = append(parts, tok)
		text = text[cut+len(tok):]
	}
	if !legacy && len(parts) > 1 && parts[0] == underline {
		if _, special := specials[parts[1]]; special {
			parts = parts[1:]
		}
	}
	// Encode every text part in one call.
	var inputs [][2]string
	for _, p := range parts {
		if _, special := specials[p]; special {
			continue
		}
		switch {
		case legacy:
			inputs = append(inputs, [2]string{"legacy", p})
		case strings.HasPrefix(p, underline) || strings.HasPrefix(p, " "):
			inputs = append(inputs, [2]string{"plain", "<unk>" + p})
		default:
			inputs = append(inputs, [2]string{"plain", p})
		}
	}
	inputs = append(inputs, [2]string{"plain", "<unk>"})
	enc := s.encode(inputs)
	unkLen := len(enc[len(enc)-1])
	ids := []int{1} // add_bos_token
	k := 0
	for _, p := range parts {
		if id, special := specials[p]; special {
			ids = append(ids, id)
			continue
		}
		e := enc[k]
		k++
		if !legacy && (strings.HasPrefix(p, underline) || strings.HasPrefix(p, " ")) && len(e) >= unkLen {
			e = e[unkLen:]
		}
		ids = append(ids, e...)
	}
	return ids
}
