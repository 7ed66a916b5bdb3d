package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/engine"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/gguf"
)

// withTimeout is a context that ends the test's wait for a call that would
// otherwise hang.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestSendFailureReleasesTurn: a request that cannot even be sent (the
// runner no longer reads) fails as a crash, and the next call gets its turn.
func TestSendFailureReleasesTurn(t *testing.T) {
	r := newRunner(t, "-close-stdin-at-load")
	info, err := r.Load(withTimeout(t, 20*time.Second), tinySpec(t, "tiny"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Generate(withTimeout(t, 20*time.Second), reportRequest(t, info.ImageSize, 4), nil)
	if !errors.Is(err, engine.ErrEngineCrashed) {
		t.Fatalf("generate on a runner that does not read: %v, want ErrEngineCrashed", err)
	}
	if _, err := r.Runtime(withTimeout(t, 20*time.Second)); err != nil {
		t.Fatalf("the call after a failed send did not get its turn: %v", err)
	}
}

// TestPanicInCallback: a callback that panics (the viewer recovers such
// panics) must leave the runner usable: the runner is told to stop, and
// the turn comes back when it has.
func TestPanicInCallback(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	r := newRunner(t, "-starts", starts)
	spec := tinySpec(t, "tiny")
	spec.Context = 4096
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := generate(t, r, reportRequest(t, info.ImageSize, 8))
	req := reportRequest(t, info.ImageSize, 3000)
	req.IgnoreEOS = true
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the callback's panic", p)
			}
		}()
		pieces := 0
		r.Generate(context.Background(), req, func(engine.Piece) {
			if pieces++; pieces == 3 {
				panic("boom")
			}
		})
		t.Fatal("the panic did not reach the caller")
	}()
	var got string
	_, err = r.Generate(withTimeout(t, 8*time.Second), reportRequest(t, info.ImageSize, 8), func(p engine.Piece) { got += p.Text })
	if err != nil {
		t.Fatalf("the call after a panicking callback: %v", err)
	}
	if got != want {
		t.Errorf("after the panic: %q, want %q", got, want)
	}
	if n := len(startedPIDs(t, starts)); n != 1 {
		t.Errorf("%d runners started, want 1 (the runner was killed instead of cancelled)", n)
	}
}

// TestCancelledLoad: cancelling a load ends that runner at once, so that
// a later request neither waits for the load nor is killed with it.
func TestCancelledLoad(t *testing.T) {
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow")
	if err := os.WriteFile(slow, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(dir, "starts")
	r := newRunner(t, "-slow-load-once", slow, "-starts", starts)
	spec := tinySpec(t, "tiny")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := r.Load(ctx, spec, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	pids := startedPIDs(t, starts)
	if len(pids) != 1 {
		t.Fatalf("%d runners started, want 1", len(pids))
	}
	if err := syscall.Kill(pids[0], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the runner of the cancelled load is still there (kill -0: %v)", err)
	}
	begin := time.Now()
	text, st := generate(t, r, reportRequest(t, 64, 4))
	if text == "" || st.GenTokens == 0 {
		t.Errorf("generate after a cancelled load: %q %+v", text, st)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("generate after a cancelled load took %v", d)
	}
}

// TestCloseDuringCall: Close while a generation runs ends it with
// ErrClosed, not as a crash.
func TestCloseDuringCall(t *testing.T) {
	r := newRunner(t)
	spec := tinySpec(t, "tiny")
	spec.Context = 4096
	info, err := r.Load(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := reportRequest(t, info.ImageSize, 3000)
	req.IgnoreEOS = true
	pieces := 0
	_, err = r.Generate(withTimeout(t, 20*time.Second), req, func(engine.Piece) {
		if pieces++; pieces == 3 {
			r.Close()
		}
	})
	if !errors.Is(err, engine.ErrClosed) || errors.Is(err, engine.ErrEngineCrashed) {
		t.Fatalf("closed during a generation: %v, want ErrClosed", err)
	}
	if _, err := r.Generate(context.Background(), req, nil); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("generate after Close: %v", err)
	}
}

// TestCloseWhileStarting: a runner that answers its hello after Close is
// ended, not kept.
func TestCloseWhileStarting(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	r := newRunner(t, "-slow-hello", "1s", "-starts", starts)
	done := make(chan error, 1)
	go func() {
		_, err := r.Runtime(withTimeout(t, 20*time.Second))
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); len(startedPIDs(t, starts)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the runner did not start")
		}
	}
	r.Close()
	if err := <-done; !errors.Is(err, engine.ErrClosed) {
		t.Errorf("runtime across Close: %v, want ErrClosed", err)
	}
	if err := syscall.Kill(startedPIDs(t, starts)[0], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the runner started across Close is still there (kill -0: %v)", err)
	}
}

// TestNoModelStartsNothing: without a model, Generate and Embed say so
// without starting a runner (whose hello may create a GPU context).
func TestNoModelStartsNothing(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	r := newRunner(t, "-starts", starts)
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		if _, err := r.Generate(ctx, reportRequest(t, 64, 4), nil); !errors.Is(err, engine.ErrNoModel) {
			t.Errorf("generate %s: %v, want ErrNoModel", when, err)
		}
		if _, err := r.Embed(ctx, cxrtest.Image(64)); !errors.Is(err, engine.ErrNoModel) {
			t.Errorf("embed %s: %v, want ErrNoModel", when, err)
		}
	}
	check("before any load")
	if n := len(startedPIDs(t, starts)); n != 0 {
		t.Errorf("%d runners started without a model", n)
	}
	if _, err := r.Load(ctx, tinySpec(t, "tiny"), nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Unload(ctx); err != nil {
		t.Fatal(err)
	}
	check("after unload")
	if n := len(startedPIDs(t, starts)); n != 1 {
		t.Errorf("%d runners started, want 1 (for the load)", n)
	}
}

// TestGPUFallbackRemembered: when the GPU backend aborts while loading,
// the model runs on the CPU, says so, and stays on the CPU when the runner
// is restarted later (the test runner aborts on every GPU load, as a broken
// GPU does).
func TestGPUFallbackRemembered(t *testing.T) {
	r := newRunner(t, "-abort-gpu-loads")
	spec := tinySpec(t, "tiny")
	spec.GPULayers = 3
	ctx := context.Background()
	info, err := r.Load(ctx, spec, nil)
	if err != nil {
		t.Fatalf("load with a failing GPU: %v", err)
	}
	notice := strings.Join(info.Notices, "\n")
	if info.GPULayers != 0 || !strings.Contains(notice, "runs on the CPU instead") || !strings.Contains(notice, "CUDA error: out of memory") {
		t.Fatalf("GPU layers %d, notices %q", info.GPULayers, info.Notices)
	}
	want, _ := generate(t, r, reportRequest(t, info.ImageSize, 6))
	r.Kill() // a crash; the next request reloads
	if got, _ := generate(t, r, reportRequest(t, info.ImageSize, 6)); got != want {
		t.Errorf("after the restart: %q, want %q", got, want)
	}
	again, err := r.Load(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(again.Notices, "\n"), "runs on the CPU instead") {
		t.Errorf("the reloaded model lost its notice: %q", again.Notices)
	}
}

// reshaped copies the GGUF file src into dir with tensor name given another
// shape of the same size: the file stays valid and passes engine.Inspect,
// but the model is no longer what llama.cpp expects.
func reshaped(t *testing.T, dir, src, name string, shape ...uint64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	old, ok := f.Tensor(name)
	if !ok || len(old.Shape) != len(shape) {
		t.Fatalf("%s has no %d-dimensional tensor %s", src, len(shape), name)
	}
	entry := binary.LittleEndian.AppendUint64(nil, uint64(len(name)))
	entry = append(entry, name...)
	entry = binary.LittleEndian.AppendUint32(entry, uint32(len(shape)))
	at := bytes.Index(b[f.TableStart:f.TableEnd], entry)
	if at < 0 {
		t.Fatalf("tensor %s is not in the tensor table", name)
	}
	dims := int(f.TableStart) + at + len(entry)
	for i, d := range shape {
		binary.LittleEndian.PutUint64(b[dims+8*i:], d)
	}
	out := filepath.Join(dir, "reshaped-"+filepath.Base(src))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if nt, _ := g.Tensor(name); nt.Bytes != old.Bytes {
		t.Fatalf("%s: %d bytes after reshaping, was %d", name, nt.Bytes, old.Bytes)
	}
	return out
}

// TestNativeAbort provokes a real native abort in the runner: a projector
// whose vision feed-forward matrix has its dimensions swapped loads (and
// passes engine.Inspect), but building the encoder's graph fails ggml's
// GGML_ASSERT. The error names the assertion, not Go's crash report, and
// the next request runs on a new runner.
func TestNativeAbort(t *testing.T) {
	spec := tinySpec(t, "tiny")
	broken := spec
	broken.Projector = reshaped(t, t.TempDir(), spec.Projector, "v.blk.0.ffn_down.weight", 32, 64)
	if _, err := engine.Inspect(broken.Text, broken.Projector); err != nil {
		t.Fatalf("the broken projector no longer passes Inspect (%v): the test needs another way to make ggml abort", err)
	}
	r := newRunner(t)
	info, err := r.Load(context.Background(), broken, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Embed(context.Background(), cxrtest.Image(info.ImageSize))
	if !errors.Is(err, engine.ErrEngineCrashed) {
		t.Fatalf("encoding with the broken projector: %v, want ErrEngineCrashed", err)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	for _, want := range []string{"llama.cpp aborted: ggml.c:", "GGML_ASSERT(ggml_can_mul_mat(a, b)) failed", "(signal: aborted)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q", want)
		}
	}
	for _, noise := range []string{"SIGABRT", "goroutine", "PC=", "rip ", "cgo execution"} {
		if strings.Contains(msg, noise) {
			t.Errorf("the error shows Go's crash report (%q)", noise)
		}
	}
	if _, err := r.Load(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	if text, _ := generate(t, r, reportRequest(t, info.ImageSize, 4)); text == "" {
		t.Error("no text from a good model after the abort")
	}
}

// TestLoadErrorReason: when llama.cpp refuses a model, the error says why
// in llama.cpp's words, not only that it failed.
func TestLoadErrorReason(t *testing.T) {
	spec := tinySpec(t, "tiny")
	spec.Text = reshaped(t, t.TempDir(), spec.Text, "blk.1.ffn_down.weight", 64, 128)
	r := newRunner(t)
	_, err := r.Load(context.Background(), spec, nil)
	if err == nil {
		t.Fatal("a model with a misshapen tensor loaded")
	}
	t.Logf("%v", err)
	for _, want := range []string{"could not load", "blk.1.ffn_down.weight", "wrong shape"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q", want)
		}
	}
}
