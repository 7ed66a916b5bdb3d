package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/engine"
)

// ModelMenu is part of ReportPanel: the installed models and those of the
// Ollama server to choose from, the three ways to get a model, and the
// engine's settings.
func (p *Panel) ModelMenu() []*fyne.MenuItem {
	var items []*fyne.MenuItem
	cur := p.model.choice
	if len(p.models) == 0 {
		it := fyne.NewMenuItem("No models installed", nil)
		it.Disabled = true
		items = append(items, it)
	}
	for _, m := range p.models {
		label := m.Name
		switch {
		case m.TestModel:
			label += " — TEST MODEL"
		case m.General:
			label += " — general model"
		}
		if m.Source == app.SourceOllama {
			label += "  (Ollama store on this computer)"
		}
		it := fyne.NewMenuItem(label, func() { p.selectModel(app.EngineEmbedded, m.Name) })
		it.Checked = cur.Kind == app.EngineEmbedded && cur.Name == m.Name && p.model.phase != modelNone
		items = append(items, it)
	}
	if len(p.server) > 0 {
		items = append(items, fyne.NewMenuItemSeparator())
		host := p.host.Settings().OllamaHost
		if host == "" {
			host = "the Ollama server"
		}
		head := fyne.NewMenuItem("On "+host+":", nil)
		head.Disabled = true
		items = append(items, head)
		for _, n := range p.server {
			it := fyne.NewMenuItem(n, func() { p.selectModel(app.EngineOllama, n) })
			it.Checked = cur.Kind == app.EngineOllama && cur.Name == n && p.model.phase != modelNone
			items = append(items, it)
		}
	}
	load := fyne.NewMenuItem("Load Model", p.LoadModel)
	load.Disabled = p.model.phase == modelReady || p.model.phase == modelLoading || p.model.phase == modelNone
	unload := fyne.NewMenuItem("Unload Model (free its memory)", p.UnloadModel)
	unload.Disabled = p.model.phase != modelReady
	return append(items,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Import GGUF Files…", p.ImportModel),
		fyne.NewMenuItem("Convert the Hugging Face Checkpoint…", p.ShowConvert),
		fyne.NewMenuItem("Connect to an Ollama Server…", func() { p.ShowEngineSettings(app.EngineOllama) }),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Engine Settings…", func() { p.ShowEngineSettings("") }),
		load, unload,
		fyne.NewMenuItem("Refresh Model List", p.refreshModels),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Model Licence and Citation…", p.showModelLicence),
	)
}

// selectModel makes a model the current one and loads it.
func (p *Panel) selectModel(kind, name string) {
	p.host.UpdateSettings(func(s *app.Settings) {
		s.Engine = kind
		if kind == app.EngineOllama {
			s.OllamaModel = name
		} else {
			s.Model = name
		}
	})
	p.applyEngineSettings()
}

// applyEngineSettings stops any generation and loads the model the
// settings now choose, in the engine they choose.
func (p *Panel) applyEngineSettings() {
	if p.run != nil {
		p.Stop()
	}
	p.LoadModel()
	p.refreshModels()
}

// engineForm is the body of the Engine Settings dialog: a widget that
// holds its fields.
type engineForm struct {
	widget.BaseWidget
	content fyne.CanvasObject

	kind      *widget.RadioGroup
	model     *widget.Select
	layers    *widget.Select
	layersN   *widget.Entry
	threads   *widget.Entry
	context   *widget.Entry // for the embedded runner
	contextO  *widget.Entry // for the Ollama server
	host      *widget.Entry
	ollama    *widget.SelectEntry
	listInfo  *widget.Label
	errLabel  *widget.Label
	embedded  *fyne.Container
	remote    *fyne.Container
	modelKeys []string // store names, in model's order
}

const (
	engineEmbeddedTitle = "This computer (embedded runner)"
	engineOllamaTitle   = "An Ollama server"
	layersAuto          = "Automatic (as many as fit)"
	layersCPU           = "None: CPU only"
	layersN             = "This many:"
)

// ShowEngineSettings edits where the model runs (this computer or an
// Ollama server) and how: model, GPU layers, threads, context. kind
// preselects an engine ("" keeps the current one). Saving takes effect at
// once, without restarting cxrview.
func (p *Panel) ShowEngineSettings(kind string) {
	s := p.host.Settings()
	if kind == "" {
		kind = s.Engine
	}
	f := &engineForm{}
	f.kind = widget.NewRadioGroup([]string{engineEmbeddedTitle, engineOllamaTitle}, nil)
	var names []string
	for _, m := range p.models {
		label := m.Name
		if m.TestModel {
			label += " — TEST MODEL"
		}
		names = append(names, label)
		f.modelKeys = append(f.modelKeys, m.Name)
	}
	f.model = widget.NewSelect(names, nil)
	f.model.PlaceHolder = "(the first installed model)"
	for i, n := range f.modelKeys {
		if n == s.Model || (s.Model == "" && n == p.model.choice.Name) {
			f.model.SetSelectedIndex(i)
		}
	}
	f.layersN = widget.NewEntry()
	f.layersN.SetPlaceHolder("layers")
	f.layers = widget.NewSelect([]string{layersAuto, layersCPU, layersN}, func(v string) {
		setEnabled(f.layersN, v == layersN)
	})
	switch {
	case s.GPULayers < 0:
		f.layers.SetSelected(layersAuto)
	case s.GPULayers == 0:
		f.layers.SetSelected(layersCPU)
	default:
		f.layers.SetSelected(layersN)
		f.layersN.SetText(strconv.Itoa(s.GPULayers))
	}
	f.threads = widget.NewEntry()
	f.threads.SetPlaceHolder("automatic: one per physical core")
	if s.Threads > 0 {
		f.threads.SetText(strconv.Itoa(s.Threads))
	}
	f.context, f.contextO = widget.NewEntry(), widget.NewEntry()
	for _, e := range []*widget.Entry{f.context, f.contextO} {
		e.SetPlaceHolder(fmt.Sprintf("%d tokens", engine.DefaultContext))
		if s.Context > 0 {
			e.SetText(strconv.Itoa(s.Context))
		}
	}
	f.host = widget.NewEntry()
	f.host.SetPlaceHolder(engine.DefaultOllamaHost)
	f.host.SetText(s.OllamaHost)
	f.ollama = widget.NewSelectEntry(p.server)
	f.ollama.SetPlaceHolder("a model made with cxrview model export-ollama")
	f.ollama.SetText(s.OllamaModel)
	f.listInfo = widget.NewLabel("")
	f.listInfo.Wrapping = fyne.TextWrapWord
	f.listInfo.SizeName = theme.SizeNameCaptionText
	f.listInfo.Hide()
	listBtn := widget.NewButtonWithIcon("List the server's models", theme.ViewRefreshIcon(), func() {
		f.listInfo.SetText("Asking the server…")
		f.listInfo.Show()
		host := f.host.Text
		go func() {
			names, err := listServerModels(host)
			p.do(func() {
				if err != nil {
					f.listInfo.SetText(err.Error())
					return
				}
				f.ollama.SetOptions(names)
				switch len(names) {
				case 0:
					f.listInfo.SetText("The server has no models yet: see `cxrview model export-ollama`.")
				case 1:
					f.listInfo.SetText("1 model on the server: choose it from the list.")
					if f.ollama.Text == "" {
						f.ollama.SetText(names[0])
					}
				default:
					f.listInfo.SetText(fmt.Sprintf("%d models on the server: choose one from the list.", len(names)))
				}
			})
		}()
	})
	f.errLabel = widget.NewLabel("")
	f.errLabel.Wrapping = fyne.TextWrapWord
	f.errLabel.Importance = widget.DangerImportance
	f.errLabel.Hide()

	f.embedded = container.NewVBox(widget.NewForm(
		widget.NewFormItem("Model", f.model),
		widget.NewFormItem("GPU layers", container.NewBorder(nil, nil, nil, container.NewGridWrap(fyne.NewSize(80, f.layersN.MinSize().Height), f.layersN), f.layers)),
		widget.NewFormItem("CPU threads", f.threads),
		widget.NewFormItem("Context", f.context),
	))
	hint := widget.NewLabel("The server decides GPU layers and threads itself (OLLAMA_* settings there).")
	hint.Wrapping = fyne.TextWrapWord
	hint.SizeName = theme.SizeNameCaptionText
	f.remote = container.NewVBox(widget.NewForm(
		widget.NewFormItem("Server", f.host),
		widget.NewFormItem("Model", f.ollama),
		widget.NewFormItem("Context", f.contextO),
	), container.NewHBox(listBtn), f.listInfo, hint)
	f.kind.OnChanged = func(v string) {
		if v == engineOllamaTitle {
			f.embedded.Hide()
			f.remote.Show()
		} else {
			f.remote.Hide()
			f.embedded.Show()
		}
	}
	if kind == app.EngineOllama {
		f.kind.SetSelected(engineOllamaTitle)
	} else {
		f.kind.SetSelected(engineEmbeddedTitle)
	}
	head := widget.NewLabel("Where the model runs")
	head.TextStyle.Bold = true
	f.content = container.NewVBox(head, f.kind, widget.NewSeparator(), f.embedded, f.remote, f.errLabel)
	f.ExtendBaseWidget(f)

	var d *dialog.CustomDialog
	save := widget.NewButton("Save", func() {
		change, err := f.settings()
		if err != nil {
			f.errLabel.SetText(err.Error())
			f.errLabel.Show()
			return
		}
		d.Hide()
		p.host.UpdateSettings(change)
		p.applyEngineSettings()
	})
	save.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	d = dialog.NewCustomWithoutButtons("Engine Settings", f, p.host.Window())
	d.SetButtons([]fyne.CanvasObject{cancel, save})
	d.Resize(fyne.NewSize(540, f.content.MinSize().Height+120))
	d.Show()
}

// CreateRenderer implements fyne.Widget.
func (f *engineForm) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(f.content)
}

// settings checks the form and returns the change to the settings.
func (f *engineForm) settings() (func(*app.Settings), error) {
	ollama := f.kind.Selected == engineOllamaTitle
	num := func(e *widget.Entry, what string, min int) (int, error) {
		t := strings.TrimSpace(e.Text)
		if t == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(t)
		if err != nil || n < min {
			return 0, fmt.Errorf("%s: %q is not a whole number of at least %d", what, t, min)
		}
		return n, nil
	}
	ctxEntry := f.context
	if ollama {
		ctxEntry = f.contextO
	}
	ctxLen, err := num(ctxEntry, "Context", 2048)
	if err != nil {
		return nil, err
	}
	if ollama {
		host := strings.TrimSpace(f.host.Text)
		if _, err := engine.ParseOllamaHost(host); err != nil {
			return nil, err
		}
		model := strings.TrimSpace(f.ollama.Text)
		if model == "" {
			return nil, errors.New("Model: give the name of the model on the server (List the server's models)")
		}
		return func(s *app.Settings) {
			s.Engine, s.OllamaHost, s.OllamaModel, s.Context = app.EngineOllama, host, model, ctxLen
		}, nil
	}
	layers := engine.GPULayersAuto
	switch f.layers.Selected {
	case layersCPU:
		layers = 0
	case layersN:
		n, err := num(f.layersN, "GPU layers", 1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errors.New("GPU layers: give the number of layers")
		}
		layers = n
	}
	threads, err := num(f.threads, "CPU threads", 1)
	if err != nil {
		return nil, err
	}
	model := ""
	if i := f.model.SelectedIndex(); i >= 0 && i < len(f.modelKeys) {
		model = f.modelKeys[i]
	}
	return func(s *app.Settings) {
		s.Engine, s.GPULayers, s.Threads, s.Context = app.EngineEmbedded, layers, threads, ctxLen
		if model != "" {
			s.Model = model
		}
	}, nil
}

// ImportModel brings a GGUF pair into the model store: two file dialogs
// (the language model, then its projector), the import with a progress
// bar, then the model's licence.
func (p *Panel) ImportModel() {
	start, _ := os.UserHomeDir()
	p.chooseFile("Import model (1 of 2): the language model GGUF", "GGUF model", []string{"gguf"}, start, func(text string, err error) {
		if err != nil {
			p.host.ShowError("Cannot show the file dialog", err)
			return
		}
		if text == "" {
			return
		}
		p.chooseFile("Import model (2 of 2): the vision projector (mmproj) GGUF", "GGUF model", []string{"gguf"}, filepath.Dir(text), func(proj string, err error) {
			if err != nil {
				p.host.ShowError("Cannot show the file dialog", err)
				return
			}
			if proj == "" {
				return
			}
			p.importPair(text, proj)
		})
	})
}

// importPair runs the import off the UI goroutine with a progress dialog
// that can cancel it.
func (p *Panel) importPair(text, proj string) {
	bar := widget.NewProgressBar()
	info := widget.NewLabel("Checking " + filepath.Base(text) + " and " + filepath.Base(proj) + "…")
	info.Wrapping = fyne.TextWrapWord
	ctx, cancel := context.WithCancel(context.Background())
	d := dialog.NewCustom("Importing the model", "Cancel", container.NewVBox(info, bar), p.host.Window())
	d.SetOnClosed(cancel) // Cancel stops the copy; the store removes what it staged
	d.Resize(fyne.NewSize(480, d.MinSize().Height))
	d.Show()
	prog := &coalescer[float64]{}
	go func() {
		store, err := app.OpenModelStore(p.env.Dirs)
		var m app.StoredModel
		if err == nil {
			m, err = store.Import(ctx, text, proj, app.ImportOptions{Progress: func(done, total int64) {
				prog.post(float64(done)/float64(max(total, 1)), func() {
					p.do(func() {
						f, _ := prog.take()
						bar.SetValue(f)
						info.SetText("Copying and hashing the files…")
					})
				})
			}})
		}
		p.do(func() {
			cancelled := ctx.Err() != nil
			d.Hide()
			if err != nil {
				if !cancelled {
					p.host.ShowError("Cannot import the model", err)
				}
				return
			}
			p.showImported(m)
			p.selectModel(app.EngineEmbedded, m.Name)
		})
	}()
}

// showImported tells what was imported and, for CXR-LLaVA, its licence and
// citation.
func (p *Panel) showImported(m app.StoredModel) {
	head := fmt.Sprintf("%s is in the model store (%s, %s).", m.Name, m.Title, m.TextType)
	var body string
	switch {
	case m.TestModel:
		body = "TEST MODEL: random weights made for tests. Its text is never a report; the panel labels it TEST MODEL."
	case m.Family != "":
		body = app.ModelLicenceNotice()
	case m.General:
		body = "A general LLaVA model, not trained on chest films: its drafts are labelled as such. Check its own licence."
	default:
		body = "Check the model's own licence."
	}
	p.showLongText("Model imported", head+"\n\n"+body)
}

// showModelLicence shows the CXR-LLaVA licence notice and citation.
func (p *Panel) showModelLicence() {
	p.showLongText("CXR-LLaVA licence and citation", app.ModelLicenceNotice())
}

// showLongText shows text in a scrolling dialog.
func (p *Panel) showLongText(title, text string) {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom(title, "Close", container.NewVScroll(l), p.host.Window())
	s := p.host.Window().Canvas().Size()
	d.Resize(fyne.NewSize(min(640, s.Width*0.9), min(560, s.Height*0.85)))
	d.Show()
}

// ShowConvert explains how to turn the released checkpoint into the GGUF
// pair, with the exact commands for this computer: the user picks the
// checkpoint's folder and the output folder, and copies the command. The
// conversion reads 14 GB and takes minutes; it runs in a terminal, where
// its progress bar and any error are plain to see.
func (p *Panel) ShowConvert() {
	exe, err := os.Executable()
	if err != nil {
		exe = "cxrview"
	}
	home, _ := os.UserHomeDir()
	from := filepath.Join(home, "CXR-LLAVA-v2")
	out := filepath.Join(home, "cxr-llava-gguf")
	intro := widget.NewLabel("No GGUF of CXR-LLaVA is published: cxrview converts the released checkpoint itself, once.\n\n" +
		"1. On any computer with internet access, download the Hugging Face repository ECOFRI/CXR-LLAVA-v2 " +
		"(about 14 GB), for example with\n    huggingface-cli download ECOFRI/CXR-LLAVA-v2 --local-dir CXR-LLAVA-v2\n" +
		"and carry the folder to this computer.\n\n" +
		"2. Convert it (a few minutes; about 4.7 GB for q4_k_m; at most 2 GB of memory) with the command below, " +
		"in a terminal.\n\n" +
		"3. Press Import GGUF files… and choose the two .gguf files it wrote.")
	intro.Wrapping = fyne.TextWrapWord
	cmd := widget.NewLabel("")
	cmd.TextStyle.Monospace = true
	cmd.Wrapping = fyne.TextWrapBreak
	cmd.Selectable = true
	update := func() {
		cmd.SetText(fmt.Sprintf("%s model convert --from %s --out %s --type q4_k_m", shellQuote(exe), shellQuote(from), shellQuote(out)))
	}
	update()
	check := widget.NewLabel("")
	check.Wrapping = fyne.TextWrapWord
	check.SizeName = theme.SizeNameCaptionText
	pickFrom := widget.NewButtonWithIcon("Checkpoint folder…", theme.FolderOpenIcon(), func() {
		p.chooseFolder("The CXR-LLaVA-v2 checkpoint folder", home, func(dir string, err error) {
			if err != nil || dir == "" {
				return
			}
			from = dir
			check.SetText(checkCheckpoint(dir))
			update()
		})
	})
	pickOut := widget.NewButtonWithIcon("Output folder…", theme.FolderOpenIcon(), func() {
		p.chooseFolder("Folder for the converted GGUF files", home, func(dir string, err error) {
			if err != nil || dir == "" {
				return
			}
			out = dir
			update()
		})
	})
	copyBtn := widget.NewButtonWithIcon("Copy command", theme.ContentCopyIcon(), func() {
		fyne.CurrentApp().Clipboard().SetContent(cmd.Text)
		check.SetText("Command copied: paste it into a terminal.")
	})
	var d *dialog.CustomDialog
	importBtn := widget.NewButtonWithIcon("Import GGUF files…", theme.DownloadIcon(), func() {
		d.Hide()
		p.ImportModel()
	})
	content := container.NewVBox(intro, container.NewHBox(pickFrom, pickOut), cmd, check,
		container.NewHBox(copyBtn, importBtn))
	d = dialog.NewCustom("Convert the Hugging Face checkpoint", "Close", container.NewVScroll(content), p.host.Window())
	s := p.host.Window().Canvas().Size()
	d.Resize(fyne.NewSize(min(680, s.Width*0.9), min(620, s.Height*0.9)))
	d.Show()
}

// checkCheckpoint says whether dir looks like the checkpoint; the
// converter checks every tensor itself.
func checkCheckpoint(dir string) string {
	var missing []string
	for _, f := range []string{"config.json", "model.safetensors.index.json", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return "This folder lacks " + strings.Join(missing, ", ") + ": is it the ECOFRI/CXR-LLAVA-v2 download?"
	}
	return "The folder has the checkpoint's files."
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
