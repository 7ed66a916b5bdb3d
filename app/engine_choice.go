package app

import (
	"errors"
	"os"
	"strings"

	"cxrview/engine"
)

// ModelChoice is a model ready to load into an engine, with what the
// audit trail records about its files. The viewer and `cxrview report`
// both make it here, so that a draft records the same model whichever
// made it.
type ModelChoice struct {
	Kind    string // EngineEmbedded or EngineOllama
	Host    string // the Ollama server after the $OLLAMA_HOST fallback; "" for embedded
	Name    string // the store's or the Ollama server's model name
	Spec    engine.ModelSpec
	SHA256  string // of the language model file, when the store knows it
	Licence string
}

// ErrNoModel says that the settings choose no model and the store holds
// none: nothing to load. The viewer shows the ways to get one.
var ErrNoModel = errors.New("no model is installed")

// ResolveModel finds the model the settings choose. For the embedded
// runner without a chosen model it takes the store's first model, a
// CXR-LLaVA or general one before a test model (DefaultModel). It reads
// the model store and the local Ollama store, so the viewer calls it off
// its UI goroutine. The choice comes back with the error when it names
// what failed (a model that is not in the store).
func ResolveModel(env *Env, s Settings) (ModelChoice, error) {
	if s.Engine == EngineOllama {
		c := ModelChoice{Kind: EngineOllama, Host: OllamaHost(s.OllamaHost)}
		name := strings.TrimSpace(s.OllamaModel)
		if name == "" {
			return c, ErrNoModel
		}
		c.Name = name
		// The server decides threads and GPU layers (see engine.Ollama.Load).
		c.Spec = engine.ModelSpec{Name: name, Text: name, GPULayers: engine.GPULayersAuto, Context: s.Context}
		return c, nil
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return ModelChoice{Kind: EngineEmbedded}, err
	}
	name := s.Model
	if name == "" {
		if name = DefaultModel(store.List()); name == "" {
			return ModelChoice{Kind: EngineEmbedded}, ErrNoModel
		}
	}
	sm, err := store.Lookup(name)
	if err != nil {
		return ModelChoice{Kind: EngineEmbedded, Name: name}, err
	}
	c := storedChoice(sm)
	c.Spec.GPULayers, c.Spec.Threads, c.Spec.Context = s.GPULayers, s.Threads, s.Context
	return c, nil
}

// storedChoice is the choice of a model of the store, with the store's
// defaults for how it runs.
func storedChoice(sm StoredModel) ModelChoice {
	c := ModelChoice{Kind: EngineEmbedded, Name: sm.Name, Spec: sm.Spec(), Licence: sm.Licence}
	for _, f := range sm.Files {
		if f.Role == "text" {
			c.SHA256 = f.SHA256
		}
	}
	return c
}

// DefaultModel picks the model to load when the user has chosen none:
// the first that is not a test model, else the first; "" when ms is empty.
func DefaultModel(ms []StoredModel) string {
	for _, m := range ms {
		if !m.TestModel {
			return m.Name
		}
	}
	if len(ms) > 0 {
		return ms[0].Name
	}
	return ""
}

// NewEngine makes an engine of kind: EngineEmbedded, the runner (started
// on first use), or EngineOllama, a client of the server at host ("":
// $OLLAMA_HOST, else the default).
func NewEngine(env *Env, kind, host string) (engine.Engine, error) {
	if kind == EngineOllama {
		o, err := engine.NewOllama(OllamaHost(host))
		if err != nil {
			return nil, err
		}
		return o, nil
	}
	r, err := NewRunner(env)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// OllamaHost is host, or $OLLAMA_HOST when host is empty; engine.NewOllama
// takes "" as its default server.
func OllamaHost(host string) string {
	if host = strings.TrimSpace(host); host != "" {
		return host
	}
	return os.Getenv("OLLAMA_HOST")
}
