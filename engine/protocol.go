package engine

import "errors"

// The runner protocol: newline-delimited JSON over the runner's stdin
// (requests) and stdout (replies). Every reply carries the id of the request
// it answers; a request ends with exactly one reply of type "result" or
// "error". The runner's stderr is llama.cpp's log, which the client keeps a
// tail of for error messages.

// ProtocolVersion changes whenever a message changes incompatibly.
const ProtocolVersion = 2

// Request operations.
const (
	OpHello    = "hello"    // runtime facts: versions, devices
	OpLoad     = "load"     // load a model (Message.Load)
	OpGenerate = "generate" // run a generation (Message.Generate)
	OpEmbed    = "embed"    // encode an image and return its embeddings (tests, diagnostics)
	OpCancel   = "cancel"   // stop request Message.Target
)

// Reply types.
const (
	TypeProgress = "progress"
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
	Piece      *Piece       `json:"piece,omitempty"`
	Model      *ModelInfo   `json:"model,omitempty"`
	Stats      *Stats       `json:"stats,omitempty"`
	Runtime    *RuntimeInfo `json:"runtime,omitempty"`
	Embeddings [][]float32  `json:"embeddings,omitempty"`
	Error      string       `json:"error,omitempty"`
	Kind       string       `json:"kind,omitempty"` // which sentinel error Error is, if any (see ErrorReply)
}

// errorKinds name the sentinel errors that cross the protocol, so that
// errors.Is works on the client as it does in the runner.
var errorKinds = map[string]error{
	"no_model":        ErrNoModel,
	"context_too_big": ErrContextTooBig,
}

// ErrorReply is the runner's error reply to request id.
func ErrorReply(id uint64, err error) Message {
	m := Message{ID: id, Type: TypeError, Error: err.Error()}
	for kind, sentinel := range errorKinds {
		if errors.Is(err, sentinel) {
			m.Kind = kind
		}
	}
	return m
}

// Err returns the error an error reply carries, wrapping the sentinel
// error its Kind names.
func (m Message) Err() error {
	return &runnerError{msg: m.Error, kind: errorKinds[m.Kind]}
}

// runnerError is an error the runner reported.
type runnerError struct {
	msg  string
	kind error
}

func (e *runnerError) Error() string { return e.msg }
func (e *runnerError) Unwrap() error { return e.kind }

// NativeAbortMarker starts the line the runner writes to its log when
// llama.cpp aborts the process (a failed GGML_ASSERT, a CUDA error), so
// that the client can name the reason among the lines that follow.
const NativeAbortMarker = "cxrview-native-abort: "

// GenerateArgs is a generation as the runner sees it: the prompt already
// rendered, the image as raw 8-bit gray pixels.
type GenerateArgs struct {
	Prompt     string   `json:"prompt"` // contains ImageMarker exactly once
	Image      []byte   `json:"image"`  // Width×Height gray bytes, row-major
	Width      int      `json:"width"`
	Height     int      `json:"height"`
	Sampling   Sampling `json:"sampling"`
	MaxTokens  int      `json:"max_tokens"`
	WantTokens bool     `json:"want_tokens,omitempty"` // return prompt and generated token ids
	IgnoreEOS  bool     `json:"ignore_eos,omitempty"`
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
