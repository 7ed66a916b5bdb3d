package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"cxrview/engine"
)

// OllamaExportOptions tune WriteOllamaModelfile.
type OllamaExportOptions struct {
	Name    string // the model's name on the Ollama server; derived from the model if empty
	Context int    // PARAMETER num_ctx; 0: engine.DefaultContext
	Version string // cxrview's version, noted in the Modelfile
}

// OllamaExport is what WriteOllamaModelfile wrote.
type OllamaExport struct {
	Name      string // the Ollama model name
	Dir       string
	Modelfile string
	Text      string // the language model copy (add_bos_token off)
	Projector string
	Command   string // the `ollama create` command to run
}

// ollamaMinContext is the least context Ollama (v0.17.4) gives a vision model.
const ollamaMinContext = 2048

// ollamaNameRE is what Ollama accepts as a model name, with an optional tag.
var ollamaNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}(:[A-Za-z0-9][A-Za-z0-9._-]{0,79})?$`)

// WriteOllamaModelfile puts into dir what an Ollama server needs to serve
// the model pair spec names to cxrview: a copy of the language model with
// the vocabulary's add_bos_token off (see engine.CopyWithoutAddBOS: without
// it Ollama's runner puts one BOS token more before the image than the
// reference code, and drafts differ), the projector (hard-linked when it
// can be), and a Modelfile with both FROM lines, the chat template, system
// prompt, context and stop strings. It returns the `ollama create` command
// to run on the server.
func WriteOllamaModelfile(dir string, spec engine.ModelSpec, opt OllamaExportOptions) (*OllamaExport, error) {
	in, err := engine.Inspect(spec.Text, spec.Projector)
	if err != nil {
		return nil, err
	}
	name := opt.Name
	if name == "" {
		name = ollamaName(in.Name)
	}
	if !ollamaNameRE.MatchString(name) {
		return nil, fmt.Errorf("%q cannot be an Ollama model name (letters, digits, '.', '_' and '-', optionally :tag)", name)
	}
	numCtx := opt.Context
	if numCtx <= 0 {
		numCtx = engine.DefaultContext
	}
	if in.TrainContext > 0 && numCtx > in.TrainContext {
		numCtx = in.TrainContext
	}
	// Ollama gives vision models at least ollamaMinContext tokens anyway;
	// asking for less in a Modelfile would only mislead its reader.
	if least := max(ollamaMinContext, engine.MinContext(in.ImageTokens)); numCtx < least {
		return nil, fmt.Errorf("a context of %d tokens is too small: use at least %d", numCtx, least)
	}
	tmpl, err := engine.OllamaTemplateFor(in.Template)
	if err != nil {
		return nil, err
	}
	// Checked before the copies, which take minutes for a 7B model.
	for _, s := range []string{tmpl.Template, tmpl.System} {
		if strings.Contains(s, `"""`) {
			return nil, errors.New("the template contains triple quotes, which a Modelfile cannot hold")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ex := &OllamaExport{Name: name, Dir: dir, Modelfile: filepath.Join(dir, "Modelfile"),
		Text: filepath.Join(dir, filepath.Base(spec.Text)), Projector: filepath.Join(dir, filepath.Base(spec.Projector))}
	if ex.Text == ex.Projector {
		ex.Projector = filepath.Join(dir, "mmproj-"+filepath.Base(spec.Projector))
	}
	if sameFile(ex.Text, spec.Text) || sameFile(ex.Text, spec.Projector) || sameFile(ex.Projector, spec.Text) {
		return nil, fmt.Errorf("%s holds the model's own files; export into another folder", dir)
	}
	if err := engine.CopyWithoutAddBOS(ex.Text, spec.Text); err != nil {
		return nil, fmt.Errorf("copy the language model: %w", err)
	}
	if err := linkOrCopy(ex.Projector, spec.Projector); err != nil {
		return nil, fmt.Errorf("copy the projector: %w", err)
	}

	var b strings.Builder
	label := engine.ModelInfo{Name: in.Name, TestModel: in.TestModel, General: in.General}.Label()
	version := opt.Version
	if version == "" {
		version = "(unknown version)"
	}
	fmt.Fprintf(&b, "# %s, exported by cxrview %s for an Ollama server.\n", label, version)
	fmt.Fprintf(&b, "# From %s\n#  and %s\n", spec.Text, spec.Projector)
	b.WriteString(`#
# The language model is a copy with tokenizer.ggml.add_bos_token = false:
# with it on, Ollama's runner puts a BOS token before the image that the
# reference code does not have, and drafts differ from cxrview's own engine.
# The template writes the BOS tokens itself. cxrview sends raw prompts and
# uses neither the template nor the parameters; they serve ollama run and
# other clients. Every text is an AI draft that requires a radiologist's review.
#
`)
	fmt.Fprintf(&b, "# Create the model on the server with:\n#   ollama create %s -f Modelfile\n\n", name)
	fmt.Fprintf(&b, "FROM ./%s\nFROM ./%s\n\n", filepath.Base(ex.Text), filepath.Base(ex.Projector))
	fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n\n", tmpl.Template)
	fmt.Fprintf(&b, "SYSTEM \"\"\"%s\"\"\"\n\n", strings.TrimSpace(tmpl.System))
	fmt.Fprintf(&b, "PARAMETER num_ctx %d\n", numCtx)
	b.WriteString("PARAMETER temperature 0\nPARAMETER repeat_penalty 1\n")
	for _, s := range tmpl.Stop {
		fmt.Fprintf(&b, "PARAMETER stop %s\n", strconv.Quote(s))
	}
	if in.Template == engine.TemplateCXRLLaVA && !in.TestModel {
		b.WriteString("\nLICENSE \"\"\"CXR-LLaVA v2 weights (ECOFRI/CXR-LLAVA-v2): CC BY-NC 4.0, and the Llama 2 Community License for the language model. Not for commercial use.\"\"\"\n")
	}
	if err := WriteFileAtomic(ex.Modelfile, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	ex.Command = fmt.Sprintf("ollama create %s -f %s", name, shellQuote(ex.Modelfile))
	return ex, nil
}

// ollamaName makes an Ollama model name from a model's own name.
func ollamaName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "-._")
	if len(name) > 60 {
		name = strings.Trim(name[:60], "-._")
	}
	if name == "" {
		name = "cxrview-model"
	}
	return name
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// linkOrCopy makes dst hold src's bytes: a hard link when both are on one
// file system (projectors are hundreds of megabytes), a copy otherwise.
func linkOrCopy(dst, src string) error {
	if sameFile(dst, src) {
		return nil
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err == nil {
		return os.Rename(tmp, dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// shellQuote quotes a path for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:=,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runModelExportOllama implements `cxrview model export-ollama`: it writes
// a Modelfile folder for a model pair and prints the command that creates
// the model on an Ollama server.
func runModelExportOllama(ctx context.Context, env *Env, args []string) error {
	return exportOllama(ctx, env, args, func(name string) (engine.ModelSpec, error) {
		store, err := OpenModelStore(env.Dirs)
		if err != nil {
			return engine.ModelSpec{}, err
		}
		m, err := store.Lookup(name)
		if err != nil {
			return engine.ModelSpec{}, err
		}
		return m.Spec(), nil
	})
}

// exportOllama is runModelExportOllama with the way to find a model of the
// store by name given; without one, the model is given by its files.
func exportOllama(_ context.Context, env *Env, args []string, resolve func(name string) (engine.ModelSpec, error)) error {
	fs := newFlags(env, "model export-ollama", "[NAME] [--text T.gguf --mmproj M.gguf] [--out DIR] [--as OLLAMA_NAME]",
		"Write what an Ollama server needs to serve a model to cxrview: a copy of the language model\n"+
			"(with add_bos_token off, so that Ollama evaluates the same tokens as cxrview's own engine),\n"+
			"the projector and a Modelfile; then print the `ollama create` command to run on the server.")
	text := fs.String("text", "", "language model GGUF file")
	mmproj := fs.String("mmproj", "", "vision projector GGUF file (mmproj)")
	out := fs.String("out", "", "folder to write into (default: OLLAMA_NAME-ollama in the current folder)")
	as := fs.String("as", "", "the model's name on the Ollama server (default: from the model)")
	numCtx := fs.Int("context", engine.DefaultContext, fmt.Sprintf("context length the server should give the model (at least %d)", ollamaMinContext))
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	var spec engine.ModelSpec
	switch {
	case fs.NArg() > 1:
		return usageError("give one model")
	case fs.NArg() == 1 && (*text != "" || *mmproj != ""):
		return usageError("give the model either by NAME or with --text and --mmproj, not both")
	case fs.NArg() == 1:
		if resolve == nil {
			return usageError("looking models up by name is not available in this build; give --text and --mmproj")
		}
		s, err := resolve(fs.Arg(0))
		if err != nil {
			return err
		}
		spec = s
		if *as == "" {
			*as = ollamaName(fs.Arg(0))
		}
	case *text == "" || *mmproj == "":
		return usageError("give the model by NAME or with --text and --mmproj")
	default:
		spec = engine.ModelSpec{Text: *text, Projector: *mmproj}
	}
	if *numCtx < 0 {
		return usageError("--context cannot be negative")
	}
	name := *as
	if name == "" {
		in, err := engine.Inspect(spec.Text, spec.Projector)
		if err != nil {
			return err
		}
		name = ollamaName(in.Name)
	}
	dir := *out
	if dir == "" {
		dir = strings.ReplaceAll(name, ":", "-") + "-ollama"
	}
	ex, err := WriteOllamaModelfile(dir, spec, OllamaExportOptions{Name: name, Context: *numCtx, Version: env.Version})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Wrote %s with %s and %s.\n", ex.Modelfile, filepath.Base(ex.Text), filepath.Base(ex.Projector))
	fmt.Fprintf(env.Stdout, "Copy the folder to the Ollama server if this is another machine, then run there:\n\n  %s\n\n", ex.Command)
	fmt.Fprintf(env.Stdout, "and in cxrview: --engine ollama --host http://SERVER:11434 --model %s\n", name)
	return nil
}
