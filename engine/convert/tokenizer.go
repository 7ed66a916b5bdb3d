package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/ollama/ollama/convert/sentencepiece"
	"google.golang.org/protobuf/proto"
)

// vocab is a SentencePiece vocabulary in GGUF's terms.
type vocab struct {
	Tokens         []string
	Scores         []float32
	Types          []int32 // llama.cpp's token types, which are SentencePiece's piece types
	UNK, BOS, EOS  int
	AddSpacePrefix bool // the normalizer's add_dummy_prefix
	Padded         int  // filler tokens added to reach the embedding's row count
}

// readTokenizer reads tokenizer.model (a SentencePiece ModelProto) and
// checks what llama.cpp's SentencePiece tokenizer relies on: a BPE model,
// all 256 byte pieces for byte fallback, and the special tokens.
func readTokenizer(dir string, vocabSize int) (vocab, error) {
	path := filepath.Join(dir, "tokenizer.model")
	b, err := readSmall(path, 64<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return vocab{}, fmt.Errorf("%s is missing: the language model needs its SentencePiece tokenizer", path)
	}
	if err != nil {
		return vocab{}, err
	}
	var m sentencepiece.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return vocab{}, fmt.Errorf("%s is not a SentencePiece model: %w", path, err)
	}
	fail := func(format string, a ...any) (vocab, error) {
		return vocab{}, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	pieces := m.GetPieces()
	if len(pieces) == 0 {
		return fail("the model has no pieces")
	}
	if mt := m.GetTrainerSpec().GetModelType(); mt != sentencepiece.TrainerSpec_BPE {
		return fail("model type %v; LLaMA's tokenizer (and llama.cpp's reading of it) is BPE", mt)
	}
	if len(pieces) > vocabSize {
		return fail("%d pieces for an embedding of %d rows", len(pieces), vocabSize)
	}
	v := vocab{UNK: -1, BOS: -1, EOS: -1, AddSpacePrefix: m.GetNormalizerSpec().GetAddDummyPrefix()}
	var seenByte [256]bool
	bytePieces := 0
	for i, p := range pieces {
		typ := int32(p.GetType())
		switch p.GetType() {
		case sentencepiece.ModelProto_SentencePiece_NORMAL, sentencepiece.ModelProto_SentencePiece_USER_DEFINED,
			sentencepiece.ModelProto_SentencePiece_UNUSED, sentencepiece.ModelProto_SentencePiece_CONTROL:
		case sentencepiece.ModelProto_SentencePiece_UNKNOWN:
			v.UNK = i
		case sentencepiece.ModelProto_SentencePiece_BYTE:
			var x int
			if n, err := fmt.Sscanf(p.GetPiece(), "<0x%02X>", &x); n != 1 || err != nil || len(p.GetPiece()) != 6 || seenByte[x] {
				return fail("byte piece %d is %q, not a new <0xNN>", i, p.GetPiece())
			}
			seenByte[x] = true
			bytePieces++
		default:
			return fail("piece %d (%q) has unknown type %d", i, p.GetPiece(), typ)
		}
		v.Tokens = append(v.Tokens, p.GetPiece())
		v.Scores = append(v.Scores, p.GetScore())
		v.Types = append(v.Types, typ)
	}
	if bytePieces != 256 {
		return fail("%d byte pieces (<0x00>…<0xFF>) instead of 256: llama.cpp needs all of them for byte fallback, or it aborts on the first character outside the vocabulary", bytePieces)
	}
	if v.UNK < 0 {
		return fail("no <unk> piece")
	}
	ts := m.GetTrainerSpec()
	for _, s := range []struct {
		what string
		id   int32
		dst  *int
	}{{"BOS", ts.GetBosId(), &v.BOS}, {"EOS", ts.GetEosId(), &v.EOS}} {
		if s.id < 0 || int(s.id) >= len(pieces) || pieces[s.id].GetType() != sentencepiece.ModelProto_SentencePiece_CONTROL {
			return fail("the %s token (id %d) is not a control piece", s.what, s.id)
		}
		*s.dst = int(s.id)
	}
	if err := checkAddedTokens(dir, v); err != nil {
		return vocab{}, err
	}
	for i := len(v.Tokens); i < vocabSize; i++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", i))
		v.Scores = append(v.Scores, -1000)
		v.Types = append(v.Types, int32(sentencepiece.ModelProto_SentencePiece_UNUSED))
		v.Padded++
	}
	return v, nil
}

// checkAddedTokens refuses tokens that added_tokens.json places beyond
// the SentencePiece vocabulary or under another name: CXR-LLaVA's names only
// the three specials, at their SentencePiece ids.
func checkAddedTokens(dir string, v vocab) error {
	path := filepath.Join(dir, "added_tokens.json")
	b, err := readSmall(path, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var added map[string]int
	if err := json.Unmarshal(b, &added); err != nil {
		return fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	for tok, id := range added {
		if id < 0 || id >= len(v.Tokens) || v.Tokens[id] != tok {
			return fmt.Errorf("%s adds token %q as id %d, which the SentencePiece vocabulary does not have: this is not CXR-LLaVA's tokenizer", path, tok, id)
		}
	}
	return nil
}
