package engine

import (
	"context"
	"fmt"
	"image"
)

// Engine is what the viewer and the command line use to run a model: the
// embedded runner (Runner) and an Ollama server (Ollama) both implement it.
// Calls are safe from several goroutines; one generation runs at a time and
// further calls wait their turn.
type Engine interface {
	// Load makes spec the current model, reporting progress from 0 to 1.
	Load(ctx context.Context, spec ModelSpec, progress func(float64)) (ModelInfo, error)
	// Generate runs one request, calling onPiece for each piece of text as
	// it is produced. Cancelling ctx stops it; the pieces seen so far stay
	// valid and Stats.StopReason is "cancelled".
	Generate(ctx context.Context, req Request, onPiece func(Piece)) (Stats, error)
	// Unload frees the model and all the memory it holds.
	Unload(ctx context.Context) error
	// Close releases the engine for good.
	Close() error
}

// GPULayersAuto asks the runner to offload as many layers as fit in free GPU memory.
const GPULayersAuto = -1

// ModelSpec names a model's files and how to run them.
type ModelSpec struct {
	Name      string `json:"name,omitempty"` // shown to the user; the file name if empty
	Text      string `json:"text"`           // the language model GGUF (or, for Ollama, the model name)
	Projector string `json:"projector"`      // the vision projector GGUF (mmproj)
	GPULayers int    `json:"gpu_layers"`     // GPULayersAuto, 0 for CPU only, or a layer count
	Threads   int    `json:"threads"`        // 0: one per physical core
	Context   int    `json:"context"`        // context length in tokens; 0: DefaultContext
}

// DefaultContext holds CXR-LLaVA's 1,024 image tokens, the prompt and 512
// new tokens with room for a few follow-up questions.
const DefaultContext = 4096

// MinContext is the smallest context a model whose projector gives
// imageTokens tokens is loaded with: the image, CXR-LLaVA's system prompt
// and question (about 100 tokens) and room for a short answer. Every engine
// and the Ollama export apply this one rule.
func MinContext(imageTokens int) int { return imageTokens + 256 }

// DefaultMaxTokens is the reference code's limit on new tokens.
const DefaultMaxTokens = 512

// Template names a prompt format.
type Template string

const (
	// TemplateCXRLLaVA is the Llama-2 chat format with CXR-LLaVA's system prompt.
	TemplateCXRLLaVA Template = "cxr-llava"
	// TemplateVicuna is LLaVA-1.5's format.
	TemplateVicuna Template = "vicuna"
)

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Name        string   `json:"name"`
	Template    Template `json:"template"`
	General     bool     `json:"general"`    // a general LLaVA model, not trained on chest films
	TestModel   bool     `json:"test_model"` // random weights: its text is never a report
	ImageSize   int      `json:"image_size"` // the projector's square input size in pixels
	ImageTokens int      `json:"image_tokens"`
	Embedding   int      `json:"embedding"` // the language model's width
	Layers      int      `json:"layers"`
	GPULayers   int      `json:"gpu_layers"` // layers actually offloaded
	Context     int      `json:"context"`
	Threads     int      `json:"threads"`
	Backend     string   `json:"backend"` // e.g. "CPU (icelake)" or "CUDA0: NVIDIA H100 (33/33 layers)"
	VisionOnGPU bool     `json:"vision_on_gpu"`
	BlockRotate bool     `json:"block_rotate"` // the projector needs the CLS-order workaround (see ReorderForProjector)
	LoadMS      int64    `json:"load_ms"`
	Notices     []string `json:"notices,omitempty"` // what the runner did on the user's behalf (fewer GPU layers, ...)
}

// Label is the line the user interface and reports show for a model.
func (m ModelInfo) Label() string {
	switch {
	case m.TestModel:
		return m.Name + " — TEST MODEL (random weights, not a report)"
	case m.General:
		return m.Name + " — general model, not CXR-specific"
	}
	return m.Name
}

// Turn is one exchange of a conversation; the last turn of a request has
// no Assistant text yet.
type Turn struct {
	User      string `json:"user"`
	Assistant string `json:"assistant,omitempty"`
}

// Sampling selects how the next token is chosen. Temperature 0 is greedy
// decoding, which makes a report reproducible.
type Sampling struct {
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k,omitempty"`
	TopP        float64 `json:"top_p,omitempty"`
	Seed        uint64  `json:"seed,omitempty"`
}

// ReferenceSampling returns what the CXR-LLaVA reference code uses when it samples.
func ReferenceSampling() Sampling { return Sampling{Temperature: 0.2, TopK: 50, TopP: 0.8} }

// Request is one generation.
type Request struct {
	Image     *image.Gray // the prepared model input, ImageSize×ImageSize (imaging.PrepareModelInput)
	Turns     []Turn      // the conversation; Turns[0].User is the first question (a preset's text)
	Sampling  Sampling
	MaxTokens int // 0: DefaultMaxTokens
	// IgnoreEOS keeps generating to MaxTokens: benchmarks need a fixed
	// length, and random-weight models may end early.
	IgnoreEOS bool
}

// Piece is a piece of generated text.
type Piece struct {
	Text  string `json:"text"`
	Token int    `json:"token"`
}

// Stats describe a finished generation.
type Stats struct {
	LoadMS       int64   `json:"load_ms"`
	EncodeMS     int64   `json:"image_encode_ms"`
	ImageCached  bool    `json:"image_cached"`
	PromptTokens int     `json:"prompt_tokens"` // positions evaluated for the prompt, image included
	CachedTokens int     `json:"cached_tokens"` // prompt positions reused from the previous request
	PromptMS     int64   `json:"prompt_ms"`
	PromptTPS    float64 `json:"prompt_tokens_per_s"`
	GenTokens    int     `json:"generated_tokens"`
	GenMS        int64   `json:"generate_ms"`
	GenTPS       float64 `json:"generated_tokens_per_s"`
	FirstTokenMS int64   `json:"first_token_ms"`
	TotalMS      int64   `json:"total_ms"`
	Backend      string  `json:"backend"`
	PeakRSS      int64   `json:"peak_rss_bytes"`
	// VRAMUsed is the GPU memory the model holds after the run: the GPUs'
	// free memory when it began loading minus their free memory now. What
	// other programs took or freed on the GPUs meanwhile counts too, and
	// it is not a peak (llama.cpp allocates its buffers when it loads).
	VRAMUsed        int64  `json:"vram_used_bytes,omitempty"`
	StopReason      string `json:"stop_reason"` // "eos", "length" or "cancelled"
	PromptTokenIDs  []int  `json:"prompt_token_ids,omitempty"`
	TokenIDs        []int  `json:"token_ids,omitempty"`
	Prompt          string `json:"prompt,omitempty"`
	ContextCapacity int    `json:"context"`
}

// ImageTokenID marks the image's place in PromptTokenIDs, as the reference
// code's IMAGE_TOKEN_INDEX does.
const ImageTokenID = -200

// Error kinds a caller may want to tell apart.
var (
	ErrNoModel       = fmt.Errorf("no model is loaded")
	ErrContextTooBig = fmt.Errorf("the request does not fit the context")
	ErrEngineCrashed = fmt.Errorf("the inference engine stopped unexpectedly")
	// ErrClosed: the engine was closed, perhaps while the call ran.
	ErrClosed = fmt.Errorf("the engine was closed")
)
