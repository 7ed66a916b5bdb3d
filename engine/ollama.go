package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"cxrview/assets"
)

// DefaultOllamaHost is where an Ollama server listens unless told otherwise.
const DefaultOllamaHost = "http://127.0.0.1:11434"

// Errors of the Ollama engine a caller may want to tell apart.
var (
	ErrOllamaUnreachable = errors.New("the Ollama server cannot be reached")
	ErrOllamaNoModel     = errors.New("the Ollama server has no such model")
)

// Ollama is an Engine that runs models on an Ollama server through its HTTP
// API, for sites where one GPU machine serves several workstations.
//
// It sends the raw prompt cxrview renders itself (Ollama's own template is
// bypassed) with the image marker Ollama's runner splits on, and the image
// exactly as the embedded runner would encode it: the prepared gray input,
// block-rotated when the projector needs it, at the projector's own size so
// that the server resamples nothing. Greedy decoding then evaluates the same
// token sequence on the same llama.cpp and gives the same text as the
// embedded runner, provided the server's copy of the model was made with
// `cxrview model export-ollama` (see CopyWithoutAddBOS).
type Ollama struct {
	host    string // base URL without a trailing slash
	client  *http.Client
	connect time.Duration
	stall   time.Duration

	turn chan struct{} // held by the one call that talks to the server

	mu     sync.Mutex
	model  *ollamaModel
	closed bool
}

// ollamaModel is what Load learned about the server's model.
type ollamaModel struct {
	spec       ModelSpec
	info       ModelInfo
	name       string
	patch      int
	bosPrefix  string // the BOS tokens the server will not add, as text
	chunkSpace bool   // non-legacy tokenizer: chunks carry their word-start mark (MarkChunk)
	options    map[string]any
}

// OllamaOption configures an Ollama engine.
type OllamaOption func(*Ollama)

// WithOllamaTimeouts sets how long to wait for a connection, and how long
// the server may stay silent: before the first byte of an answer (loading
// a model and evaluating 1,024 image tokens on a CPU server takes minutes)
// and between two pieces of a stream. There is no limit on the total time.
func WithOllamaTimeouts(connect, stall time.Duration) OllamaOption {
	return func(o *Ollama) { o.connect, o.stall = connect, stall }
}

// NewOllama returns an Engine that uses the Ollama server at host: a URL
// ("http://gpu-server:11434"), or a host name or address with an optional
// port, as OLLAMA_HOST takes it. Nothing is contacted until Load.
func NewOllama(host string, opts ...OllamaOption) (*Ollama, error) {
	base, err := ParseOllamaHost(host)
	if err != nil {
		return nil, err
	}
	o := &Ollama{host: base, connect: 10 * time.Second, stall: 10 * time.Minute, turn: make(chan struct{}, 1)}
	for _, opt := range opts {
		opt(o)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: o.connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = o.connect
	o.client = &http.Client{Transport: tr}
	return o, nil
}

// ParseOllamaHost turns what a user types for a server into a base URL,
// the way Ollama reads OLLAMA_HOST: without a scheme it is http on port
// 11434; with http:// or https:// the scheme's own port is the default.
func ParseOllamaHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultOllamaHost, nil
	}
	port := "11434"
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return "", fmt.Errorf("%q is not an Ollama server address: the scheme must be http or https", s)
		}
	} else {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an Ollama server address (want e.g. http://gpu-server:11434)", s)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Host returns the server's base URL.
func (o *Ollama) Host() string { return o.host }

// Models lists the models the server has, for a settings dialog.
func (o *Ollama) Models(ctx context.Context) ([]string, error) {
	var tags struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := o.call(ctx, http.MethodGet, "/api/tags", nil, &tags); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(tags.Models))
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names, nil
}

// Load implements Engine: spec.Text is the server's model name and
// spec.Context the context to ask for; the server decides threads and GPU
// layers itself (spec's are ignored). Load checks that the model is a
// LLaVA-style vision model cxrview can prompt, loads it on the server with
// the context the requests will ask for, and reports where it runs.
func (o *Ollama) Load(ctx context.Context, spec ModelSpec, progress func(float64)) (ModelInfo, error) {
	name := strings.TrimSpace(spec.Text)
	if name == "" {
		return ModelInfo{}, errors.New("no Ollama model name given")
	}
	if spec.Context < 0 {
		return ModelInfo{}, fmt.Errorf("invalid context %d", spec.Context)
	}
	if err := o.acquire(ctx); err != nil {
		return ModelInfo{}, err
	}
	defer o.release()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ModelInfo{}, ErrClosed
	}
	if o.model != nil && o.model.spec == spec {
		info := o.model.info
		o.mu.Unlock()
		return info, nil
	}
	o.model = nil
	o.mu.Unlock()

	start := time.Now()
	if progress != nil {
		progress(0)
	}
	var show ollamaShow
	if err := o.call(ctx, http.MethodPost, "/api/show", map[string]any{"model": name}, &show); err != nil {
		return ModelInfo{}, o.modelError(ctx, name, err)
	}
	m, err := describeOllamaModel(name, show)
	if err != nil {
		return ModelInfo{}, fmt.Errorf("%s on %s: %w", name, o.host, err)
	}
	m.spec = spec
	info := &m.info
	info.Context = spec.Context
	if info.Context <= 0 {
		info.Context = DefaultContext
	}
	if train := intKV(show.ModelInfo, "llama.context_length"); train > 0 && info.Context > train {
		info.Notices = append(info.Notices, fmt.Sprintf("The context was limited to %d tokens, the model's trained length.", train))
		info.Context = train
	}
	if least := MinContext(info.ImageTokens); info.Context < least {
		return ModelInfo{}, fmt.Errorf("a context of %d tokens cannot hold the image's %d tokens and a prompt; use at least %d", info.Context, info.ImageTokens, least)
	}
	// Only the context goes with the requests. Threads and GPU layers are
	// this workstation's settings, not the server's; and a shared server
	// reloads the model whenever such an option changes between requests,
	// so clients with different settings would make it reload all day.
	m.options = map[string]any{"num_ctx": info.Context}

	// An empty prompt makes the server load the model with these options,
	// so that loading errors show here and the first report does not wait.
	var loaded ollamaChunk
	if err := o.call(ctx, http.MethodPost, "/api/generate", map[string]any{"model": name, "options": m.options, "stream": false}, &loaded); err != nil {
		return ModelInfo{}, o.modelError(ctx, name, err)
	}
	placement := ""
	var ps struct {
		Models []struct {
			Name          string `json:"name"`
			Model         string `json:"model"`
			Size          int64  `json:"size"`
			SizeVRAM      int64  `json:"size_vram"`
			ContextLength int    `json:"context_length"`
		} `json:"models"`
	}
	if err := o.call(ctx, http.MethodGet, "/api/ps", nil, &ps); err == nil {
		for _, r := range ps.Models {
			if !sameModelName(r.Name, name) && !sameModelName(r.Model, name) {
				continue
			}
			switch {
			case r.SizeVRAM <= 0:
				placement = " (CPU)"
			case r.SizeVRAM >= r.Size:
				placement = " (GPU)"
			default:
				placement = fmt.Sprintf(" (%d%% on the GPU)", int(math.Round(100*float64(r.SizeVRAM)/float64(r.Size))))
			}
			// The server may give another context than asked: more (Ollama
			// gives vision models at least 2,048 tokens) or less (its
			// memory, its limits). Requests must fit what it really holds.
			if r.ContextLength > 0 && r.ContextLength != info.Context {
				if r.ContextLength < info.Context {
					info.Notices = append(info.Notices, fmt.Sprintf("The Ollama server runs the model with a context of %d tokens, not %d.", r.ContextLength, info.Context))
				}
				info.Context = r.ContextLength
			}
			info.VisionOnGPU = r.SizeVRAM > 0
			break
		}
	}
	if least := MinContext(info.ImageTokens); info.Context < least {
		return ModelInfo{}, fmt.Errorf("the Ollama server at %s runs %s with a context of %d tokens, too small for the image's %d tokens and a prompt (at least %d)", o.host, name, info.Context, info.ImageTokens, least)
	}
	info.Backend = "Ollama at " + o.host + placement
	info.LoadMS = time.Since(start).Milliseconds()
	if progress != nil {
		progress(1)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ModelInfo{}, ErrClosed
	}
	o.model = &m
	return m.info, nil
}

func sameModelName(a, b string) bool {
	norm := func(s string) string {
		if !strings.Contains(s[strings.LastIndex(s, "/")+1:], ":") {
			s += ":latest"
		}
		return s
	}
	return a != "" && norm(a) == norm(b)
}

// ollamaShow is the part of /api/show cxrview reads.
type ollamaShow struct {
	Capabilities  []string       `json:"capabilities"`
	ModelInfo     map[string]any `json:"model_info"`
	ProjectorInfo map[string]any `json:"projector_info"`
}

// describeOllamaModel checks what /api/show says about a model the way
// Inspect checks a pair of files, and turns it into the model's description.
func describeOllamaModel(name string, show ollamaShow) (ollamaModel, error) {
	m := ollamaModel{name: name}
	mi, pi := show.ModelInfo, show.ProjectorInfo
	if !slices.Contains(show.Capabilities, "vision") || len(pi) == 0 {
		return m, errors.New("not a vision model with a separate image projector: create it from the language model and its projector (two FROM lines; cxrview model export-ollama writes the Modelfile)")
	}
	if a := strKV(mi, "general.architecture"); a != "llama" {
		return m, fmt.Errorf("architecture %q is not supported (cxrview runs LLaMA-based LLaVA models such as CXR-LLaVA)", a)
	}
	if a := strKV(pi, "general.architecture"); a != "clip" {
		return m, fmt.Errorf("the projector's architecture is %q, not clip", a)
	}
	if pt := strKV(pi, "clip.projector_type"); pt != "" && pt != "mlp" {
		return m, fmt.Errorf("projector type %q is not supported (cxrview runs LLaVA's mlp projector)", pt)
	}
	size, patch := intKV(pi, "clip.vision.image_size"), intKV(pi, "clip.vision.patch_size")
	if size <= 0 || patch <= 0 || size%patch != 0 {
		return m, fmt.Errorf("the projector's image size %d and patch size %d do not make a grid", size, patch)
	}
	info := ModelInfo{
		Name:        name,
		ImageSize:   size,
		ImageTokens: (size / patch) * (size / patch),
		Embedding:   intKV(mi, "llama.embedding_length"),
		Layers:      intKV(mi, "llama.block_count"),
		TestModel:   boolKV(mi, KeyTestModel) || boolKV(pi, KeyTestModel),
	}
	family, layout := strKV(pi, KeyFamily), strKV(pi, KeyCLSLayout)
	switch {
	case family == FamilyCXRLLaVAv2:
		if !knownLayouts[layout] {
			return m, fmt.Errorf("CXR-LLaVA projector with CLS layout %q, which this build does not handle (it knows %s): convert and export the model again with this version of cxrview", layout, LayoutCLSLastSwap)
		}
		info.Template, info.BlockRotate = TemplateCXRLLaVA, layout == LayoutCLSLastSwap
	case family != "":
		return m, fmt.Errorf("unknown model family %q", family)
	default:
		info.Template, info.General = TemplateVicuna, true
	}
	m.patch = patch

	// Ollama's runner puts a BOS in front of the image whenever the
	// vocabulary adds BOS (see CopyWithoutAddBOS). A model exported by
	// cxrview has the flag off; the prompt then carries the BOS the
	// embedded runner's tokenizer adds, as text.
	addBOS := true // llama.cpp's default for LLaMA vocabularies
	if v, ok := mi[keyAddBOS].(bool); ok {
		addBOS = v
	}
	bos, hasBOS := mi["tokenizer.ggml.bos_token_id"].(float64)
	switch {
	case addBOS:
		info.Notices = append(info.Notices, "The Ollama server's copy of this model adds a BOS token in front of the image, which cxrview's embedded engine and the reference code do not: its drafts may differ from the embedded engine's. Export the model with `cxrview model export-ollama` and create it again with `ollama create` to match.")
	case strKV(mi, "tokenizer.ggml.model") == "llama" && (!hasBOS || bos == 1):
		m.bosPrefix = "<s>"
	default:
		return m, fmt.Errorf("the vocabulary adds no BOS token and cxrview cannot tell how to write one for tokenizer %q", strKV(mi, "tokenizer.ggml.model"))
	}
	// A non-legacy tokenizer (KeyHFLegacy false, add_space_prefix off):
	// the prompt's chunks carry their word-start mark, as in the runner.
	if v, ok := mi[KeyHFLegacy].(bool); ok && !v {
		m.chunkSpace = true
	}
	m.info = info
	return m, nil
}

func strKV(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func intKV(m map[string]any, key string) int {
	f, ok := m[key].(float64)
	if !ok || f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0
	}
	return int(f)
}

func boolKV(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

// imageMarkerRE is how Ollama's runner finds images in a raw prompt.
var imageMarkerRE = regexp.MustCompile(`\[img-(\d+)\]`)

// ollamaChunk is one line of /api/generate's stream.
type ollamaChunk struct {
	Response           string `json:"response"`
	Done               bool   `json:"done"`
	DoneReason         string `json:"done_reason"`
	Error              string `json:"error"`
	TotalDuration      int64  `json:"total_duration"`
	LoadDuration       int64  `json:"load_duration"`
	PromptEvalCount    int    `json:"prompt_eval_count"`
	PromptEvalDuration int64  `json:"prompt_eval_duration"`
	EvalCount          int    `json:"eval_count"`
	EvalDuration       int64  `json:"eval_duration"`
}

// Generate implements Engine. Sampling matches the embedded runner for
// greedy decoding (temperature 0); with a temperature the server's own
// sampler draws (llama.cpp's order: top-k, top-p, then temperature), so
// sampled drafts follow a slightly different distribution. Pieces carry no
// token ids (Token is -1): the server does not report them.
func (o *Ollama) Generate(ctx context.Context, req Request, onPiece func(Piece)) (Stats, error) {
	if err := o.acquire(ctx); err != nil {
		return Stats{StopReason: "cancelled"}, err
	}
	defer o.release()
	o.mu.Lock()
	m := o.model
	o.mu.Unlock()
	if m == nil {
		return Stats{}, ErrNoModel
	}
	body, prompt, maxTokens, err := m.request(req)
	if err != nil {
		return Stats{}, err
	}
	info := m.info
	stats := Stats{Backend: info.Backend, ContextCapacity: info.Context, Prompt: prompt}
	if need := info.ImageTokens + 1 + maxTokens; need > info.Context {
		return stats, fmt.Errorf("%w: the image's %d tokens plus %d new tokens need more than the %d the server's context holds; raise the context or lower the maximum of new tokens",
			ErrContextTooBig, info.ImageTokens, maxTokens, info.Context)
	}

	begin := time.Now()
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errStalled := fmt.Errorf("the Ollama server at %s sent nothing for %v", o.host, o.stall)
	watchdog := time.AfterFunc(o.stall, func() { cancel(errStalled) })
	defer watchdog.Stop()
	resp, err := o.send(rctx, http.MethodPost, "/api/generate", body)
	if err != nil {
		return o.streamEnd(ctx, rctx, stats, o.modelError(ctx, m.name, err))
	}
	defer resp.Body.Close()

	dec := json.NewDecoder(resp.Body)
	first := true
	for {
		var c ollamaChunk
		if err := dec.Decode(&c); err != nil {
			if rctx.Err() == nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = fmt.Errorf("the Ollama server at %s ended the answer early (did it stop or restart? its log says why)", o.host)
				} else {
					err = fmt.Errorf("read the answer of the Ollama server at %s: %w", o.host, rootCause(err))
				}
			}
			return o.streamEnd(ctx, rctx, stats, err)
		}
		watchdog.Reset(o.stall)
		if ctx.Err() != nil {
			// The stream may hold more pieces than were read before the
			// cancel; none of them reaches the caller.
			return o.streamEnd(ctx, rctx, stats, ctx.Err())
		}
		if c.Error != "" {
			return stats, o.serverError(c.Error)
		}
		if c.Response != "" {
			if stats.GenTokens == 0 {
				stats.FirstTokenMS = time.Since(begin).Milliseconds()
			}
			stats.GenTokens++
			text := c.Response
			switch {
			case text == "<s>" || text == "<unk>":
				// Ollama's runner writes special tokens as their text; the
				// embedded runner, like the reference decoder, skips them.
				// With no stop strings each chunk is one token's piece, and
				// these are LLaMA's special tokens that do not end a draft.
				text = ""
			case first:
				// SentencePiece marks the start of a word with a space; the
				// embedded runner, like the reference decoder, drops it at
				// the start of the answer.
				text = strings.TrimPrefix(text, " ")
				first = text == ""
			}
			if text != "" && onPiece != nil {
				onPiece(Piece{Text: text, Token: -1})
			}
		}
		if c.Done {
			return m.finish(stats, c, maxTokens, begin)
		}
	}
}

// streamEnd turns the end of a stream that did not finish into the error
// Generate returns: a cancellation by the caller, a stalled server, or
// what went wrong.
func (o *Ollama) streamEnd(ctx, rctx context.Context, stats Stats, err error) (Stats, error) {
	if ctx.Err() != nil {
		stats.StopReason = "cancelled"
		return stats, ctx.Err()
	}
	if cause := context.Cause(rctx); cause != nil && rctx.Err() != nil {
		return stats, cause
	}
	return stats, err
}

// request renders the prompt and builds the body of /api/generate.
func (m *ollamaModel) request(req Request) (map[string]any, string, int, error) {
	if req.Image == nil {
		return nil, "", 0, errors.New("no image")
	}
	size := m.info.ImageSize
	if w, h := req.Image.Rect.Dx(), req.Image.Rect.Dy(); w != size || h != size {
		return nil, "", 0, fmt.Errorf("the image is %dx%d but this projector takes %dx%d (prepare it with imaging.PrepareModelInput)", w, h, size, size)
	}
	if req.IgnoreEOS {
		return nil, "", 0, errors.New("an Ollama server cannot be told to ignore the end of text; benchmarks run on the embedded engine")
	}
	rendered, err := RenderPrompt(m.info.Template, req.Turns)
	if err != nil {
		return nil, "", 0, err
	}
	if loc := imageMarkerRE.FindString(rendered); loc != "" {
		return nil, "", 0, fmt.Errorf("the conversation contains %q, which Ollama would read as an image marker; rephrase it", loc)
	}
	if n := strings.Count(rendered, ImageMarker); n != 1 {
		return nil, "", 0, fmt.Errorf("the prompt must hold the image marker %s exactly once (found %d)", ImageMarker, n)
	}
	before, after, _ := strings.Cut(rendered, ImageMarker)
	if m.chunkSpace {
		before, after = MarkChunk(before), MarkChunk(after)
	}
	prompt := m.bosPrefix + before + "[img-0]" + after
	img, err := ollamaImage(req.Image, m.info.BlockRotate, m.patch)
	if err != nil {
		return nil, "", 0, err
	}
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	opts := make(map[string]any, len(m.options)+10)
	for k, v := range m.options {
		opts[k] = v
	}
	s := req.Sampling
	opts["num_predict"] = maxTokens
	opts["temperature"] = s.Temperature
	opts["top_k"] = s.TopK // 0 disables it in llama.cpp, as in the embedded sampler
	topP := s.TopP
	if topP <= 0 || topP > 1 {
		topP = 1
	}
	opts["top_p"] = topP
	opts["seed"] = int64(s.Seed & math.MaxInt32)
	// Ollama's defaults add sampling steps the reference does not have
	// (a repeat penalty of 1.1 changes even greedy decoding), and a
	// Modelfile's stop strings would end a draft early: switch them off.
	opts["repeat_penalty"] = 1.0
	opts["presence_penalty"] = 0.0
	opts["frequency_penalty"] = 0.0
	opts["min_p"] = 0.0
	opts["typical_p"] = 1.0
	opts["stop"] = []string{}
	body := map[string]any{
		"model":   m.name,
		"prompt":  prompt,
		"raw":     true,
		"stream":  true,
		"images":  []string{img},
		"options": opts,
		// Fail instead of dropping part of the prompt, and stop instead of
		// shifting the context in the middle of a report.
		"truncate": false,
		"shift":    false,
	}
	return body, prompt, maxTokens, nil
}

// ollamaImage encodes the model input as the PNG the server decodes: the
// gray pixels, in the block order the projector needs, at its own size.
func ollamaImage(g *image.Gray, rotate bool, patch int) (string, error) {
	size := g.Rect.Dx()
	pix := grayBytes(g)
	if rotate {
		pix = ReorderBlocks(pix, size, patch)
	}
	out := &image.Gray{Pix: pix, Stride: size, Rect: image.Rect(0, 0, size, g.Rect.Dy())}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, out); err != nil {
		return "", fmt.Errorf("encode the image: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// finish checks the server's final statistics against what the request
// needed and fills in Stats.
func (m *ollamaModel) finish(stats Stats, c ollamaChunk, maxTokens int, begin time.Time) (Stats, error) {
	stats.PromptTokens = c.PromptEvalCount
	stats.GenTokens = c.EvalCount
	stats.LoadMS = c.LoadDuration / 1e6
	stats.PromptMS = c.PromptEvalDuration / 1e6
	stats.GenMS = c.EvalDuration / 1e6
	if c.PromptEvalDuration > 0 {
		stats.PromptTPS = float64(c.PromptEvalCount) / (float64(c.PromptEvalDuration) / 1e9)
	}
	if c.EvalDuration > 0 {
		stats.GenTPS = float64(c.EvalCount) / (float64(c.EvalDuration) / 1e9)
	}
	stats.TotalMS = time.Since(begin).Milliseconds()
	switch c.DoneReason {
	case "stop":
		// No stop strings are sent: only the end of text stops. Ollama
		// counts the end token among the evaluated ones; it is no text.
		stats.StopReason = "eos"
		stats.GenTokens = max(c.EvalCount-1, 0)
	default:
		stats.StopReason = c.DoneReason
	}
	info := m.info
	if c.PromptEvalCount > 0 && c.PromptEvalCount <= info.ImageTokens {
		return stats, fmt.Errorf("the Ollama server evaluated %d prompt positions, no more than the image's %d tokens: it did not see the image and the prompt", c.PromptEvalCount, info.ImageTokens)
	}
	if c.PromptEvalCount >= info.Context {
		return stats, fmt.Errorf("%w: the Ollama server filled its context of %d tokens with the prompt (it may have cut the prompt); raise the context", ErrContextTooBig, info.Context)
	}
	if c.DoneReason == "length" && c.EvalCount < maxTokens {
		return stats, fmt.Errorf("%w: the server's context of %d tokens filled up after %d prompt positions and %d new tokens, before the limit of %d; raise the context or lower the maximum of new tokens",
			ErrContextTooBig, info.Context, c.PromptEvalCount, c.EvalCount, maxTokens)
	}
	return stats, nil
}

// Unload implements Engine. The server decides itself when to free a model
// (its keep-alive): other workstations may be using it, so cxrview only
// forgets it.
func (o *Ollama) Unload(ctx context.Context) error {
	if err := o.acquire(ctx); err != nil {
		return err
	}
	defer o.release()
	o.mu.Lock()
	o.model = nil
	o.mu.Unlock()
	return nil
}

// Close implements Engine.
func (o *Ollama) Close() error {
	o.mu.Lock()
	o.closed, o.model = true, nil
	o.mu.Unlock()
	o.client.CloseIdleConnections()
	return nil
}

func (o *Ollama) acquire(ctx context.Context) error {
	select {
	case o.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Ollama) release() { <-o.turn }

// call sends a request whose answer is one JSON document and decodes it
// into out; the stall limit covers the whole call.
func (o *Ollama) call(ctx context.Context, method, path string, in, out any) error {
	rctx, cancel := context.WithTimeoutCause(ctx, o.stall, fmt.Errorf("the Ollama server at %s did not answer within %v", o.host, o.stall))
	defer cancel()
	resp, err := o.send(rctx, method, path, in)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return context.Cause(rctx)
		}
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return context.Cause(rctx)
		}
		return fmt.Errorf("read the answer of %s%s: %w", o.host, path, err)
	}
	return nil
}

// httpStatusError is an error answer of the server.
type httpStatusError struct {
	status int
	msg    string
}

func (e *httpStatusError) Error() string { return e.msg }

// send makes one request and returns a successful response; error statuses
// become errors carrying the server's message.
func (o *Ollama) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.host+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := o.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s (%v): is `ollama serve` running there, and for other machines started with OLLAMA_HOST=0.0.0.0 and let through the firewall?", ErrOllamaUnreachable, o.host, rootCause(err))
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if msg == "" {
		msg = resp.Status
	}
	return nil, &httpStatusError{status: resp.StatusCode, msg: msg}
}

// rootCause strips the URL and operation that net/http wraps around a
// network error, which the message already names.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// modelError explains a failed request about the model name.
func (o *Ollama) modelError(ctx context.Context, name string, err error) error {
	var se *httpStatusError
	if !errors.As(err, &se) {
		return err
	}
	if se.status == http.StatusNotFound {
		hint := "create it with `cxrview model export-ollama` and `ollama create` on the server"
		if names, lerr := o.Models(ctx); lerr == nil {
			if len(names) == 0 {
				hint += "; it has no models yet"
			} else {
				hint += "; it has " + strings.Join(names, ", ")
			}
		}
		return fmt.Errorf("%w: the Ollama server at %s has no model %q (%s)", ErrOllamaNoModel, o.host, name, hint)
	}
	return o.serverError(se.msg)
}

// serverError turns an error message of the server into an error, marking
// the ones about the context.
func (o *Ollama) serverError(msg string) error {
	if strings.Contains(msg, "context length") || strings.Contains(msg, "context window") {
		return fmt.Errorf("%w: the Ollama server at %s says: %s; raise the context or shorten the conversation", ErrContextTooBig, o.host, msg)
	}
	return fmt.Errorf("the Ollama server at %s says: %s", o.host, msg)
}

// OllamaTemplate is what a Modelfile needs to prompt a model the way
// RenderPrompt does, for clients that use Ollama's own chat (ollama run,
// /api/chat). cxrview itself sends raw prompts and needs none of it.
type OllamaTemplate struct {
	Template string   // a Go template over .System and .Messages
	System   string   // the system prompt
	Stop     []string // stop strings
}

// OllamaTemplateFor returns the Modelfile template for t, written for a
// language model exported without add_bos_token (CopyWithoutAddBOS): the
// BOS tokens the tokenizer would add are part of the template. Ollama puts
// "[img-0]" in front of the first user message's text where the reference
// code has "<image>\n"; the template restores the newline.
func OllamaTemplateFor(t Template) (OllamaTemplate, error) {
	const image = `{{ if and (ge (len .Content) 7) (eq (slice .Content 0 7) "[img-0]") }}[img-0]
{{ slice .Content 7 }}{{ else }}{{ .Content }}{{ end }}`
	switch t {
	case TemplateCXRLLaVA:
		return OllamaTemplate{
			// The tokenizer's BOS, then the template's own "<s>" (see RenderPrompt).
			Template: `{{- $first := true }}
{{- range .Messages }}
{{- if eq .Role "user" }}
{{- if $first }}<s><s>[INST] <<SYS>>
{{ $.System }}
<</SYS>>

` + image + ` [/INST]
{{- $first = false }}
{{- else }}<s>[INST] {{ .Content }} [/INST]
{{- end }}
{{- else if eq .Role "assistant" }} {{ .Content }} </s>
{{- end }}
{{- end }}`,
			System: assets.MustPrompt("cxr-system"),
			Stop:   []string{"</s>"},
		}, nil
	case TemplateVicuna:
		return OllamaTemplate{
			Template: `{{- $first := true }}<s>{{ .System }}{{ " " }}
{{- range .Messages }}
{{- if eq .Role "user" }}USER: {{ if $first }}` + image + `{{ else }}{{ .Content }}{{ end }} ASSISTANT:
{{- $first = false }}
{{- else if eq .Role "assistant" }} {{ .Content }}</s>
{{- end }}
{{- end }}`,
			System: assets.MustPrompt("vicuna-system"),
			Stop:   []string{"</s>", "USER:"},
		}, nil
	}
	return OllamaTemplate{}, fmt.Errorf("unknown prompt template %q", t)
}
