package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/engine"
)

// modelPhase is where the model stands.
type modelPhase int

const (
	modelNone    modelPhase = iota // no model installed or chosen
	modelIdle                      // chosen, not loaded (unloaded by the user)
	modelLoading                   // loading, or connecting to the server
	modelReady                     // loaded: Generate runs at once
	modelFailed                    // loading failed; Retry or choose another
)

// modelState is the model as the panel shows it.
type modelState struct {
	phase    modelPhase
	choice   app.ModelChoice // the model the settings choose
	info     engine.ModelInfo
	progress float64
	err      error
}

// LoadModel loads the model the settings choose, off the UI goroutine,
// with its progress in the panel. A change of engine (embedded or Ollama,
// or another server) closes the old engine; the new one serves the next
// request, without a restart of cxrview.
func (p *Panel) LoadModel() {
	if p.host == nil || p.closed {
		return
	}
	if p.loadCancel != nil {
		p.loadCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.loadCancel = cancel
	p.loadGen++
	gen := p.loadGen
	settings := p.host.Settings()
	oldEng, oldKey := p.eng, p.engKey
	newEngine := p.opts.NewEngine
	if newEngine == nil {
		newEngine = app.NewEngine
	}
	p.model = modelState{phase: modelLoading, choice: p.model.choice}
	p.refresh()
	prog := &coalescer[float64]{}
	go func() {
		fail := func(c app.ModelChoice, eng engine.Engine, key string, err error) {
			p.do(func() { p.modelLoaded(gen, eng, key, c, engine.ModelInfo{}, err) })
		}
		choice, err := app.ResolveModel(p.env, settings)
		if err != nil {
			fail(choice, nil, "", err)
			return
		}
		key := choice.Kind + " " + choice.Host
		eng := oldEng
		if eng == nil || key != oldKey {
			if eng, err = newEngine(p.env, choice.Kind, choice.Host); err != nil {
				fail(choice, nil, "", err)
				return
			}
		}
		p.do(func() {
			if gen == p.loadGen {
				p.model.choice = choice
				p.refresh()
			}
		})
		info, err := eng.Load(ctx, choice.Spec, func(f float64) {
			prog.post(f, func() {
				p.do(func() {
					f, _ := prog.take()
					if gen == p.loadGen && p.model.phase == modelLoading {
						p.model.progress = f
						p.modelBar.SetValue(f)
						p.host.SetEngineStatus(fmt.Sprintf("Engine: loading %s… %.0f%%", choice.Name, 100*f))
					}
				})
			})
		})
		p.do(func() { p.modelLoaded(gen, eng, key, choice, info, err) })
	}()
}

// modelLoaded takes the result of load request gen.
func (p *Panel) modelLoaded(gen uint64, eng engine.Engine, key string, c app.ModelChoice, info engine.ModelInfo, err error) {
	if gen != p.loadGen || p.closed {
		if eng != nil && eng != p.eng {
			go eng.Close()
		}
		return
	}
	p.loadCancel = nil
	if eng != nil && eng != p.eng {
		if old := p.eng; old != nil {
			go old.Close()
		}
		p.eng, p.engKey = eng, key
	}
	pending := p.pending
	p.pending = nil
	switch {
	case errors.Is(err, app.ErrNoModel):
		p.model = modelState{phase: modelNone, choice: c}
	case err != nil:
		p.model = modelState{phase: modelFailed, choice: c, err: err}
	default:
		p.model = modelState{phase: modelReady, choice: c, info: info}
	}
	p.refresh()
	if p.model.phase == modelReady && pending != nil {
		p.resume(pending)
	}
}

// UnloadModel frees the model's memory (the embedded runner stops); the
// next Generate loads it again.
func (p *Panel) UnloadModel() {
	if p.eng == nil || p.model.phase != modelReady {
		return
	}
	if p.run != nil {
		p.Stop()
	}
	p.loadGen++ // a load in flight is obsolete
	eng := p.eng
	p.model.phase = modelIdle
	p.refresh()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := eng.Unload(ctx)
		if err != nil {
			p.do(func() { p.host.ShowError("Cannot unload the model", err) })
		}
	}()
}

// refreshModels re-reads the model store and, for the Ollama engine, the
// server's models, off the UI goroutine; the Model menu lists them.
func (p *Panel) refreshModels() {
	if p.env == nil {
		return
	}
	s := p.host.Settings()
	go func() {
		var ms []app.StoredModel
		if store, err := app.OpenModelStore(p.env.Dirs); err == nil {
			ms = store.List()
		}
		p.do(func() {
			p.models = ms
			p.refreshMenus()
		})
	}()
	if s.Engine != app.EngineOllama {
		p.server = nil
		return
	}
	go func() {
		names, err := listServerModels(s.OllamaHost)
		if err != nil {
			names = nil
		}
		p.do(func() {
			p.server = names
			p.refreshMenus()
		})
	}()
}

// listServerModels asks an Ollama server for its models.
func listServerModels(host string) ([]string, error) {
	o, err := engine.NewOllama(app.OllamaHost(host), engine.WithOllamaTimeouts(5*time.Second, 10*time.Second))
	if err != nil {
		return nil, err
	}
	defer o.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.Models(ctx)
}

// refreshModel shows the model's state: a coloured dot, its name and
// backend, a progress bar while loading, the TEST MODEL and general-model
// warnings, and the three ways to get a model when there is none.
func (p *Panel) refreshModel() {
	m := p.model
	var dot color.Color = color.NRGBA{0x6c, 0x72, 0x7b, 0xff}
	text, warn := "", ""
	warnKind := widget.MediumImportance
	tag, tagKind := "", widget.MediumImportance
	var btns []*widget.Button
	where := "this computer"
	if m.choice.Kind == app.EngineOllama {
		where = "the Ollama server"
		if h, err := engine.ParseOllamaHost(m.choice.Host); err == nil {
			where = strings.TrimPrefix(strings.TrimPrefix(h, "http://"), "https://")
		}
	}
	switch m.phase {
	case modelNone:
		text = "No model installed"
		if m.choice.Kind == app.EngineOllama {
			text = "No Ollama model chosen"
		}
	case modelIdle:
		text = m.choice.Name + " — not loaded"
		btns = append(btns, widget.NewButton("Load", p.LoadModel))
	case modelLoading:
		dot = color.NRGBA{0xd0, 0xa0, 0x30, 0xff}
		text = "Loading the model…"
		if m.choice.Name != "" {
			text = fmt.Sprintf("Loading %s on %s…", m.choice.Name, where)
		}
	case modelReady:
		dot = color.NRGBA{0x4c, 0xa0, 0x70, 0xff}
		text = m.info.Name
		if m.info.Backend != "" {
			text += " · " + m.info.Backend
		}
		var notes []string
		switch {
		case m.info.TestModel:
			tag, tagKind = "TEST MODEL", widget.DangerImportance
		case m.info.General:
			tag, tagKind = "GENERAL MODEL", widget.WarningImportance
			notes = append(notes, "General model, not CXR-specific: its drafts need extra care")
			warnKind = widget.WarningImportance
		}
		notes = append(notes, m.info.Notices...)
		warn = strings.Join(notes, "\n")
	case modelFailed:
		dot = color.NRGBA{0xc8, 0x50, 0x46, 0xff}
		text = "The model could not be loaded"
		if m.choice.Name != "" {
			text = m.choice.Name + " could not be loaded"
		}
		warn = p.scrub(m.err).Error()
		warnKind = widget.DangerImportance
		btns = append(btns, widget.NewButton("Retry", p.LoadModel),
			widget.NewButton("Engine settings…", func() { p.ShowEngineSettings("") }))
	}
	key := fmt.Sprintf("%d|%s|%s|%s|%v|%q|%q|%v", m.phase, text, warn, tag, dot, m.info.Notices, where, m.choice.Kind)
	if key == p.modelKey {
		if m.phase == modelLoading {
			p.modelBar.SetValue(m.progress)
		}
		return
	}
	p.modelKey = key
	if c, ok := p.modelDot.FillColor.(color.NRGBA); !ok || c != dot.(color.NRGBA) {
		p.modelDot.FillColor = dot
		p.modelDot.Refresh()
	}
	p.modelText.SetText(text)
	p.modelTag.Importance = tagKind
	p.modelTag.SetText(tag)
	if tag == "" {
		p.modelTag.Hide()
	} else {
		p.modelTag.Show()
	}
	p.modelWarn.Importance = warnKind
	p.modelWarn.SetText(warn)
	if warn == "" {
		p.modelWarn.Hide()
	} else {
		p.modelWarn.Show()
	}
	if m.phase == modelLoading {
		p.modelBar.SetValue(m.progress)
		p.modelBar.Show()
	} else {
		p.modelBar.Hide()
	}
	p.modelBtns.RemoveAll()
	for _, b := range btns {
		p.modelBtns.Add(b)
	}
	if len(btns) == 0 {
		p.modelBtns.Hide()
	} else {
		p.modelBtns.Show()
	}
	if m.phase == modelNone {
		p.setup.Show()
	} else {
		p.setup.Hide()
	}
	if p.host != nil {
		p.host.SetEngineStatus(engineStatus(m, where))
	}
}

// engineStatus is the engine's part of the window's status bar.
func engineStatus(m modelState, where string) string {
	switch m.phase {
	case modelIdle:
		return "Engine: " + m.choice.Name + " not loaded"
	case modelLoading:
		if m.choice.Name == "" {
			return "Engine: loading…"
		}
		return fmt.Sprintf("Engine: loading %s… %.0f%%", m.choice.Name, 100*m.progress)
	case modelReady:
		s := "Engine: " + m.info.Label()
		if m.info.Backend != "" {
			s += " · " + m.info.Backend
		}
		if m.choice.Kind == app.EngineOllama {
			s += " · " + where
		}
		return s
	case modelFailed:
		return "Engine: the model failed to load"
	}
	return "Engine: no model loaded"
}

// coalescer hands the latest of a fast stream of values (load progress,
// streamed text) to the UI goroutine with at most one post outstanding:
// post schedules a post only when none is waiting, and the posted function
// takes the latest value.
type coalescer[T any] struct {
	mu     sync.Mutex
	latest T
	has    bool
	posted bool
}

// post records v and calls schedule unless a post is already waiting.
func (c *coalescer[T]) post(v T, schedule func()) {
	c.mu.Lock()
	c.latest, c.has = v, true
	already := c.posted
	c.posted = true
	c.mu.Unlock()
	if !already {
		schedule()
	}
}

// take returns the latest value, and whether there is one; the next post
// schedules again.
func (c *coalescer[T]) take() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posted = false
	return c.latest, c.has
}

// peek returns the latest value, and whether there is one.
func (c *coalescer[T]) peek() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest, c.has
}
