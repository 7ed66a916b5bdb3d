package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cxrview/engine"
)

func TestResolveModel(t *testing.T) {
	env, _, _ := testEnv(t)
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		t.Fatal(err)
	}
	// Empty store, nothing chosen: nothing to load.
	if c, err := ResolveModel(env, DefaultSettings()); !errors.Is(err, ErrNoModel) || c.Kind != EngineEmbedded {
		t.Fatalf("empty store: %+v, %v", c, err)
	}
	text, proj := tinyPair(t, "tiny")
	if _, err := store.Import(context.Background(), text, proj, ImportOptions{Name: "a-tiny"}); err != nil {
		t.Fatal(err)
	}
	ctext, cproj := convertedPair(t)
	cxr, err := store.Import(context.Background(), ctext, cproj, ImportOptions{Name: "cxr"})
	if err != nil {
		t.Fatal(err)
	}
	var textSHA string
	for _, f := range cxr.Files {
		if f.Role == "text" {
			textSHA = f.SHA256
		}
	}
	if textSHA == "" {
		t.Fatal("the store records no hash of the text file")
	}

	t.Setenv("OLLAMA_HOST", "http://from-env:11434")
	settings := func(f func(*Settings)) Settings {
		s := DefaultSettings()
		f(&s)
		return s
	}
	tests := []struct {
		name string
		s    Settings
		want ModelChoice
		err  string
	}{
		{"default skips the test model", settings(func(s *Settings) { s.GPULayers, s.Threads, s.Context = 0, 3, 2048 }),
			ModelChoice{Kind: EngineEmbedded, Name: "cxr", SHA256: textSHA, Licence: cxr.Licence,
				Spec: engine.ModelSpec{Name: "cxr", Text: cxr.Text, Projector: cxr.Projector, GPULayers: 0, Threads: 3, Context: 2048}}, ""},
		{"chosen test model", settings(func(s *Settings) { s.Model = "a-tiny" }),
			ModelChoice{Kind: EngineEmbedded, Name: "a-tiny"}, ""},
		{"unknown model", settings(func(s *Settings) { s.Model = "gone" }),
			ModelChoice{Kind: EngineEmbedded, Name: "gone"}, `no model named "gone"`},
		{"ollama without a model", settings(func(s *Settings) { s.Engine = EngineOllama }),
			ModelChoice{Kind: EngineOllama, Host: "http://from-env:11434"}, ErrNoModel.Error()},
		{"ollama, host from the environment", settings(func(s *Settings) { s.Engine, s.OllamaModel, s.Context = EngineOllama, "cxr-llava", 4096 }),
			ModelChoice{Kind: EngineOllama, Host: "http://from-env:11434", Name: "cxr-llava",
				Spec: engine.ModelSpec{Name: "cxr-llava", Text: "cxr-llava", GPULayers: engine.GPULayersAuto, Context: 4096}}, ""},
		{"ollama, host set", settings(func(s *Settings) { s.Engine, s.OllamaModel, s.OllamaHost = EngineOllama, "m", "gpu:11434" }),
			ModelChoice{Kind: EngineOllama, Host: "gpu:11434", Name: "m",
				Spec: engine.ModelSpec{Name: "m", Text: "m", GPULayers: engine.GPULayersAuto}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveModel(env, tt.s)
			switch {
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			}
			if tt.name == "chosen test model" {
				// Only what the settings decide: the files are the store's.
				if got.Name != "a-tiny" || got.Spec.Name != "a-tiny" || got.SHA256 == "" || got.SHA256 == textSHA {
					t.Errorf("got %+v", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewEngineKinds(t *testing.T) {
	env, _, _ := testEnv(t)
	e, err := NewEngine(env, EngineOllama, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(*engine.Ollama); !ok {
		t.Errorf("ollama: %T", e)
	}
	e.Close()
	if _, err := NewEngine(env, EngineOllama, "ftp://x y"); err == nil {
		t.Error("a bad Ollama host was accepted")
	}
	t.Setenv("CXRVIEW_ENGINE", "/no/such/engine")
	e, err = NewEngine(env, EngineEmbedded, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(*engine.Runner); !ok {
		t.Errorf("embedded: %T", e)
	}
	e.Close()
}
