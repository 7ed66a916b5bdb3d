package converttest

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"cxrview/assets"

	"github.com/ollama/ollama/convert/sentencepiece"
	"google.golang.org/protobuf/proto"
)

// corpus is what the test tokenizer's merges are learned from: the
// reference prompts and report language, so that the prompt tokenizes into
// real multi-character pieces, not only characters.
func corpus() []string {
	texts := []string{
		"[INST] <<SYS>> <</SYS>> [/INST]",
		"The heart size is normal. No pleural effusion or pneumothorax. The lungs are clear.",
		"There is a large consolidation in the right upper lobe. Mild cardiomegaly. No pulmonary edema.",
		"Is there a pneumothorax? What are the possible differential diagnoses for this patient?",
	}
	for _, name := range []string{"cxr-system", "report", "ddx"} {
		if s, err := assets.Prompt(name); err == nil {
			texts = append(texts, s)
		}
	}
	return texts
}

// vocabTarget is the test vocabulary's size goal (the real one has 32,000).
const vocabTarget = 512

// Tokenizer builds a LLaMA-style SentencePiece BPE model: <unk>, <s>, </s>
// at ids 0, 1, 2, the 256 byte pieces <0x00>…<0xFF> at 3…258 for byte
// fallback, then merged pieces by decreasing score and single characters
// last, as in LLaMA's tokenizer.model. The newline is left out of the
// pieces on purpose: like LLaMA's, it becomes the byte piece <0x0A>.
// dummyPrefix is the normalizer's add_dummy_prefix (true in LLaMA's;
// transformers' non-legacy mode turns it off).
func Tokenizer(dummyPrefix bool) *sentencepiece.ModelProto {
	// Words as SentencePiece's trainer sees them: spaces become ▁, which
	// starts each word.
	counts := map[string]int{}
	for _, text := range corpus() {
		for _, line := range strings.Split(text, "\n") {
			line = "▁" + strings.ReplaceAll(strings.TrimSpace(line), " ", "▁")
			var word []rune
			for _, r := range line {
				if r == '▁' && len(word) > 0 {
					counts[string(word)]++
					word = word[:0]
				}
				word = append(word, r)
			}
			if len(word) > 0 {
				counts[string(word)]++
			}
		}
	}
	type entry struct {
		syms  []string
		count int
	}
	var words []entry
	charFreq := map[string]int{}
	var keys []string
	for w := range counts {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	for _, w := range keys {
		var syms []string
		for _, r := range w {
			syms = append(syms, string(r))
			charFreq[string(r)] += counts[w]
		}
		words = append(words, entry{syms, counts[w]})
	}
	chars := make([]string, 0, len(charFreq))
	for c := range charFreq {
		chars = append(chars, c)
	}
	sort.Slice(chars, func(i, j int) bool {
		if charFreq[chars[i]] != charFreq[chars[j]] {
			return charFreq[chars[i]] > charFreq[chars[j]]
		}
		return chars[i] < chars[j]
	})
	var merges []string
	have := map[string]bool{}
	for _, c := range chars {
		have[c] = true
	}
	for 3+256+len(merges)+len(chars) < vocabTarget {
		pairs := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 0
		for p, n := range pairs {
			if n > bestN || (n == bestN && p[0]+p[1] < best[0]+best[1]) {
				best, bestN = p, n
			}
		}
		if bestN == 0 {
			break
		}
		merged := best[0] + best[1]
		for wi := range words {
			s := words[wi].syms
			var out []string
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					out = append(out, merged)
					i++
					continue
				}
				out = append(out, s[i])
			}
			words[wi].syms = out
		}
		if !have[merged] {
			have[merged] = true
			merges = append(merges, merged)
		}
	}
	piece := func(p string, score float32, t sentencepiece.ModelProto_SentencePiece_Type) *sentencepiece.ModelProto_SentencePiece {
		return &sentencepiece.ModelProto_SentencePiece{Piece: proto.String(p), Score: proto.Float32(score), Type: t.Enum()}
	}
	m := &sentencepiece.ModelProto{
		TrainerSpec: &sentencepiece.TrainerSpec{
			ModelType:    sentencepiece.TrainerSpec_BPE.Enum(),
			VocabSize:    proto.Int32(int32(3 + 256 + len(merges) + len(chars))),
			ByteFallback: proto.Bool(true),
			UnkId:        proto.Int32(0), BosId: proto.Int32(1), EosId: proto.Int32(2), PadId: proto.Int32(-1),
		},
		NormalizerSpec: &sentencepiece.NormalizerSpec{
			Name:                   proto.String("identity"),
			AddDummyPrefix:         proto.Bool(dummyPrefix),
			RemoveExtraWhitespaces: proto.Bool(false),
			EscapeWhitespaces:      proto.Bool(true),
		},
	}
	m.Pieces = append(m.Pieces,
		piece("<unk>", 0, sentencepiece.ModelProto_SentencePiece_UNKNOWN),
		piece("<s>", 0, sentencepiece.ModelProto_SentencePiece_CONTROL),
		piece("</s>", 0, sentencepiece.ModelProto_SentencePiece_CONTROL))
	for b := 0; b < 256; b++ {
		m.Pieces = append(m.Pieces, piece(fmt.Sprintf("<0x%02X>", b), 0, sentencepiece.ModelProto_SentencePiece_BYTE))
	}
	for i, p := range merges {
		m.Pieces = append(m.Pieces, piece(p, -float32(i), sentencepiece.ModelProto_SentencePiece_NORMAL))
	}
	for i, c := range chars {
		m.Pieces = append(m.Pieces, piece(c, -float32(len(merges)+i), sentencepiece.ModelProto_SentencePiece_NORMAL))
	}
	return m
}

// WriteTokenizer writes m as a tokenizer.model file.
func WriteTokenizer(path string, m *sentencepiece.ModelProto) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
