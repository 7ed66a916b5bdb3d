package app

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"cxrview/engine"
	"cxrview/imaging/imagingtest"
)

// manualClock is a Clock that moves only when the test says so; timers
// fire synchronously inside Advance, in time order.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c              *manualClock
	at             time.Time
	f              func()
	stopped, fired bool
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 11, 28, 9, 30, 0, 0, time.FixedZone("CET", 3600))}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}

// Advance moves the clock by d, firing every timer that falls due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var live []*manualTimer
		for _, t := range c.timers {
			if !t.stopped && !t.fired {
				live = append(live, t)
			}
		}
		c.timers = live
		sort.SliceStable(live, func(i, j int) bool { return live[i].at.Before(live[j].at) })
		if len(live) == 0 || live[0].at.After(target) {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := live[0]
		t.fired = true
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// pending is the number of timers still waiting.
func (c *manualClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			n++
		}
	}
	return n
}

// fakeEngine streams canned pieces, and fails, crashes or stops on demand.
type fakeEngine struct {
	pieces     []string
	failAfter  int   // return failErr after this many pieces; -1 never
	failErr    error // the error to return
	panicAfter int   // panic after this many pieces; -1 never
	stopReason string
	// cancelAfter calls cancel after this many pieces (the user pressing
	// Stop); the engine then reports "cancelled" as the runner does.
	cancelAfter int
	cancel      context.CancelFunc

	mu   sync.Mutex
	reqs []engine.Request
}

func newFakeEngine(pieces ...string) *fakeEngine {
	return &fakeEngine{pieces: pieces, failAfter: -1, panicAfter: -1, cancelAfter: -1}
}

func (f *fakeEngine) Load(context.Context, engine.ModelSpec, func(float64)) (engine.ModelInfo, error) {
	return engine.ModelInfo{}, nil
}
func (f *fakeEngine) Unload(context.Context) error { return nil }
func (f *fakeEngine) Close() error                 { return nil }

func (f *fakeEngine) Generate(ctx context.Context, req engine.Request, onPiece func(engine.Piece)) (engine.Stats, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	st := engine.Stats{PromptTokens: 1040, PromptMS: 120, Backend: "fake", Prompt: "rendered prompt",
		PromptTokenIDs: make([]int, 1040), TokenIDs: make([]int, len(f.pieces))}
	for i, p := range f.pieces {
		if i == f.cancelAfter && f.cancel != nil {
			f.cancel()
		}
		if ctx.Err() != nil {
			st.GenTokens, st.StopReason = i, "cancelled"
			return st, nil
		}
		if i == f.failAfter {
			st.GenTokens = i
			return st, f.failErr
		}
		if i == f.panicAfter {
			panic("fake engine: segmentation fault")
		}
		onPiece(engine.Piece{Text: p, Token: 100 + i})
	}
	st.GenTokens = len(f.pieces)
	st.GenMS, st.GenTPS = 500, float64(len(f.pieces))/0.5
	st.StopReason = f.stopReason
	if st.StopReason == "" {
		st.StopReason = "eos"
	}
	return st, nil
}

func (f *fakeEngine) requests() []engine.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Request(nil), f.reqs...)
}

// cxrModel is what the runner reports for a converted CXR-LLaVA; the image
// size is small to keep tests fast (the model input code is the same).
var cxrModel = engine.ModelInfo{Name: "cxr-llava-v2-q8_0", Template: engine.TemplateCXRLLaVA, ImageSize: 64, Backend: "CPU"}

var testModel = engine.ModelInfo{Name: "tiny", Template: engine.TemplateCXRLLaVA, ImageSize: 64, TestModel: true}

const reportPieces = "Findings: The heart size is normal. No pleural effusion.\nImpression: No acute cardiopulmonary abnormality."

// splitPieces cuts s into word pieces as a tokenizer would stream them.
func splitPieces(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\n' {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}

// crStudy opens the real CR film.
func crStudy(t testing.TB) *Study {
	t.Helper()
	st, err := OpenStudy(imagingtest.CRFilm(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// pngStudy writes and opens a synthetic 8-bit gray PNG film: a PNG has no
// DICOM identifiers, so its key is the content hash.
func pngStudy(t testing.TB) *Study {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, 300, 240))
	for y := range 240 {
		for x := range 300 {
			v := uint8((x*255/300 + y/3) % 256)
			if (x-150)*(x-150)+(y-120)*(y-120) < 40*40 {
				v = 230
			}
			g.SetGray(x, y, color.Gray{v})
		}
	}
	path := filepath.Join(t.TempDir(), "film.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, g); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := OpenStudy(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testDirs(t testing.TB) Dirs {
	root := t.TempDir()
	return Dirs{Config: filepath.Join(root, "config"), Data: filepath.Join(root, "data"), Cache: filepath.Join(root, "cache")}
}

// openTest opens a session on a manual clock and records save results.
type saveLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *saveLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *saveLog) count() (ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		if e == nil {
			ok++
		} else {
			failed++
		}
	}
	return
}

func openTest(t testing.TB, d Dirs, st *Study, c *manualClock) (*Session, *saveLog) {
	t.Helper()
	log := &saveLog{}
	s, err := OpenSession(d, st, SessionOptions{Clock: c, OnSave: log.add})
	if err != nil {
		t.Fatal(err)
	}
	return s, log
}

// savedText reads the text of the draft on disk ("" and false if none).
func savedText(t testing.TB, d Dirs, key string) (string, bool) {
	t.Helper()
	dr, err := LoadDraft(d, key)
	if err != nil {
		return "", false
	}
	return dr.Text, true
}
