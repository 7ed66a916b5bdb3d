package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is an Engine whose model runs in a child process, the runner,
// which owns llama.cpp. llama.cpp aborts the whole process on failed
// assertions and GPU errors; here that ends the child only: the call in
// flight returns ErrEngineCrashed with the end of the runner's log, and the
// next call starts a new runner and reloads the model. Killing the child is
// also the only complete way to free GPU memory, so Unload does that.
type Runner struct {
	path    string
	args    []string
	libDir  string
	log     io.Writer
	timeout time.Duration

	turn chan struct{} // held by the one request that talks to the runner

	mu      sync.Mutex
	proc    *proc
	spec    *ModelSpec // the model to (re)load
	info    ModelInfo
	loaded  bool
	closed  bool
	nextID  atomic.Uint64
	lastRun RuntimeInfo
}

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithArgs sets the arguments that come before "runner" on the child's
// command line (tests run their own binary as the runner).
func WithArgs(args ...string) RunnerOption { return func(r *Runner) { r.args = args } }

// WithLibDir sets the folder holding ggml's backend libraries (lib/ollama).
func WithLibDir(dir string) RunnerOption { return func(r *Runner) { r.libDir = dir } }

// WithLog copies the runner's own log (llama.cpp's messages) to w.
func WithLog(w io.Writer) RunnerOption { return func(r *Runner) { r.log = w } }

// NewRunner returns an Engine that runs path (the cxrview-engine binary) as
// its runner. Nothing starts until the first call.
func NewRunner(path string, opts ...RunnerOption) *Runner {
	r := &Runner{path: path, turn: make(chan struct{}, 1), timeout: 60 * time.Second}
	for _, o := range opts {
		o(r)
	}
	if r.libDir == "" {
		r.libDir = DefaultLibDir(path)
	}
	return r
}

// Runtime starts the runner if needed and returns what it reports about
// itself: versions, the CPU variant and devices that loaded.
func (r *Runner) Runtime(ctx context.Context) (RuntimeInfo, error) {
	if err := r.acquire(ctx); err != nil {
		return RuntimeInfo{}, err
	}
	defer r.release()
	p, err := r.ensure(ctx, false)
	if err != nil {
		return RuntimeInfo{}, err
	}
	return p.runtime, nil
}

// Load implements Engine. A runner holds one model: loading another starts
// a fresh runner so that nothing of the previous model stays in memory.
func (r *Runner) Load(ctx context.Context, spec ModelSpec, progress func(float64)) (ModelInfo, error) {
	if err := checkSpec(spec); err != nil {
		return ModelInfo{}, err
	}
	if err := r.acquire(ctx); err != nil {
		return ModelInfo{}, err
	}
	defer r.release()
	r.mu.Lock()
	if r.loaded && r.spec != nil && *r.spec == spec {
		info := r.info
		r.mu.Unlock()
		return info, nil
	}
	r.spec = &spec
	r.loaded = false
	old := r.proc
	r.proc = nil
	r.mu.Unlock()
	if old != nil {
		old.kill()
	}
	info, err := r.load(ctx, spec, progress)
	if errors.Is(err, ErrEngineCrashed) && spec.GPULayers != 0 {
		// A GPU backend that aborts while loading (an out-of-memory CUDA
		// error, a driver fault) takes the runner down; CPU still works.
		cpu := spec
		cpu.GPULayers = 0
		info, err2 := r.load(ctx, cpu, progress)
		if err2 == nil {
			info.Notices = append(info.Notices, fmt.Sprintf("The GPU failed while loading the model (%v); it runs on the CPU instead.", firstLine(err)))
			return info, nil
		}
	}
	return info, err
}

func (r *Runner) load(ctx context.Context, spec ModelSpec, progress func(float64)) (ModelInfo, error) {
	p, err := r.ensure(ctx, false)
	if err != nil {
		return ModelInfo{}, err
	}
	res, err := r.call(ctx, p, Message{Op: OpLoad, Load: &spec}, func(m Message) {
		if m.Type == TypeProgress && progress != nil {
			progress(m.Progress)
		}
	})
	if err != nil {
		return ModelInfo{}, fmt.Errorf("load %s: %w", modelName(spec), err)
	}
	if res.Model == nil {
		return ModelInfo{}, fmt.Errorf("load %s: the runner sent no model description", modelName(spec))
	}
	r.mu.Lock()
	r.info, r.loaded = *res.Model, true
	r.mu.Unlock()
	return *res.Model, nil
}

// Generate implements Engine.
func (r *Runner) Generate(ctx context.Context, req Request, onPiece func(Piece)) (Stats, error) {
	if err := r.acquire(ctx); err != nil {
		return Stats{StopReason: "cancelled"}, err
	}
	p, err := r.ensure(ctx, true)
	if err != nil {
		r.release()
		return Stats{}, err
	}
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	args, err := generateArgs(info, req)
	if err != nil {
		r.release()
		return Stats{}, err
	}
	var pieces int
	res, err := r.callAsync(ctx, p, Message{Op: OpGenerate, Generate: args}, func(m Message) {
		if m.Type == TypePiece && m.Piece != nil && onPiece != nil {
			pieces++
			onPiece(*m.Piece)
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return Stats{StopReason: "cancelled", GenTokens: pieces}, ctx.Err()
		}
		return Stats{}, err
	}
	if res.Stats == nil {
		return Stats{}, errors.New("the runner sent no statistics")
	}
	return *res.Stats, nil
}

// Embed encodes a prepared image with the loaded projector and returns one
// embedding per image token, exactly as they would enter the language model.
func (r *Runner) Embed(ctx context.Context, img *image.Gray) ([][]float32, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.release()
	p, err := r.ensure(ctx, true)
	if err != nil {
		return nil, err
	}
	args := &GenerateArgs{Image: grayBytes(img), Width: img.Rect.Dx(), Height: img.Rect.Dy()}
	res, err := r.call(ctx, p, Message{Op: OpEmbed, Generate: args}, nil)
	if err != nil {
		return nil, err
	}
	return res.Embeddings, nil
}

// Unload implements Engine: it stops the runner, which frees everything the
// model held, GPU memory included.
func (r *Runner) Unload(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	r.mu.Lock()
	p := r.proc
	r.proc, r.spec, r.loaded = nil, nil, false
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
	return nil
}

// Close implements Engine.
func (r *Runner) Close() error {
	r.mu.Lock()
	p := r.proc
	r.proc, r.closed = nil, true
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
	return nil
}

// Kill ends the runner process abruptly, as a crash would; the next call
// starts a new one. Tests use it; the user interface never needs it.
func (r *Runner) Kill() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
}

func (r *Runner) acquire(ctx context.Context) error {
	select {
	case r.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) release() { <-r.turn }

// ensure returns a live runner, starting one if needed; with needModel it
// also reloads the current model into a runner that lost it.
func (r *Runner) ensure(ctx context.Context, needModel bool) (*proc, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("the engine is closed")
	}
	p := r.proc
	if p != nil && p.dead() {
		p, r.proc, r.loaded = nil, nil, false
	}
	spec, loaded := r.spec, r.loaded
	r.mu.Unlock()
	if p == nil {
		var err error
		p, err = r.start(ctx)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.proc, r.lastRun = p, p.runtime
		r.mu.Unlock()
	}
	if needModel && !loaded {
		if spec == nil {
			return nil, ErrNoModel
		}
		if _, err := r.load(ctx, *spec, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// call sends m and waits for its result, passing other replies to onEvent.
func (r *Runner) call(ctx context.Context, p *proc, m Message, onEvent func(Message)) (Message, error) {
	res, err := r.callAsync(ctx, p, m, onEvent)
	return res, err
}

// callAsync is call for a request that holds the turn: on cancellation it
// returns at once, asks the runner to stop, and gives the turn back only
// when the runner has finished the request (or has been killed), so that
// the next request starts on an idle runner.
func (r *Runner) callAsync(ctx context.Context, p *proc, m Message, onEvent func(Message)) (Message, error) {
	m.ID = r.nextID.Add(1)
	ch := p.subscribe(m.ID)
	if err := p.send(m); err != nil {
		p.unsubscribe(m.ID)
		return Message{}, r.crashed(p, err)
	}
	for {
		select {
		case reply := <-ch:
			switch reply.Type {
			case TypeResult:
				p.unsubscribe(m.ID)
				if m.Op == OpGenerate {
					r.release()
				}
				return reply, nil
			case TypeError:
				p.unsubscribe(m.ID)
				if m.Op == OpGenerate {
					r.release()
				}
				return reply, errors.New(reply.Error)
			default:
				if onEvent != nil {
					onEvent(reply)
				}
			}
		case <-p.exited:
			p.unsubscribe(m.ID)
			if m.Op == OpGenerate {
				r.release()
			}
			return Message{}, r.crashed(p, nil)
		case <-ctx.Done():
			p.send(Message{ID: r.nextID.Add(1), Op: OpCancel, Target: m.ID})
			go r.drain(p, m, ch)
			return Message{}, ctx.Err()
		}
	}
}

// drain waits for the end of a cancelled request.
func (r *Runner) drain(p *proc, m Message, ch <-chan Message) {
	defer p.unsubscribe(m.ID)
	if m.Op == OpGenerate {
		defer r.release()
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case reply := <-ch:
			if reply.Type == TypeResult || reply.Type == TypeError {
				return
			}
		case <-p.exited:
			return
		case <-timer.C:
			// Image encoding cannot be interrupted inside llama.cpp; a
			// runner that does not stop is replaced.
			p.kill()
			return
		}
	}
}

func (r *Runner) crashed(p *proc, err error) error {
	p.kill()
	r.mu.Lock()
	if r.proc == p {
		r.proc, r.loaded = nil, false
	}
	r.mu.Unlock()
	msg := p.lastLog()
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg == "" {
		msg = p.exitStatus()
	}
	return fmt.Errorf("%w: %s", ErrEngineCrashed, msg)
}

// start launches a runner and waits for its hello.
func (r *Runner) start(ctx context.Context) (*proc, error) {
	if _, err := os.Stat(r.path); err != nil {
		return nil, fmt.Errorf("the inference engine %s is missing (build it with make build): %w", r.path, err)
	}
	cmd := exec.Command(r.path, append(append([]string{}, r.args...), "runner")...)
	cmd.Env = RunnerEnv(os.Environ(), r.libDir)
	if r.log != nil {
		cmd.Env = append(cmd.Env, "CXRVIEW_VERBOSE=1") // llama.cpp's own log, for --verbose
	}
	setProcAttr(cmd)
	p := &proc{cmd: cmd, subs: map[uint64]chan Message{}, exited: make(chan struct{})}
	var stderr io.Writer = &p.tail
	if r.log != nil {
		stderr = io.MultiWriter(&p.tail, r.log)
	}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.in = in
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the inference engine %s: %w", r.path, err)
	}
	go p.readLoop(out)
	hctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.call(hctx, p, Message{Op: OpHello}, nil)
	if err != nil {
		p.kill()
		if hctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("the inference engine %s did not answer within %v", r.path, r.timeout)
		}
		return nil, fmt.Errorf("start the inference engine: %w", err)
	}
	if res.Runtime == nil || res.Runtime.Protocol != ProtocolVersion {
		p.kill()
		return nil, fmt.Errorf("the inference engine %s speaks another protocol version; rebuild it with make build", r.path)
	}
	p.runtime = *res.Runtime
	return p, nil
}

// proc is one runner process.
type proc struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	wmu     sync.Mutex
	mu      sync.Mutex
	subs    map[uint64]chan Message
	exited  chan struct{}
	waitErr error
	tail    tailBuffer
	runtime RuntimeInfo
	once    sync.Once
}

func (p *proc) subscribe(id uint64) chan Message {
	ch := make(chan Message, 256)
	p.mu.Lock()
	p.subs[id] = ch
	p.mu.Unlock()
	return ch
}

func (p *proc) unsubscribe(id uint64) {
	p.mu.Lock()
	delete(p.subs, id)
	p.mu.Unlock()
}

func (p *proc) send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.in.Write(append(b, '\n'))
	return err
}

func (p *proc) readLoop(out io.Reader) {
	dec := json.NewDecoder(out)
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if err != io.EOF {
				// Not the protocol: the runner is no longer trustworthy.
				fmt.Fprintf(&p.tail, "\nprotocol error: %v\n", err)
				p.cmd.Process.Kill()
			}
			break
		}
		p.mu.Lock()
		ch := p.subs[m.ID]
		p.mu.Unlock()
		if ch == nil {
			continue
		}
		// Pieces may outpace a slow consumer: block rather than drop, the
		// runner's pipe buffers the rest.
		select {
		case ch <- m:
		case <-p.exited:
			return
		}
	}
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

func (p *proc) dead() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *proc) kill() {
	p.once.Do(func() {
		p.in.Close()
		if p.cmd.Process != nil {
			p.cmd.Process.Kill()
		}
	})
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

func (p *proc) exitStatus() string {
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return p.waitErr.Error()
		}
		return "the runner exited"
	default:
		return "the runner stopped answering"
	}
}

// lastLog returns the last meaningful lines the runner wrote to stderr
// (llama.cpp's GGML_ASSERT or CUDA error lines end up there).
func (p *proc) lastLog() string {
	lines := strings.Split(strings.TrimSpace(p.tail.String()), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < 3; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		keep = append([]string{l}, keep...)
	}
	s := strings.Join(keep, " | ")
	if st := p.exitStatus(); st != "" && !strings.Contains(s, st) {
		if s != "" {
			s += " "
		}
		s += "(" + st + ")"
	}
	return s
}

// tailBuffer keeps the last 16 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.buf, nil))
}

func generateArgs(info ModelInfo, req Request) (*GenerateArgs, error) {
	if req.Image == nil {
		return nil, errors.New("no image")
	}
	prompt, err := RenderPrompt(info.Template, req.Turns)
	if err != nil {
		return nil, err
	}
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	return &GenerateArgs{
		Prompt:     prompt,
		Image:      grayBytes(req.Image),
		Width:      req.Image.Rect.Dx(),
		Height:     req.Image.Rect.Dy(),
		Sampling:   req.Sampling,
		MaxTokens:  maxTokens,
		WantTokens: true,
		IgnoreEOS:  req.IgnoreEOS,
	}, nil
}

// grayBytes returns the pixels of g as one tight row-major slice.
func grayBytes(g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if g.Stride == w {
		return g.Pix[:w*h]
	}
	out := make([]byte, 0, w*h)
	for y := 0; y < h; y++ {
		off := y * g.Stride
		out = append(out, g.Pix[off:off+w]...)
	}
	return out
}

func checkSpec(spec ModelSpec) error {
	for _, f := range []struct{ what, path string }{{"language model", spec.Text}, {"projector", spec.Projector}} {
		if f.path == "" {
			return fmt.Errorf("no %s file given", f.what)
		}
		st, err := os.Stat(f.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", f.what, f.path, err)
		}
		if st.IsDir() {
			return fmt.Errorf("%s %s is a folder, not a GGUF file", f.what, f.path)
		}
	}
	if spec.Context < 0 || spec.Threads < 0 || spec.GPULayers < GPULayersAuto {
		return fmt.Errorf("invalid settings: context %d, threads %d, GPU layers %d", spec.Context, spec.Threads, spec.GPULayers)
	}
	return nil
}

func modelName(spec ModelSpec) string {
	if spec.Name != "" {
		return spec.Name
	}
	return filepath.Base(spec.Text)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// DefaultLibDir is where ggml's backend libraries sit relative to the engine
// binary: lib/ollama beside bin/ on Linux, lib\ollama beside the .exe on
// Windows, the binary's own folder on macOS (Metal is compiled in there).
// CXRVIEW_LIBDIR overrides it.
func DefaultLibDir(enginePath string) string {
	if d := os.Getenv("CXRVIEW_LIBDIR"); d != "" {
		return d
	}
	dir := filepath.Dir(enginePath)
	switch runtime.GOOS {
	case "windows":
		return filepath.Join(dir, "lib", "ollama")
	case "darwin":
		return dir
	}
	return filepath.Join(dir, "..", "lib", "ollama")
}

// RunnerEnv returns the environment for a runner: the backend folders on
// the loader's path, because the backend libraries load reliably only when
// their own dependencies (libggml-base, the CUDA runtime) resolve through
// it; and NVIDIA_TF32_OVERRIDE=0 so that CUDA's float32 matrix products stay
// float32, which CXR-LLaVA's projector relies on (see the model notes).
func RunnerEnv(base []string, libDir string) []string {
	var dirs []string
	if abs, err := filepath.Abs(libDir); err == nil {
		if st, err := os.Stat(abs); err == nil && st.IsDir() {
			dirs = append(dirs, abs)
			entries, _ := os.ReadDir(abs)
			for _, e := range entries {
				n := e.Name()
				if e.IsDir() && (strings.HasPrefix(n, "cuda_") || n == "rocm" || n == "vulkan") {
					dirs = append(dirs, filepath.Join(abs, n))
				}
			}
		}
	}
	pathVar := "LD_LIBRARY_PATH"
	switch runtime.GOOS {
	case "windows":
		pathVar = "PATH"
	case "darwin":
		pathVar = "DYLD_LIBRARY_PATH"
	}
	env := make([]string, 0, len(base)+3)
	old := ""
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.EqualFold(k, pathVar):
			old = v
		case k == "OLLAMA_LIBRARY_PATH", k == "NVIDIA_TF32_OVERRIDE":
		default:
			env = append(env, kv)
		}
	}
	list := strings.Join(dirs, string(os.PathListSeparator))
	if len(dirs) > 0 {
		env = append(env, "OLLAMA_LIBRARY_PATH="+list)
		if old != "" {
			list += string(os.PathListSeparator) + old
		}
		env = append(env, pathVar+"="+list)
	} else if old != "" {
		env = append(env, pathVar+"="+old)
	}
	return append(env, "NVIDIA_TF32_OVERRIDE=0")
}
