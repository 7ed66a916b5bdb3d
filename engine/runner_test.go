package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cxrview/engine"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/quant"
	"cxrview/engine/testmodel"
)

// The test binary doubles as the runner: the client starts it again with
// CXRVIEW_TEST_RUNNER=1 and the argument "runner", after the options of
// testRunner.
func TestMain(m *testing.M) {
	if os.Getenv("CXRVIEW_TEST_RUNNER") == "1" {
		os.Exit(testRunner(os.Args[1:]))
	}
	os.Setenv("CXRVIEW_TEST_RUNNER", "1")
	os.Exit(m.Run())
}

// libDir is the repository's lib/ollama (the CPU backends `make build`
// puts there), so the tests run on the same code as the product;
// CXRVIEW_LIBDIR overrides it (a worktree without a build of its own).
func libDir() string {
	if d := os.Getenv("CXRVIEW_LIBDIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "lib", "ollama")
}

// newRunner returns a client of the real runner; opts are testRunner's
// options, which make it misbehave in chosen ways.
func newRunner(t testing.TB, opts ...string) *engine.Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := engine.NewRunner(exe, engine.WithLibDir(libDir()), engine.WithArgs(opts...))
	t.Cleanup(func() { r.Close() })
	return r
}

var (
	modelsOnce sync.Once
	modelsDir  string
	modelsErr  error
)

// tinyModels writes the test pairs once per test binary.
func tinyModels(t testing.TB) string {
	t.Helper()
	modelsOnce.Do(func() {
		modelsDir, modelsErr = os.MkdirTemp("", "cxrview-engine-test-")
		if modelsErr != nil {
			return
		}
		for _, name := range []string{"tiny", "tiny-llava"} {
			s, _ := testmodel.Lookup(name)
			if _, modelsErr = testmodel.Generate(modelsDir, s, quant.F16, 7); modelsErr != nil {
				return
			}
		}
	})
	if modelsErr != nil {
		t.Fatal(modelsErr)
	}
	return modelsDir
}

func tinySpec(t testing.TB, shape string) engine.ModelSpec {
	dir := tinyModels(t)
	s, err := testmodel.Lookup(shape)
	if err != nil {
		t.Fatal(err)
	}
	p := testmodel.Paths(dir, s, quant.F16)
	return engine.ModelSpec{Text: p.Text, Projector: p.Projector, Context: 1024, Threads: 2}
}

func reportRequest(t testing.TB, size, maxTokens int) engine.Request {
	q, err := engine.PresetReport.Question("")
	if err != nil {
		t.Fatal(err)
	}
	return engine.Request{Image: cxrtest.Image(size), Turns: []engine.Turn{{User: q}}, MaxTokens: maxTokens}
}

func generate(t testing.TB, r engine.Engine, req engine.Request) (string, engine.Stats) {
	t.Helper()
	var b strings.Builder
	st, err := r.Generate(context.Background(), req, func(p engine.Piece) { b.WriteString(p.Text) })
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return b.String(), st
}

func TestGenerateEndToEnd(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	info, err := r.Load(ctx, tinySpec(t, "tiny"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.TestModel || info.Template != engine.TemplateCXRLLaVA || !info.BlockRotate || info.ImageTokens != 16 {
		t.Fatalf("model info %+v", info)
	}
	if !strings.Contains(info.Label(), "TEST MODEL") {
		t.Errorf("label %q does not say TEST MODEL", info.Label())
	}
	req := reportRequest(t, info.ImageSize, 24)
	text1, st1 := generate(t, r, req)
	text2, st2 := generate(t, r, req)
	if st1.GenTokens == 0 || text1 == "" {
		t.Fatalf("nothing generated: %+v", st1)
	}
	if text1 != text2 || !slices.Equal(st1.TokenIDs, st2.TokenIDs) {
		t.Errorf("greedy decoding is not reproducible:\n%q\n%q", text1, text2)
	}
	if st1.StopReason != "length" && st1.StopReason != "eos" {
		t.Errorf("stop reason %q", st1.StopReason)
	}
	// The prompt: two BOS (the tokenizer's and the template's literal <s>),
	// then "▁[INST]"; the image's place is marked by a single -200.
	ids := st1.PromptTokenIDs
	if len(ids) < 3 || ids[0] != 1 || ids[1] != 1 {
		t.Errorf("prompt does not start with two BOS: %v", ids[:min(len(ids), 8)])
	}
	if n := countOf(ids, engine.ImageTokenID); n != 1 {
		t.Errorf("image marker appears %d times in the prompt ids", n)
	}
	if want := len(ids) - 1 + info.ImageTokens; st1.PromptTokens != want {
		t.Errorf("prompt positions %d, want %d", st1.PromptTokens, want)
	}
	// The second run reuses the cached image and the whole prompt but one.
	if !st2.ImageCached || st2.CachedTokens != st2.PromptTokens-1 {
		t.Errorf("second run: image cached %v, cached tokens %d of %d", st2.ImageCached, st2.CachedTokens, st2.PromptTokens)
	}
	// A follow-up question continues the conversation.
	follow := req
	follow.Turns = []engine.Turn{{User: req.Turns[0].User, Assistant: text1}, {User: "Is there a pneumothorax?"}}
	text3, st3 := generate(t, r, follow)
	if text3 == "" || st3.CachedTokens == 0 {
		t.Errorf("follow-up: %q, cached %d", text3, st3.CachedTokens)
	}
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestGeneralModel(t *testing.T) {
	r := newRunner(t)
	info, err := r.Load(context.Background(), tinySpec(t, "tiny-llava"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.General || info.Template != engine.TemplateVicuna || info.BlockRotate {
		t.Fatalf("model info %+v", info)
	}
	text, st := generate(t, r, reportRequest(t, info.ImageSize, 8))
	if text == "" || st.PromptTokenIDs[0] != 1 || st.PromptTokenIDs[1] == 1 {
		t.Errorf("vicuna prompt should start with one BOS: %v, text %q", st.PromptTokenIDs[:4], text)
	}
}

func TestSampling(t *testing.T) {
	r := newRunner(t)
	info, err := r.Load(context.Background(), tinySpec(t, "tiny"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := reportRequest(t, info.ImageSize, 32)
	req.Sampling = engine.ReferenceSampling()
	req.Sampling.Temperature = 1.5 // random weights give flat distributions; make draws differ
	req.Sampling.Seed = 11
	a, _ := generate(t, r, req)
	b, _ := generate(t, r, req)
	if a != b {
		t.Errorf("the same seed gave different text:\n%q\n%q", a, b)
	}
	req.Sampling.Seed = 12
	c, _ := generate(t, r, req)
	if a == c {
		t.Errorf("different seeds gave the same text %q", a)
	}
}

func TestCancel(t *testing.T) {
	r := newRunner(t)
	spec := tinySpec(t, "tiny")
	spec.Context = 4096
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := reportRequest(t, info.ImageSize, 3000)
	var cancelledAt time.Time
	pieces := 0
	st, err := r.Generate(ctx, req, func(engine.Piece) {
		pieces++
		if pieces == 5 {
			cancelledAt = time.Now()
			cancel()
		}
	})
	returned := time.Since(cancelledAt)
	if !errors.Is(err, context.Canceled) || st.StopReason != "cancelled" || pieces != 5 {
		t.Fatalf("cancelled generation: err %v, %d pieces (want none after the cancel), stats %+v", err, pieces, st)
	}
	t.Logf("Generate returned %v after the cancel", returned)
	// The runner finished the cancelled request; the next one runs normally.
	text, st2 := generate(t, r, reportRequest(t, info.ImageSize, 4))
	if text == "" || st2.GenTokens == 0 {
		t.Errorf("after cancel: %q %+v", text, st2)
	}
}

func TestQueue(t *testing.T) {
	r := newRunner(t)
	info, err := r.Load(context.Background(), tinySpec(t, "tiny"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	texts := make([]string, 4)
	for i := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts[i], _ = generate(t, r, reportRequest(t, info.ImageSize, 12))
		}()
	}
	wg.Wait()
	for _, s := range texts[1:] {
		if s != texts[0] {
			t.Errorf("queued requests differ: %q vs %q", s, texts[0])
		}
	}
}

func TestRunnerCrash(t *testing.T) {
	r := newRunner(t)
	spec := tinySpec(t, "tiny")
	spec.Context = 4096
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := generate(t, r, reportRequest(t, info.ImageSize, 16))
	pieces := 0
	_, err = r.Generate(context.Background(), reportRequest(t, info.ImageSize, 3000), func(engine.Piece) {
		pieces++
		if pieces == 3 {
			r.Kill()
		}
	})
	if !errors.Is(err, engine.ErrEngineCrashed) {
		t.Fatalf("killed runner: err %v", err)
	}
	// The next request starts a new runner, reloads the model, and gives
	// the same greedy text as before.
	got, _ := generate(t, r, reportRequest(t, info.ImageSize, 16))
	if got != want {
		t.Errorf("after restart: %q, want %q", got, want)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	spec := tinySpec(t, "tiny")
	r := newRunner(t)
	ctx := context.Background()

	notGGUF := filepath.Join(dir, "notes.gguf")
	os.WriteFile(notGGUF, []byte("these are not weights"), 0o644)
	truncated := filepath.Join(dir, "truncated.gguf")
	full, _ := os.ReadFile(spec.Text)
	os.WriteFile(truncated, full[:len(full)/2], 0o644)
	// A projector for a 128-wide language model.
	wide, _ := testmodel.Lookup("tiny")
	wide.Name, wide.Embd = "wide", 128
	widePair, err := testmodel.Generate(dir, wide, quant.F16, 1)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		spec engine.ModelSpec
		want string
	}{
		{"missing file", engine.ModelSpec{Text: filepath.Join(dir, "nope.gguf"), Projector: spec.Projector}, "nope.gguf"},
		{"not GGUF", engine.ModelSpec{Text: notGGUF, Projector: spec.Projector}, "not a GGUF model file"},
		{"truncated", engine.ModelSpec{Text: truncated, Projector: spec.Projector}, "truncated"},
		{"swapped", engine.ModelSpec{Text: spec.Projector, Projector: spec.Text}, "swapped"},
		{"width mismatch", engine.ModelSpec{Text: spec.Text, Projector: widePair.Projector}, "do not belong together"},
		{"context too small", engine.ModelSpec{Text: spec.Text, Projector: spec.Projector, Context: 32}, "context of 32 tokens"},
	}
	for _, c := range cases {
		_, err := r.Load(ctx, c.spec, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}

	info, err := r.Load(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Requests that must fail cleanly, leaving the runner usable.
	bad := []struct {
		name string
		req  engine.Request
		want string
	}{
		{"wrong image size", engine.Request{Image: cxrtest.Image(48), Turns: []engine.Turn{{User: "What is this?"}}}, "48x48"},
		{"empty question", engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: []engine.Turn{{User: "  "}}}, "empty question"},
		{"no image", engine.Request{Turns: []engine.Turn{{User: "Why?"}}}, "no image"},
		{"context overflow", engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: []engine.Turn{{User: "Describe."}}, MaxTokens: 5000}, "does not fit the context"},
	}
	for _, c := range bad {
		_, err := r.Generate(ctx, c.req, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// The runner's errors keep their kind across the protocol.
	_, err = r.Generate(ctx, engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: []engine.Turn{{User: "Describe."}}, MaxTokens: 5000}, nil)
	if !errors.Is(err, engine.ErrContextTooBig) {
		t.Errorf("context overflow: %v is not ErrContextTooBig", err)
	}
	if text, _ := generate(t, r, reportRequest(t, info.ImageSize, 4)); text == "" {
		t.Error("the runner is not usable after bad requests")
	}
}

// TestVisionOracle compares the image embeddings llama.cpp computes from the
// converted tiny projector with a float64 forward pass of the ORIGINAL
// CXR-LLaVA architecture (class token first, erf GELU, ln_post on all
// tokens, class token dropped, one linear projector).
func TestVisionOracle(t *testing.T) {
	r := newRunner(t)
	spec := tinySpec(t, "tiny")
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := cxrtest.Image(info.ImageSize)
	got, err := r.Embed(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := testmodel.Lookup("tiny")
	cxrtest.CheckEmbeddings(t, testmodel.CXRVision(s, 7), img, got)
}

// TestMinContext: the runner refuses a context one token below
// engine.MinContext, naming that minimum, and loads at the minimum.
func TestMinContext(t *testing.T) {
	r := newRunner(t)
	spec := tinySpec(t, "tiny")
	least := engine.MinContext(16) // the tiny projector's image tokens
	spec.Context = least - 1
	_, err := r.Load(context.Background(), spec, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("use at least %d", least)) {
		t.Fatalf("context %d: err %v, want one naming %d", spec.Context, err, least)
	}
	spec.Context = least
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatalf("context %d: %v", least, err)
	}
	if info.ImageTokens != 16 || info.Context != least {
		t.Errorf("model info %+v", info)
	}
}

// TestRunnerStopsOnCancel speaks the protocol to a real runner directly,
// so that what the runner does with a cancel shows (the client returns at
// once whatever the runner does): a 3,000-token generation cancelled after
// a few pieces must end with StopReason "cancelled" far short of 3,000.
func TestRunnerStopsOnCancel(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "runner")
	cmd.Env = engine.RunnerEnv(os.Environ(), libDir(), false)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("runner: %v\n%s", err, stderr.Bytes())
		}
	}()
	enc, dec := json.NewEncoder(in), json.NewDecoder(out)
	send := func(m engine.Message) {
		t.Helper()
		if err := enc.Encode(m); err != nil {
			t.Fatalf("send %s: %v", m.Op, err)
		}
	}
	// result reads replies to id until its result, passing the others to each.
	result := func(id uint64, each func(engine.Message)) engine.Message {
		t.Helper()
		for {
			var m engine.Message
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("read: %v\n%s", err, stderr.Bytes())
			}
			switch {
			case m.ID != id:
				t.Fatalf("reply to request %d while %d runs: %+v", m.ID, id, m)
			case m.Type == engine.TypeError:
				t.Fatalf("request %d: %s", id, m.Error)
			case m.Type == engine.TypeResult:
				return m
			case each != nil:
				each(m)
			}
		}
	}
	send(engine.Message{ID: 1, Op: engine.OpHello})
	result(1, nil)
	spec := tinySpec(t, "tiny")
	spec.Context = 4096
	send(engine.Message{ID: 2, Op: engine.OpLoad, Load: &spec})
	info := result(2, nil).Model
	q, _ := engine.PresetReport.Question("")
	prompt, err := engine.RenderPrompt(info.Template, []engine.Turn{{User: q}})
	if err != nil {
		t.Fatal(err)
	}
	img := cxrtest.Image(info.ImageSize)
	const maxTokens = 3000
	send(engine.Message{ID: 3, Op: engine.OpGenerate, Generate: &engine.GenerateArgs{
		Prompt: prompt, Image: img.Pix, Width: info.ImageSize, Height: info.ImageSize, MaxTokens: maxTokens, IgnoreEOS: true}})
	pieces := 0
	res := result(3, func(m engine.Message) {
		if m.Type == engine.TypePiece {
			if pieces++; pieces == 5 {
				send(engine.Message{ID: 4, Op: engine.OpCancel, Target: 3})
			}
		}
	})
	st := res.Stats
	if st == nil || st.StopReason != "cancelled" {
		t.Fatalf("the runner's final reply: %+v, want stop reason cancelled", st)
	}
	t.Logf("cancelled after %d pieces; the runner stopped at %d tokens", pieces, st.GenTokens)
	if pieces < 5 || st.GenTokens > maxTokens/3 {
		t.Errorf("the runner generated %d of %d tokens after a cancel at piece 5", st.GenTokens, maxTokens)
	}
	// The runner takes the next request.
	send(engine.Message{ID: 5, Op: engine.OpHello})
	result(5, nil)
}
