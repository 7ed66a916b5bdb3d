package engine

// The runner protocol: newline-delimited JSON over the runner's stdin
// (requests) and stdout (replies). Every reply carries the id of the request
// it answers; a request ends with exactly one reply of type "result" or
// "error". The runner's stderr is llama.cpp's log, which the client keeps a
// tail of for error messages.

// ProtocolVersion changes whenever a message changes incompatibly.
const ProtocolVersion = 1

// Request operations.
const (
	OpHello    = "hello"    // runtime facts: versions, devices
	OpLoad     = "load"     // load a model (Message.Load)
	OpGenerate = "generate" // run a generation (Message.Generate)
	OpEmbed    = "embed"    // encode an image and return its embeddings (tests, diagnostics)
	OpCancel   = "cancel"   // stop request Message.Target
	OpUnload   = "unload"   // free the model
)

// Reply types.
const (
	TypeProgress = "progress"
	TypeNotice   = "notice"
	TypePiece    = "piece"
	TypeResult   = "result"
	TypeError    = "error"
)

// Message is one line of the protocol, in either direction.
type Message struct {
	ID     uint64 `json:"id"`
	Op     string `json:"op,omitempty"`
	Type   string `json:"type,omitempty"`
	Target uint64 `json:"target,omitempty"`

	Load     *ModelSpec    `json:"load,omitempty"`
	Generate *GenerateArgs `json:"generate,omitempty"`

	Progress   float64      `json:"progress,omitempty"`
	Notice     string       `json:"notice,omitempty"`
	Piece      *Piece       `json:"piece,omitempty"`
	Model      *ModelInfo   `json:"model,omitempty"`
	Stats      *Stats       `json:"stats,omitempty"`
	Runtime    *RuntimeInfo `json:"runtime,omitempty"`
	Embeddings [][]float32  `json:"embeddings,omitempty"`
	Error      string       `json:"error,omitempty"`
}

// GenerateArgs is a generation as the runner sees it: the prompt already
// rendered, the image as raw 8-bit gray pixels.
type GenerateArgs struct {
	Prompt      string   `json:"prompt"` // contains ImageMarker exactly once
	Image       []byte   `json:"image"`  // Width×Height gray bytes, row-major
	Width       int      `json:"width"`
	Height      int      `json:"height"`
	Sampling    Sampling `json:"sampling"`
	MaxTokens   int      `json:"max_tokens"`
	WantTokens  bool     `json:"want_tokens,omitempty"` // return prompt and generated token ids
	SkipReorder bool     `json:"skip_reorder,omitempty"`
	IgnoreEOS   bool     `json:"ignore_eos,omitempty"`
}

// RuntimeInfo is what the runner reports about itself.
type RuntimeInfo struct {
	Protocol      int      `json:"protocol"`
	LlamaCommit   string   `json:"llama_cpp_commit"`
	OllamaVersion string   `json:"ollama_module"`
	GoVersion     string   `json:"go"`
	CPUVariant    string   `json:"cpu_variant"` // e.g. "icelake", or "built-in baseline"
	CPUFeatures   []string `json:"cpu_features,omitempty"`
	LibDirs       []string `json:"lib_dirs,omitempty"`
	Devices       []Device `json:"devices"`
	PhysicalCores int      `json:"physical_cores"`
}

// Device is a compute device ggml can use.
type Device struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Kind        string `json:"kind"` // "CPU", "GPU", "iGPU", "accelerator"
	FreeBytes   uint64 `json:"free_bytes"`
	TotalBytes  uint64 `json:"total_bytes"`
}

// Baseline reports whether only the slow built-in CPU code is available.
func (r RuntimeInfo) Baseline() bool { return r.CPUVariant == "" || r.CPUVariant == BaselineCPU }

// BaselineCPU names the CPU code compiled into the binary by cgo, which
// targets plain x86-64 without AVX.
const BaselineCPU = "built-in baseline"
