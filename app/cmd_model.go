package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

const modelUsage = "convert|import|list|verify|remove|export-ollama ..."

const modelHelp = `Manage the models cxrview runs.

  cxrview model convert --from DIR --out DIR [--type q4_k_m|q8_0|f16]
        convert the CXR-LLaVA v2 checkpoint (a copy of the Hugging Face
        repository ECOFRI/CXR-LLAVA-v2) into GGUF files
  cxrview model import TEXT.gguf MMPROJ.gguf [--name NAME] [--copy]
        check a language model and its vision projector and add them to
        the model store
  cxrview model list [--json]
        the store's models, and LLaVA-style models found in Ollama's store
  cxrview model verify [NAME...]
        re-hash the models' files and report damaged ones
  cxrview model remove NAME
        delete a model from the store
  cxrview model export-ollama [NAME | --text T.gguf --mmproj M.gguf] [--out DIR]
        write a Modelfile folder for serving the model from an Ollama
        server, and print the ollama create command (docs/ollama.md)

See docs/model.md for how to get the model, disk space and time.`

func runModel(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || IsHelp(args[0]) {
		fmt.Fprintf(env.Stdout, "usage: cxrview model %s\n\n%s\n", modelUsage, modelHelp)
		if len(args) == 0 {
			return usageError("a subcommand is needed")
		}
		return nil
	}
	switch args[0] {
	case "convert":
		return runModelConvert(ctx, env, args[1:])
	case "import":
		return runModelImport(ctx, env, args[1:])
	case "list", "ls":
		return runModelList(ctx, env, args[1:])
	case "verify":
		return runModelVerify(ctx, env, args[1:])
	case "remove", "rm":
		return runModelRemove(ctx, env, args[1:])
	case "export-ollama":
		return runModelExportOllama(ctx, env, args[1:])
	}
	return usageError("unknown subcommand %q (want convert, import, list, verify, remove or export-ollama)", args[0])
}

// runModelConvert hands the command line to the engine binary, which links
// ggml's quantizer (see runEngineTool).
func runModelConvert(ctx context.Context, env *Env, args []string) error {
	return runEngineTool(ctx, env, append([]string{"convert"}, args...)...)
}

func runModelImport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "model import", "TEXT.gguf MMPROJ.gguf [--name NAME] [--copy]",
		"Check a language model and its vision projector (GGUF files, e.g. from `cxrview model convert`)\n"+
			"and add them to the model store. The files are hard-linked when the store is on the same\n"+
			"file system, copied otherwise; both are hashed for `cxrview model verify`.")
	name := fs.String("name", "", "name in the store (default: the language model's file name)")
	copyFiles := fs.Bool("copy", false, "copy the files even where a hard link would do")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError("give the language model and the projector file")
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return err
	}
	var last time.Time
	m, err := store.Import(ctx, fs.Arg(0), fs.Arg(1), ImportOptions{Name: *name, Copy: *copyFiles,
		Progress: func(done, total int64) {
			if time.Since(last) > time.Second && total > 0 {
				last = time.Now()
				fmt.Fprintf(env.Stderr, "importing: %s / %s\n", formatSize(done), formatSize(total))
			}
		}})
	if err != nil {
		return err
	}
	how := "copied"
	if m.Linked {
		how = "hard-linked"
	}
	fmt.Fprintf(env.Stdout, "imported %s (%s, %s, %s) into %s\n", m.Name, m.Title, m.TextType, formatSize(m.Size()), m.Dir)
	fmt.Fprintf(env.Stdout, "files %s; SHA-256 recorded for `cxrview model verify`\n", how)
	switch {
	case m.TestModel:
		fmt.Fprintln(env.Stdout, "\nTEST MODEL: random weights made for tests. Its text is never a report.")
	case m.Family != "":
		fmt.Fprintf(env.Stdout, "\n%s", ModelLicenceNotice())
	case m.General:
		fmt.Fprintln(env.Stdout, "\nA general LLaVA model, not trained on chest films: its text is labelled as such. Check its own licence.")
	}
	return nil
}

func runModelList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "model list", "[--json]", "List the store's models and the LLaVA-style models of the local Ollama store.")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return err
	}
	models := store.List()
	if *asJSON {
		type row struct {
			Name       string    `json:"name"`
			Source     string    `json:"source"`
			Title      string    `json:"title"`
			Text       string    `json:"text"`
			Projector  string    `json:"projector"`
			Type       string    `json:"type"`
			Size       int64     `json:"size"`
			Family     string    `json:"family,omitempty"`
			TestModel  bool      `json:"test_model"`
			General    bool      `json:"general"`
			Licence    string    `json:"licence"`
			ImportedAt time.Time `json:"imported_at,omitzero"`
		}
		rows := []row{}
		for _, m := range models {
			rows = append(rows, row{m.Name, m.Source, m.Title, m.Text, m.Projector, m.TextType, m.Size(), m.Family,
				m.TestModel, m.General, m.Licence, m.ImportedAt})
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(models) == 0 {
		fmt.Fprintf(env.Stdout, "no models in %s\n(convert CXR-LLaVA with `cxrview model convert`, then `cxrview model import`)\n", store.Dir())
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tSIZE\tSOURCE\tNOTE")
		for _, m := range models {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.TextType, formatSize(m.Size()), m.Source, modelNote(m))
		}
		tw.Flush()
	}
	found, _ := store.Ollama()
	for _, o := range found {
		if o.Err != nil {
			fmt.Fprintf(env.Stdout, "(Ollama's %s is not usable: %v)\n", o.Model.Name, o.Err)
		}
	}
	return nil
}

func modelNote(m StoredModel) string {
	var notes []string
	if m.TestModel {
		notes = append(notes, "TEST MODEL")
	} else if m.Family != "" {
		notes = append(notes, "CXR-LLaVA v2, non-commercial licence")
	}
	if m.General {
		notes = append(notes, "general model, not CXR-specific")
	}
	if m.Source == SourceOllama {
		notes = append(notes, "read-only")
	}
	return strings.Join(notes, "; ")
}

func runModelVerify(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "model verify", "[NAME...]", "Re-hash the files of the named models (all of the store's by default) and report damaged ones.")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return err
	}
	checked := 0
	problems, err := store.Verify(ctx, fs.Args(), func(model, file string) {
		checked++
		if env.Verbose {
			fmt.Fprintf(env.Stderr, "checking %s: %s\n", model, file)
		}
	})
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(env.Stdout, "DAMAGED  %v\n", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) in the model store %s: remove the damaged model and import it again", len(problems), store.Dir())
	}
	fmt.Fprintf(env.Stdout, "%d file(s) checked, all intact\n", checked)
	return nil
}

func runModelRemove(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "model remove", "NAME", "Delete a model from the store.")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("give one model name")
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		return err
	}
	if err := store.Remove(fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed %s\n", fs.Arg(0))
	return nil
}

// formatSize writes a size in decimal units, as disks are sold.
func formatSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
