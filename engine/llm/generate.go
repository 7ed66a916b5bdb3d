package llm

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cxrview/engine"

	"github.com/ollama/ollama/llama"
)

// input is one prompt position: a token, or one row of image embeddings.
type input struct {
	key   inputKey
	embed []float32
}

func (st *state) generate(args engine.GenerateArgs, stop *atomic.Bool, emit func(engine.Piece)) (engine.Stats, error) {
	begin := time.Now()
	if !st.loaded() {
		return engine.Stats{}, engine.ErrNoModel
	}
	if strings.TrimSpace(args.Prompt) == "" {
		return engine.Stats{}, errors.New("the prompt is empty")
	}
	parts := strings.Split(args.Prompt, engine.ImageMarker)
	if len(parts) != 2 {
		return engine.Stats{}, fmt.Errorf("the prompt must hold the image marker %s exactly once (found %d)", engine.ImageMarker, len(parts)-1)
	}
	maxTokens := args.MaxTokens
	if maxTokens <= 0 {
		maxTokens = engine.DefaultMaxTokens
	}
	emb, hash, cached, encodeTime, err := st.imageEmbeddings(args)
	if err != nil {
		return engine.Stats{}, err
	}
	// The first part carries the BOS the tokenizer adds (and the template's
	// literal <s>); the second is tokenized without one, as the reference's
	// tokenizer_image_token drops it (see docs/model.md on the double BOS).
	if st.in.ChunkSpace {
		parts[0], parts[1] = engine.MarkChunk(parts[0]), engine.MarkChunk(parts[1])
	}
	before, err := st.model.Tokenize(parts[0], true, true)
	if err != nil {
		return engine.Stats{}, fmt.Errorf("tokenize the prompt: %w", err)
	}
	after, err := st.model.Tokenize(parts[1], false, true)
	if err != nil {
		return engine.Stats{}, fmt.Errorf("tokenize the prompt: %w", err)
	}
	inputs := make([]input, 0, len(before)+len(emb)+len(after))
	for _, t := range before {
		inputs = append(inputs, input{key: inputKey{token: t}})
	}
	for i, e := range emb {
		inputs = append(inputs, input{key: inputKey{token: -1, image: hash, index: i}, embed: e})
	}
	for _, t := range after {
		inputs = append(inputs, input{key: inputKey{token: t}})
	}
	stats := engine.Stats{
		EncodeMS:        encodeTime.Milliseconds(),
		ImageCached:     cached,
		PromptTokens:    len(inputs),
		Backend:         st.info.Backend,
		ContextCapacity: st.nCtx,
		LoadMS:          st.info.LoadMS,
	}
	if args.WantTokens {
		stats.PromptTokenIDs = append(append(append([]int{}, before...), engine.ImageTokenID), after...)
		stats.Prompt = args.Prompt
	}
	if need := len(inputs) + maxTokens; need > st.nCtx {
		return stats, fmt.Errorf("%w: the prompt needs %d positions (%d of them the image) plus %d new tokens = %d, but the context holds %d; raise the context or lower the maximum of new tokens",
			engine.ErrContextTooBig, len(inputs), len(emb), maxTokens, need, st.nCtx)
	}

	// Reuse what the KV cache already holds of this prompt (a follow-up
	// question shares the image and the earlier turns).
	n := 0
	for n < len(inputs) && n < len(st.cache) && inputs[n].key == st.cache[n] {
		n++
	}
	if n == len(inputs) {
		n-- // the last position is evaluated again for its logits
	}
	if n < len(st.cache) {
		if !st.lc.KvCacheSeqRm(0, n, -1) {
			st.lc.KvCacheClear()
			n = 0
		}
		st.cache = st.cache[:n]
	}
	stats.CachedTokens = n

	t := time.Now()
	logitsAt, err := st.decodeInputs(inputs[n:], stop)
	if err != nil {
		if errors.Is(err, errStopped) {
			stats.StopReason = "cancelled"
			stats.TotalMS = time.Since(begin).Milliseconds()
			return stats, nil
		}
		return stats, err
	}
	stats.PromptMS = time.Since(t).Milliseconds()
	if d := time.Since(t).Seconds(); d > 0 {
		stats.PromptTPS = float64(len(inputs)-n) / d
	}

	sampler := engine.NewSampler(args.Sampling)
	var pending []byte // bytes of an incomplete UTF-8 sequence
	first := true
	gen := time.Now()
	stats.StopReason = "length"
	for i := 0; i < maxTokens; i++ {
		if stop.Load() {
			stats.StopReason = "cancelled"
			break
		}
		logits := st.lc.GetLogitsIth(logitsAt)
		tok := sampler.Sample(logits)
		if st.model.TokenIsEog(tok) && !args.IgnoreEOS {
			stats.StopReason = "eos"
			break
		}
		if i == 0 {
			stats.FirstTokenMS = time.Since(begin).Milliseconds()
		}
		stats.GenTokens++
		if args.WantTokens {
			stats.TokenIDs = append(stats.TokenIDs, tok)
		}
		pending = append(pending, piece(st.model, tok)...)
		if text := completeUTF8(&pending); text != "" {
			if first {
				// SentencePiece marks the start of a word with a space; the
				// reference decoder drops it at the start of the answer.
				text = strings.TrimPrefix(text, " ")
				first = text == ""
			}
			if text != "" {
				emit(engine.Piece{Text: text, Token: tok})
			}
		}
		if i == maxTokens-1 {
			break // no need to decode a token nothing will follow
		}
		logitsAt, err = st.decodeInputs([]input{{key: inputKey{token: tok}}}, stop)
		if errors.Is(err, errStopped) {
			stats.StopReason = "cancelled"
			break
		}
		if err != nil {
			return stats, err
		}
	}
	if len(pending) > 0 {
		emit(engine.Piece{Text: string(pending)})
	}
	stats.GenMS = time.Since(gen).Milliseconds()
	if d := time.Since(gen).Seconds(); d > 0 && stats.GenTokens > 0 {
		stats.GenTPS = float64(stats.GenTokens) / d
	}
	stats.TotalMS = time.Since(begin).Milliseconds()
	stats.PeakRSS = peakRSS()
	for name, now := range gpuFree() {
		if before, ok := st.gpuFree[name]; ok && before > now {
			stats.VRAMUsed += int64(before - now)
		}
	}
	return stats, nil
}

// decodeInputs feeds inputs to the model in batches of one kind (tokens or
// embeddings) and returns the batch index holding the last input's logits.
func (st *state) decodeInputs(inputs []input, stop *atomic.Bool) (int, error) {
	last := 0
	for start := 0; start < len(inputs); {
		if stop.Load() {
			return 0, errStopped
		}
		isEmbed := inputs[start].embed != nil
		b := st.tokens
		if isEmbed {
			b = st.embeds
		}
		b.Clear()
		end := start
		for end < len(inputs) && end-start < batchSize && (inputs[end].embed != nil) == isEmbed {
			end++
		}
		pos0 := len(st.cache)
		for i := start; i < end; i++ {
			b.Add(inputs[i].key.token, inputs[i].embed, pos0+i-start, i == len(inputs)-1, 0)
		}
		if err := st.lc.Decode(b); err != nil {
			// An abort from the cancel callback reads as a full cache in the
			// wrapper; either way the batch's positions are undone.
			st.lc.KvCacheSeqRm(0, pos0, -1)
			if stop.Load() {
				return 0, errStopped
			}
			if errors.Is(err, llama.ErrKvCacheFull) {
				return 0, fmt.Errorf("%w: llama.cpp found no room in the KV cache", engine.ErrContextTooBig)
			}
			return 0, fmt.Errorf("decode: %w%s", err, because(""))
		}
		for i := start; i < end; i++ {
			st.cache = append(st.cache, inputs[i].key)
		}
		last = end - start - 1
		start = end
	}
	return last, nil
}

// completeUTF8 takes the longest valid UTF-8 prefix out of *b, leaving an
// incomplete trailing sequence for the next piece. Invalid bytes that can
// never complete are replaced.
func completeUTF8(b *[]byte) string {
	s := *b
	cut := len(s)
	// Look back at most 3 bytes for the start of an incomplete rune.
	for i := len(s) - 1; i >= 0 && i >= len(s)-3; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRune(s[i:]) {
				cut = i
			}
			break
		}
	}
	out := strings.ToValidUTF8(string(s[:cut]), "\uFFFD")
	*b = append(s[:0], s[cut:]...)
	return out
}
