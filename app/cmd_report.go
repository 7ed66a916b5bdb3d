package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"strconv"
	"strings"
	"time"

	"cxrview/engine"
	"cxrview/imaging"
)

// modelFlags are the flags that choose and configure a model.
type modelFlags struct {
	model        string
	text, mmproj string
	gpuLayers    string
	threads      int
	context      int
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "model", "", "model name in the store (see `cxrview model list`), instead of --text and --mmproj")
	fs.StringVar(&m.text, "text", "", "language model GGUF file")
	fs.StringVar(&m.mmproj, "mmproj", "", "vision projector GGUF file (mmproj)")
	fs.StringVar(&m.gpuLayers, "gpu-layers", "auto", "layers to run on the GPU: auto, 0 (CPU only) or a number")
	fs.IntVar(&m.threads, "threads", 0, "CPU threads (0: one per physical core)")
	fs.IntVar(&m.context, "context", 0, fmt.Sprintf("context length in tokens (0: %d)", engine.DefaultContext))
}

func (m *modelFlags) spec() (engine.ModelSpec, error) {
	if m.text == "" || m.mmproj == "" {
		return engine.ModelSpec{}, usageError("give the model with --model NAME, or with --text and --mmproj")
	}
	layers := engine.GPULayersAuto
	if m.gpuLayers != "auto" {
		n, err := strconv.Atoi(m.gpuLayers)
		if err != nil || n < 0 {
			return engine.ModelSpec{}, usageError("--gpu-layers %q: want auto, 0 or a positive number", m.gpuLayers)
		}
		layers = n
	}
	if m.threads < 0 || m.context < 0 {
		return engine.ModelSpec{}, usageError("--threads and --context cannot be negative")
	}
	return engine.ModelSpec{Text: m.text, Projector: m.mmproj, GPULayers: layers, Threads: m.threads, Context: m.context}, nil
}

// engineFlags choose where the model runs: the embedded runner, or an
// Ollama server that holds a model exported with `cxrview model export-ollama`.
type engineFlags struct {
	kind, host string
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.kind, "engine", EngineEmbedded, `"embedded" (this machine) or "ollama" (an Ollama server; --model is then the server's model name)`)
	fs.StringVar(&e.host, "host", "", "the Ollama server (default: $OLLAMA_HOST, else "+engine.DefaultOllamaHost+")")
}

// newEngine returns the engine the flags choose and the model to load into
// it. For Ollama, the spec's Text is the server's model name.
func newEngine(env *Env, ef engineFlags, mf *modelFlags) (engine.Engine, ModelChoice, error) {
	switch ef.kind {
	case EngineEmbedded, "":
		if ef.host != "" {
			return nil, ModelChoice{}, usageError("--host is for --engine ollama")
		}
		choice, err := mf.choose(env)
		if err != nil {
			return nil, choice, err
		}
		eng, err := NewEngine(env, EngineEmbedded, "")
		return eng, choice, err
	case EngineOllama:
		if mf.text != "" || mf.mmproj != "" {
			return nil, ModelChoice{}, usageError("with --engine ollama the model is the server's: give --model NAME, not --text and --mmproj")
		}
		if mf.model == "" {
			return nil, ModelChoice{}, usageError("--engine ollama needs --model NAME (a model made with cxrview model export-ollama)")
		}
		// The server decides threads and GPU layers (see engine.Ollama.Load).
		if mf.gpuLayers != "auto" || mf.threads != 0 {
			return nil, ModelChoice{}, usageError("--gpu-layers and --threads are the Ollama server's to choose (OLLAMA_* settings or the Modelfile there)")
		}
		if mf.context < 0 {
			return nil, ModelChoice{}, usageError("--context cannot be negative")
		}
		// The settings' path, so that viewer and CLI record the same model.
		choice, err := ResolveModel(env, Settings{Engine: EngineOllama, OllamaHost: ef.host, OllamaModel: mf.model, Context: mf.context})
		if err != nil {
			return nil, choice, err
		}
		o, err := NewEngine(env, EngineOllama, choice.Host)
		if err != nil {
			return nil, ModelChoice{}, usageError("--host: %v", err)
		}
		return o, choice, nil
	}
	return nil, ModelChoice{}, usageError("--engine %q: want embedded or ollama", ef.kind)
}

// choose resolves --model against the store, or takes --text and --mmproj.
func (m *modelFlags) choose(env *Env) (ModelChoice, error) {
	if m.model == "" {
		spec, err := m.spec()
		return ModelChoice{Kind: EngineEmbedded, Spec: spec}, err
	}
	if m.text != "" || m.mmproj != "" {
		return ModelChoice{}, usageError("give either --model or --text and --mmproj, not both")
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return ModelChoice{}, err
	}
	sm, err := store.Lookup(m.model)
	if err != nil {
		return ModelChoice{}, err
	}
	m.text, m.mmproj = sm.Text, sm.Projector
	spec, err := m.spec()
	if err != nil {
		return ModelChoice{}, err
	}
	spec.Name = sm.Name
	c := storedChoice(sm)
	c.Spec = spec // the flags say how it runs
	return c, nil
}

// reportResult is one line of `cxrview report --format json`.
type reportResult struct {
	ID        string       `json:"id"`
	File      string       `json:"file"`
	Model     string       `json:"model"`
	TestModel bool         `json:"test_model,omitempty"`
	General   bool         `json:"general_model,omitempty"`
	Prompt    string       `json:"prompt_preset"`
	Question  string       `json:"question"`
	Window    [2]float64   `json:"window"` // centre, width used to render the model input
	Sampling  any          `json:"sampling"`
	Text      string       `json:"text"`
	Label     string       `json:"label"`
	Stats     engine.Stats `json:"stats"`
	Error     string       `json:"error,omitempty"`
}

func runReport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "report", "(--model NAME | --text T.gguf --mmproj M.gguf) [flags] FILE|FOLDER...\n       cxrview report --engine ollama --model NAME [--host URL] [flags] FILE|FOLDER...",
		"Draft a report for each image (folders are searched for DICOM, PNG and JPEG files) with the\n"+
			"model, exactly as the viewer does: the draft is saved where the viewer finds it, with its\n"+
			"audit trail. Every text is an AI draft that requires a radiologist's review.")
	var mf modelFlags
	mf.register(fs)
	var ef engineFlags
	ef.register(fs)
	prompt := fs.String("prompt", "report", `"report", "ddx" (differential diagnosis) or a free question`)
	maxTokens := fs.Int("max-tokens", engine.DefaultMaxTokens, "maximum new tokens")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy, reproducible)")
	topK := fs.Int("top-k", 50, "top-k when sampling")
	topP := fs.Float64("top-p", 0.8, "top-p when sampling")
	seed := fs.Uint64("seed", 0, "random seed when sampling")
	window := fs.String("window", "", "render the model input with this window: CENTER,WIDTH (default: the file's first window, else auto)")
	format := fs.String("format", "txt", "txt or json (one JSON object per line) on stdout; md, pdf, sr or fhir: files in --out")
	out := fs.String("out", "", "folder for --format md, pdf, sr or fhir")
	replace := fs.Bool("replace", false, "replace drafts someone has edited (signed reports are never replaced)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("no image files or folders given")
	}
	var fileFormat Format
	switch *format {
	case "txt", "json":
	case string(FormatMarkdown), string(FormatPDF), string(FormatSR), string(FormatFHIR):
		fileFormat = Format(*format)
		if *out == "" {
			return usageError("--format %s writes files: give the folder with --out", *format)
		}
	default:
		return usageError("--format %q: want txt, json, md, pdf, sr or fhir", *format)
	}
	if *maxTokens <= 0 || *temperature < 0 || *topP < 0 || *topP > 1 || *topK < 0 {
		return usageError("--max-tokens must be positive, --temperature ≥ 0, --top-p in [0,1], --top-k ≥ 0")
	}
	var view *imaging.View
	if *window != "" {
		w, err := parseWindow(*window)
		if err != nil {
			return usageError("--window %q: %v", *window, err)
		}
		view = &imaging.View{Window: w}
	}
	preset, question := engine.PresetQuestion, *prompt
	switch *prompt {
	case string(engine.PresetReport), string(engine.PresetDDx):
		preset, question = engine.Preset(*prompt), ""
	}
	userText, err := preset.Question(question)
	if err != nil {
		return usageError("%v", err)
	}
	files, err := imaging.FindImages(fs.Args())
	if err != nil {
		return err
	}
	eng, choice, err := newEngine(env, ef, &mf)
	if err != nil {
		return err
	}
	defer eng.Close()
	sampling := engine.Sampling{Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed}

	info, err := eng.Load(ctx, choice.Spec, nil)
	if err != nil {
		return err
	}
	for _, n := range info.Notices {
		fmt.Fprintln(env.Stderr, "note:", n)
	}
	opts := GenerateOptions{Preset: preset, Question: question, View: view, Sampling: sampling,
		MaxTokens: *maxTokens, ModelSHA256: choice.SHA256, License: choice.Licence, Replace: *replace}
	enc := json.NewEncoder(env.Stdout)
	progress := newItemProgress(env.Stderr, "drafting", len(files))
	failed := 0
	for i, file := range files {
		progress.show(i, file)
		res := reportResult{File: file, Model: info.Name, TestModel: info.TestModel, General: info.General,
			Prompt: string(preset), Question: userText, Sampling: sampling, Label: draftLabel(info)}
		written, err := draftOne(ctx, env, eng, info, file, opts, fileFormat, *out, &res)
		if err != nil {
			if ctx.Err() != nil {
				progress.abort()
				return ctx.Err()
			}
			failed++
			res.Error = err.Error()
			progress.abort()
			fmt.Fprintf(env.Stderr, "cxrview report: %s: %v\n", file, err)
			if errors.Is(err, engine.ErrEngineCrashed) {
				fmt.Fprintln(env.Stderr, "cxrview report: the engine restarts for the next file")
			}
		}
		switch {
		case fileFormat != "":
			if written != "" {
				fmt.Fprintln(env.Stdout, written)
			}
		case *format == "json":
			if err := enc.Encode(res); err != nil {
				return err
			}
		case res.Error == "":
			printReport(env.Stdout, res, len(files) > 1)
		}
	}
	progress.finish()
	if failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d files failed", failed, len(files))}
	}
	return nil
}

// draftOne drafts the report of one film through a Session (the viewer's
// path), and writes it in fileFormat when one is given.
func draftOne(ctx context.Context, env *Env, eng engine.Engine, info engine.ModelInfo, file string, opts GenerateOptions, fileFormat Format, out string, res *reportResult) (written string, err error) {
	st, err := OpenStudy(file)
	if err != nil {
		return "", err
	}
	res.ID = st.Key
	view := st.DefaultView()
	if opts.View != nil {
		view = *opts.View
	}
	res.Window = [2]float64{view.Window.Center, view.Window.Width}
	s, err := OpenSession(env.Dirs, st, SessionOptions{})
	if err != nil {
		return "", err
	}
	defer s.Close()
	tap := &statsTap{Engine: eng}
	gen, err := s.Generate(ctx, tap, info, opts, nil)
	if gen != nil {
		res.Text, res.Stats = gen.Text, tap.last
		res.Stats.Prompt = "" // the rendered prompt repeats in every line; the ids carry it
	}
	if err != nil || fileFormat == "" {
		return "", err
	}
	return s.Export(fileFormat, out, ExportOptions{})
}

// draftLabel is the line that marks every AI text.
func draftLabel(info engine.ModelInfo) string {
	switch {
	case info.TestModel:
		return "TEST MODEL — random weights, not a report"
	case info.General:
		return "AI draft by a general model, not CXR-specific — requires radiologist review"
	}
	return "AI draft — requires radiologist review"
}

func printReport(w io.Writer, r reportResult, header bool) {
	if header {
		fmt.Fprintf(w, "== %s ==\n", r.File)
	}
	fmt.Fprintf(w, "[%s] %s\n\n%s\n", r.Label, r.Model, strings.TrimSpace(r.Text))
	st := r.Stats
	fmt.Fprintf(w, "\n(%d tokens, %s; prompt %d positions at %.1f tok/s, %.1f tok/s generating, %s)\n",
		st.GenTokens, time.Duration(st.TotalMS)*time.Millisecond, st.PromptTokens, st.PromptTPS, st.GenTPS, st.Backend)
	if header {
		fmt.Fprintln(w)
	}
}

// statsTap keeps the full statistics of the last generation: the draft
// record drops the token ids, which `report --format json` prints.
type statsTap struct {
	engine.Engine
	last engine.Stats
}

func (t *statsTap) Generate(ctx context.Context, req engine.Request, onPiece func(engine.Piece)) (engine.Stats, error) {
	st, err := t.Engine.Generate(ctx, req, onPiece)
	t.last = st
	return st, err
}
