package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cxrview/engine"
	"cxrview/imaging"
)

// modelFlags are the flags that choose and configure a model.
type modelFlags struct {
	text, mmproj string
	gpuLayers    string
	threads      int
	context      int
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.text, "text", "", "language model GGUF file")
	fs.StringVar(&m.mmproj, "mmproj", "", "vision projector GGUF file (mmproj)")
	fs.StringVar(&m.gpuLayers, "gpu-layers", "auto", "layers to run on the GPU: auto, 0 (CPU only) or a number")
	fs.IntVar(&m.threads, "threads", 0, "CPU threads (0: one per physical core)")
	fs.IntVar(&m.context, "context", 0, fmt.Sprintf("context length in tokens (0: %d)", engine.DefaultContext))
}

func (m *modelFlags) spec() (engine.ModelSpec, error) {
	if m.text == "" || m.mmproj == "" {
		return engine.ModelSpec{}, usageError("give the model with --text and --mmproj")
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
	kind, host, model string
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.kind, "engine", "embedded", `"embedded" (this machine) or "ollama" (an Ollama server)`)
	fs.StringVar(&e.host, "host", "", "the Ollama server (default: $OLLAMA_HOST, else "+engine.DefaultOllamaHost+")")
	fs.StringVar(&e.model, "model", "", "the model's name on the Ollama server")
}

// newEngine returns the engine the flags choose and the model to load
// into it. For Ollama, the spec's Text is the server's model name.
func newEngine(env *Env, ef engineFlags, mf *modelFlags) (engine.Engine, engine.ModelSpec, error) {
	switch ef.kind {
	case "embedded", "":
		if ef.model != "" || ef.host != "" {
			return nil, engine.ModelSpec{}, usageError("--model and --host are for --engine ollama; the embedded engine takes --text and --mmproj")
		}
		spec, err := mf.spec()
		if err != nil {
			return nil, spec, err
		}
		r, err := NewRunner(env)
		return r, spec, err
	case "ollama":
		if mf.text != "" || mf.mmproj != "" {
			return nil, engine.ModelSpec{}, usageError("with --engine ollama the model is the server's: give --model NAME, not --text and --mmproj")
		}
		if ef.model == "" {
			return nil, engine.ModelSpec{}, usageError("--engine ollama needs --model NAME (a model made with cxrview model export-ollama)")
		}
		// The server decides threads and GPU layers (see engine.Ollama.Load).
		if mf.gpuLayers != "auto" || mf.threads != 0 {
			return nil, engine.ModelSpec{}, usageError("--gpu-layers and --threads are the Ollama server's to choose (OLLAMA_* settings or the Modelfile there)")
		}
		if mf.context < 0 {
			return nil, engine.ModelSpec{}, usageError("--context cannot be negative")
		}
		spec := engine.ModelSpec{Text: ef.model, GPULayers: engine.GPULayersAuto, Context: mf.context}
		host := ef.host
		if host == "" {
			host = os.Getenv("OLLAMA_HOST")
		}
		o, err := engine.NewOllama(host)
		if err != nil {
			return nil, spec, usageError("--host: %v", err)
		}
		return o, spec, nil
	}
	return nil, engine.ModelSpec{}, usageError("--engine %q: want embedded or ollama", ef.kind)
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
	fs := newFlags(env, "report", "--text T.gguf --mmproj M.gguf [flags] FILE...\n       cxrview report --engine ollama --model NAME [--host URL] [flags] FILE...",
		"Draft a report for each image with the model, as the viewer does, and print it.\n"+
			"Every text is an AI draft that requires a radiologist's review.")
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
	format := fs.String("format", "txt", "output: txt or json (one JSON object per line)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return usageError("no image files given")
	}
	if *format != "txt" && *format != "json" {
		return usageError("--format %q: want txt or json", *format)
	}
	if *maxTokens <= 0 || *temperature < 0 || *topP < 0 || *topP > 1 || *topK < 0 {
		return usageError("--max-tokens must be positive, --temperature ≥ 0, --top-p in [0,1], --top-k ≥ 0")
	}
	r, spec, err := newEngine(env, ef, &mf)
	if err != nil {
		return err
	}
	defer r.Close()
	var win *imaging.Window
	if *window != "" {
		c, w, err := parseWindow(*window)
		if err != nil {
			return err
		}
		win = &imaging.Window{Center: c, Width: w, Function: imaging.Linear, Name: "command line"}
	}
	preset, question := engine.PresetQuestion, *prompt
	switch *prompt {
	case string(engine.PresetReport), string(engine.PresetDDx):
		preset = engine.Preset(*prompt)
		question = ""
	}
	userText, err := preset.Question(question)
	if err != nil {
		return usageError("%v", err)
	}
	sampling := engine.Sampling{Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed}

	progress := newProgress(env.Stderr, len(files))
	progress.step("loading " + filepath.Base(spec.Text))
	info, err := r.Load(ctx, spec, nil)
	if err != nil {
		return err
	}
	for _, n := range info.Notices {
		fmt.Fprintln(env.Stderr, "note:", n)
	}
	enc := json.NewEncoder(env.Stdout)
	failed := 0
	for i, file := range files {
		progress.item(i, file)
		res := reportResult{File: file, Model: info.Name, TestModel: info.TestModel, General: info.General,
			Prompt: string(preset), Question: userText, Sampling: sampling, Label: draftLabel(info)}
		err := func() error {
			im, err := imaging.Open(file)
			if err != nil {
				return err
			}
			res.ID = im.Meta.Key()
			w := im.DefaultWindow()
			if win != nil {
				w = *win
			}
			res.Window = [2]float64{w.Center, w.Width}
			input := imaging.PrepareModelInput(im.Render(imaging.View{Window: w}), info.ImageSize)
			var text strings.Builder
			st, err := r.Generate(ctx, engine.Request{
				Image: input, Turns: []engine.Turn{{User: userText}}, Sampling: sampling, MaxTokens: *maxTokens,
			}, func(p engine.Piece) { text.WriteString(p.Text) })
			res.Text, res.Stats = text.String(), st
			return err
		}()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			res.Error = err.Error()
			fmt.Fprintf(env.Stderr, "cxrview report: %s: %v\n", file, err)
			if errors.Is(err, engine.ErrEngineCrashed) {
				fmt.Fprintln(env.Stderr, "cxrview report: the engine restarts for the next file")
			}
		}
		if *format == "json" {
			res.Stats.Prompt = "" // the rendered prompt repeats in every line; the ids carry it
			if err := enc.Encode(res); err != nil {
				return err
			}
			continue
		}
		if res.Error != "" {
			continue
		}
		printReport(env.Stdout, res, len(files) > 1)
	}
	progress.done()
	if failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d files failed", failed, len(files))}
	}
	return nil
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

func parseWindow(s string) (center, width float64, err error) {
	c, w, ok := strings.Cut(s, ",")
	if ok {
		center, err = strconv.ParseFloat(strings.TrimSpace(c), 64)
		if err == nil {
			width, err = strconv.ParseFloat(strings.TrimSpace(w), 64)
		}
	}
	if !ok || err != nil || width < 1 {
		return 0, 0, usageError("--window %q: want CENTER,WIDTH with WIDTH ≥ 1", s)
	}
	return center, width, nil
}

// progress reports batch progress on stderr: a bar redrawn in place on a
// terminal, one line per item otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, total: total, start: time.Now()}
}

func (p *progress) step(msg string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s…", msg)
	}
}

func (p *progress) item(i int, name string) {
	if p.total < 2 && !p.tty {
		return
	}
	eta := ""
	if i > 0 {
		left := time.Since(p.start) / time.Duration(i) * time.Duration(p.total-i)
		eta = ", about " + left.Round(time.Second).String() + " left"
	}
	if p.tty {
		const width = 24
		done := width * i / p.total
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s%s", strings.Repeat("#", done), strings.Repeat(".", width-done), i+1, p.total, filepath.Base(name), eta)
		return
	}
	fmt.Fprintf(p.w, "[%d/%d] %s%s\n", i+1, p.total, name, eta)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
