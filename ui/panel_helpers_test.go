package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/app/apptest"
	"cxrview/engine"
)

// fakeEngine is an engine.Engine that streams fixed pieces. With step
// set, it waits for a value on step before each piece, so a test can look
// at the panel between two pieces; crashAt makes it fail as a crashed
// runner does, once, before that piece. With hold set, a cancelled
// request returns only once hold is closed, as a runner that finishes the
// batch it is computing before it looks at the cancellation.
type fakeEngine struct {
	kind, host string
	hold       chan struct{}

	mu       sync.Mutex
	info     engine.ModelInfo
	pieces   []string
	answer   []string // pieces of follow-up answers (requests with more than one turn)
	step     chan struct{}
	crashAt  int // -1: never
	loadErr  error
	loads    []engine.ModelSpec
	requests []engine.Request
	unloaded int
	closed   bool
}

func newFakeEngine(pieces ...string) *fakeEngine {
	return &fakeEngine{
		info:    engine.ModelInfo{Name: "fake-cxr", Template: engine.TemplateCXRLLaVA, ImageSize: 64, ImageTokens: 16, Backend: "CPU (fake)"},
		pieces:  pieces,
		crashAt: -1,
	}
}

func (f *fakeEngine) Load(ctx context.Context, spec engine.ModelSpec, progress func(float64)) (engine.ModelInfo, error) {
	f.mu.Lock()
	f.loads = append(f.loads, spec)
	info, err := f.info, f.loadErr
	f.mu.Unlock()
	if progress != nil {
		progress(0.5)
		progress(1)
	}
	if spec.Name != "" {
		info.Name = spec.Name
	}
	return info, err
}

func (f *fakeEngine) Generate(ctx context.Context, req engine.Request, onPiece func(engine.Piece)) (engine.Stats, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	pieces, step, crash, hold := f.pieces, f.step, f.crashAt, f.hold
	if len(req.Turns) > 1 && f.answer != nil {
		pieces = f.answer
	}
	f.mu.Unlock()
	for i, p := range pieces {
		if step != nil {
			select {
			case <-step:
			case <-ctx.Done():
				if hold != nil {
					<-hold
				}
				return engine.Stats{StopReason: "cancelled", GenTokens: i}, ctx.Err()
			}
		}
		if ctx.Err() != nil {
			return engine.Stats{StopReason: "cancelled", GenTokens: i}, ctx.Err()
		}
		if i == crash {
			f.mu.Lock()
			f.crashAt = -1 // the next request works: the runner restarted
			f.mu.Unlock()
			return engine.Stats{}, fmt.Errorf("%w: the runner exited (signal: aborted)", engine.ErrEngineCrashed)
		}
		onPiece(engine.Piece{Text: p, Token: i})
	}
	return engine.Stats{StopReason: "eos", GenTokens: len(pieces)}, nil
}

func (f *fakeEngine) Unload(context.Context) error {
	f.mu.Lock()
	f.unloaded++
	f.mu.Unlock()
	return nil
}

func (f *fakeEngine) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeEngine) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *fakeEngine) lastLoad() engine.ModelSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.loads) == 0 {
		return engine.ModelSpec{}
	}
	return f.loads[len(f.loads)-1]
}

func (f *fakeEngine) requestList() []engine.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Request(nil), f.requests...)
}

// testPanel is the main window with the real report panel on the test
// driver. Engines come from engines (by kind and host), else from the
// default factory.
type testPanel struct {
	*testViewer
	p       *Panel
	mu      sync.Mutex
	engines map[string]*fakeEngine // "kind host" → engine
	made    []string               // the engines made, in order
}

// panelSetup prepares the user's folders and settings before the window
// opens.
type panelSetup func(env *app.Env, s *app.Settings)

// withOllama chooses a model on the Ollama server at host: with a fake
// engine for that host, tests need no model store.
func withOllama(host, model string) panelSetup {
	return func(_ *app.Env, s *app.Settings) {
		s.Engine, s.OllamaHost, s.OllamaModel = app.EngineOllama, host, model
	}
}

func newTestPanel(t *testing.T, opts PanelOptions, engines map[string]*fakeEngine, setup ...panelSetup) *testPanel {
	t.Helper()
	a := test.NewTempApp(t)
	home := t.TempDir()
	t.Setenv("OLLAMA_MODELS", filepath.Join(home, "no-ollama"))
	env := &app.Env{Dirs: app.Dirs{Config: filepath.Join(home, "config"), Data: filepath.Join(home, "data"), Cache: filepath.Join(home, "cache")}, Version: "test"}
	s := app.DefaultSettings()
	for _, f := range setup {
		f(env, &s)
	}
	if err := app.SaveSettings(env.Dirs, s); err != nil {
		t.Fatal(err)
	}
	tp := &testPanel{engines: engines}
	if opts.NewEngine == nil && engines != nil {
		opts.NewEngine = func(_ *app.Env, kind, host string) (engine.Engine, error) {
			tp.mu.Lock()
			defer tp.mu.Unlock()
			key := kind + " " + host
			tp.made = append(tp.made, key)
			if e, ok := tp.engines[key]; ok {
				return e, nil
			}
			return nil, fmt.Errorf("no test engine for %q", key)
		}
	}
	p := NewPanel(opts)
	queue := make(chan func(), 4096)
	p.do = func(f func()) { queue <- f }
	v := NewViewer(a, env, s, Options{Report: p, Chooser: &stubChooser{}})
	tv := &testViewer{Viewer: v, t: t, queue: queue}
	v.do = p.do
	v.win.Resize(fyne.NewSize(1200, 860))
	tp.testViewer, tp.p = tv, p
	t.Cleanup(func() {
		p.Shutdown()
		if v.stopThumbs != nil {
			v.stopThumbs()
		}
		// Let goroutines that post to the queue finish.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case f := <-queue:
				f()
			default:
				time.Sleep(5 * time.Millisecond)
			}
		}
		v.win.Close()
	})
	return tp
}

// openPNG opens a small synthetic film and waits for its session.
func (tp *testPanel) openPNG(name string) string {
	tp.t.Helper()
	p := filepath.Join(tp.t.TempDir(), name)
	seed := len(name) // films with different names differ: PNG studies are keyed by content
	for _, c := range name {
		seed = seed*31 + int(c)
	}
	writePNG(tp.t, p, 96, 80, func(x, y int) uint8 { return uint8((x*3 + y*5 + seed) % 256) })
	tp.open(p)
	return p
}

func (tp *testPanel) open(path string) {
	tp.t.Helper()
	tp.OpenFile(path)
	tp.pump(func() bool { return tp.pending.Load() == 0 && tp.p.sess != nil && tp.p.sess.Study().Path == path })
}

// ready waits for the model.
func (tp *testPanel) ready() {
	tp.t.Helper()
	tp.pump(func() bool { return tp.p.model.phase == modelReady || tp.p.model.phase == modelFailed })
	if tp.p.model.phase != modelReady {
		tp.t.Fatalf("the model did not load: %v", tp.p.model.err)
	}
}

// idle waits until no model call runs.
func (tp *testPanel) idle() {
	tp.t.Helper()
	tp.pump(func() bool { return tp.p.run == nil && len(tp.queue) == 0 })
}

// texts is everything on the canvas, dialogs included, as one string
// with single spaces (labels wrap).
func (tp *testPanel) texts() string {
	return strings.Join(strings.Fields(strings.Join(canvasTexts(tp.win, false), " ")), " ")
}

// chipTexts lists what the chips say.
func (tp *testPanel) chipTexts() []string {
	var out []string
	for _, c := range tp.p.chips.chips {
		out = append(out, c.Text())
	}
	return out
}

// tapDialogButton taps the button labelled label in the top dialog.
func (tp *testPanel) tapDialogButton(label string) {
	tp.t.Helper()
	top := tp.win.Canvas().Overlays().Top()
	if top == nil {
		tp.t.Fatalf("no dialog on screen (looking for %q)", label)
	}
	b := findButton(top, label)
	if b == nil {
		tp.t.Fatalf("the dialog has no button %q: %q", label, objectTexts(top, false))
	}
	test.Tap(b)
}

// engineForm is the Engine Settings form on screen, nil when none is.
func (tp *testPanel) engineForm() *engineForm {
	var found *engineForm
	for _, o := range tp.win.Canvas().Overlays().List() {
		walkObjects(o, func(o fyne.CanvasObject) {
			if f, ok := o.(*engineForm); ok && found == nil {
				found = f
			}
		})
	}
	return found
}

// findButton finds a button by its label in o's tree.
func findButton(o fyne.CanvasObject, label string) *widget.Button {
	var found *widget.Button
	walkObjects(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == label && found == nil {
			found = b
		}
	})
	return found
}

// findEntries lists the entries in o's tree.
func findEntries(o fyne.CanvasObject) []*widget.Entry {
	var out []*widget.Entry
	walkObjects(o, func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok {
			out = append(out, e)
		}
	})
	return out
}

func walkObjects(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	if o == nil {
		return
	}
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walkObjects(c, f)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walkObjects(c, f)
		}
	}
}

// seqChooser answers file dialogs with files in turn and folder dialogs
// with folder; it records the titles and start folders it was given.
type seqChooser struct {
	files  []string
	folder string
	titles []string
	starts []string
}

func (s *seqChooser) ChooseFile(w fyne.Window, start string, done func(string, error)) {
	s.ChooseFileTitled(w, "", "", nil, start, done)
}
func (s *seqChooser) ChooseFolder(w fyne.Window, start string, done func(string, error)) {
	s.ChooseFolderTitled(w, "", start, done)
}
func (s *seqChooser) ChooseFileTitled(_ fyne.Window, title, _ string, _ []string, start string, done func(string, error)) {
	s.titles = append(s.titles, title)
	s.starts = append(s.starts, start)
	if len(s.files) == 0 {
		done("", nil)
		return
	}
	f := s.files[0]
	s.files = s.files[1:]
	done(f, nil)
}
func (s *seqChooser) ChooseFolderTitled(_ fyne.Window, title, start string, done func(string, error)) {
	s.titles = append(s.titles, title)
	s.starts = append(s.starts, start)
	done(s.folder, nil)
}

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
)

// tinyPair writes the tiny random-weight CXR-LLaVA pair (engine/testmodel,
// through the engine binary's testmodel tool) once per test binary.
func tinyPair(t *testing.T) (text, proj string) {
	t.Helper()
	bin := apptest.EngineBinary(t)
	tinyOnce.Do(func() {
		tinyDir, tinyErr = os.MkdirTemp("", "cxrview-ui-tiny-")
		if tinyErr != nil {
			return
		}
		out, err := exec.Command(bin, "testmodel", "--out", tinyDir, "--shape", "tiny", "--type", "f16", "--seed", "5").CombinedOutput()
		if err != nil {
			tinyErr = fmt.Errorf("cxrview-engine testmodel: %v\n%s", err, out)
		}
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return filepath.Join(tinyDir, "tiny-f16.gguf"), filepath.Join(tinyDir, "tiny-mmproj.gguf")
}

// importTiny puts the tiny pair into the store of env under name.
func importTiny(t *testing.T, env *app.Env, name string) app.StoredModel {
	t.Helper()
	text, proj := tinyPair(t)
	store, err := app.OpenModelStore(env.Dirs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.Import(context.Background(), text, proj, app.ImportOptions{Name: name, Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkStacked fails when the panel's parts overlap: each must start
// below the one before it (Fyne does not lay a container out again when
// only a child's minimum size changes).
func (tp *testPanel) checkStacked(what string) {
	tp.t.Helper()
	d := fyne.CurrentApp().Driver()
	parts := []fyne.CanvasObject{tp.p.top, tp.p.split, tp.p.bottom}
	for i := 1; i < len(parts); i++ {
		a, b := parts[i-1], parts[i]
		aEnd := d.AbsolutePositionForObject(a).Y + a.Size().Height
		if bStart := d.AbsolutePositionForObject(b).Y; bStart+0.5 < aEnd {
			tp.t.Errorf("%s: part %d starts at %.0f, above the end of part %d at %.0f", what, i, bStart, i-1, aEnd)
		}
		if a.Size().Height+0.5 < a.MinSize().Height {
			tp.t.Errorf("%s: part %d is %.0f high, less than its minimum %.0f", what, i-1, a.Size().Height, a.MinSize().Height)
		}
	}
}
