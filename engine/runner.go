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
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is an Engine whose model runs in a child process, the runner,
// which owns llama.cpp. llama.cpp aborts the whole process on failed
// assertions and GPU errors; here that ends the child only: the call in
// flight returns ErrEngineCrashed with the reason from the runner's log,
// and the next call starts a new runner and reloads the model. Killing the
// child is also the only complete way to free GPU memory, so Unload does
// that.
type Runner struct {
	path    string
	args    []string
	libDir  string
	log     io.Writer
	timeout time.Duration

	turns chan struct{} // holds the one turn while a request has it (see turn)

	mu      sync.Mutex
	proc    *proc
	want    *ModelSpec // the model Load was asked for; nil: none
	run     *ModelSpec // what the runner loads for it: want, or want on the CPU after a GPU failure
	notices []string   // what the client did on the user's behalf, kept across reloads
	info    ModelInfo
	loaded  bool // proc holds run
	closed  bool
	nextID  atomic.Uint64
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
	r := &Runner{path: path, turns: make(chan struct{}, 1), timeout: 60 * time.Second}
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
	t, err := r.acquire(ctx)
	if err != nil {
		return RuntimeInfo{}, err
	}
	defer t.release()
	p, err := r.ensure(ctx, t, false)
	if err != nil {
		return RuntimeInfo{}, err
	}
	return p.runtime, nil
}

// Load implements Engine. A runner holds one model: loading another starts
// a fresh runner so that nothing of the previous model stays in memory.
// Cancelling ctx ends the runner at once: llama.cpp cannot stop loading,
// and a runner with half a model is of no use.
func (r *Runner) Load(ctx context.Context, spec ModelSpec, progress func(float64)) (ModelInfo, error) {
	if err := checkSpec(spec); err != nil {
		return ModelInfo{}, err
	}
	t, err := r.acquire(ctx)
	if err != nil {
		return ModelInfo{}, err
	}
	defer t.release()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ModelInfo{}, ErrClosed
	}
	if r.loaded && r.want != nil && *r.want == spec {
		info := r.info
		r.mu.Unlock()
		return info, nil
	}
	r.want, r.run, r.notices, r.loaded = &spec, &spec, nil, false
	old := r.proc
	r.proc = nil
	r.mu.Unlock()
	if old != nil {
		old.kill()
	}
	info, err := r.load(ctx, t, spec, progress)
	if errors.Is(err, ErrEngineCrashed) && spec.GPULayers != 0 {
		// A GPU backend that aborts while loading (an out-of-memory CUDA
		// error, a driver fault) takes the runner down; CPU still works.
		// Every later reload (after a crash, a stuck cancel) uses the CPU
		// too, and the notice stays with the model.
		cpu := spec
		cpu.GPULayers = 0
		r.mu.Lock()
		r.run = &cpu
		r.notices = []string{fmt.Sprintf("The GPU failed while loading the model (%v); it runs on the CPU instead.", firstLine(err))}
		r.mu.Unlock()
		if info, err2 := r.load(ctx, t, cpu, progress); err2 == nil {
			return info, nil
		}
	}
	return info, err
}

// load loads spec into a live runner; the caller holds t.
func (r *Runner) load(ctx context.Context, t *turn, spec ModelSpec, progress func(float64)) (ModelInfo, error) {
	p, err := r.ensure(ctx, t, false)
	if err != nil {
		return ModelInfo{}, err
	}
	res, err := r.call(ctx, t, p, Message{Op: OpLoad, Load: &spec}, func(m Message) {
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
	info := *res.Model
	r.mu.Lock()
	info.Notices = append(info.Notices, r.notices...)
	r.info, r.loaded = info, true
	r.mu.Unlock()
	return info, nil
}

// Generate implements Engine.
func (r *Runner) Generate(ctx context.Context, req Request, onPiece func(Piece)) (Stats, error) {
	t, err := r.acquire(ctx)
	if err != nil {
		return Stats{StopReason: "cancelled"}, err
	}
	defer t.release()
	p, err := r.ensure(ctx, t, true)
	if err != nil {
		return Stats{}, err
	}
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	args, err := generateArgs(info, req)
	if err != nil {
		return Stats{}, err
	}
	var pieces int
	res, err := r.call(ctx, t, p, Message{Op: OpGenerate, Generate: args}, func(m Message) {
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
	t, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer t.release()
	p, err := r.ensure(ctx, t, true)
	if err != nil {
		return nil, err
	}
	args := &GenerateArgs{Image: grayBytes(img), Width: img.Rect.Dx(), Height: img.Rect.Dy()}
	res, err := r.call(ctx, t, p, Message{Op: OpEmbed, Generate: args}, nil)
	if err != nil {
		return nil, err
	}
	return res.Embeddings, nil
}

// Unload implements Engine: it stops the runner, which frees everything the
// model held, GPU memory included.
func (r *Runner) Unload(ctx context.Context) error {
	t, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	defer t.release()
	r.mu.Lock()
	p := r.proc
	r.proc, r.want, r.run, r.notices, r.loaded = nil, nil, nil, nil, false
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
	return nil
}

// Close implements Engine. It does not wait for the call in flight, which
// returns ErrClosed.
func (r *Runner) Close() error {
	r.mu.Lock()
	p := r.proc
	r.proc, r.closed, r.loaded = nil, true, false
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
	return nil
}

// Kill ends the runner process abruptly, as a crash would, and returns
// when it is gone; the call in flight fails with ErrEngineCrashed and the
// next call starts a new runner. Tests use it; the user interface never
// needs it.
func (r *Runner) Kill() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// turn is the right to talk to the runner. One request holds it at a time
// and exactly one holder gives it back. A request that stops waiting for
// its reply — its context is cancelled, or its callback panics — hands the
// turn on to drain, which gives it back when the runner has finished that
// request, so the next request always finds the runner idle.
type turn struct {
	turns  chan struct{}
	handed bool // given back or handed on: this holder is done with it
}

func (r *Runner) acquire(ctx context.Context) (*turn, error) {
	select {
	case r.turns <- struct{}{}:
		return &turn{turns: r.turns}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release gives the turn back unless it was handed on.
func (t *turn) release() {
	if !t.handed {
		t.handed = true
		<-t.turns
	}
}

// handOff passes the turn to a new holder, who must release it.
func (t *turn) handOff() *turn {
	t.handed = true
	return &turn{turns: t.turns}
}

// ensure returns a live runner, starting one if needed; with needModel it
// also reloads the current model into a runner that lost it. The caller
// holds t.
func (r *Runner) ensure(ctx context.Context, t *turn, needModel bool) (*proc, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if needModel && r.run == nil {
		// Not even a runner is needed to say so (its hello may create a
		// GPU context).
		r.mu.Unlock()
		return nil, ErrNoModel
	}
	p := r.proc
	if p != nil && p.dead() {
		p, r.proc, r.loaded = nil, nil, false
	}
	spec, loaded := r.run, r.loaded
	r.mu.Unlock()
	if p == nil {
		var err error
		if p, err = r.start(ctx, t); err != nil {
			return nil, err
		}
		r.mu.Lock()
		closed := r.closed
		if !closed {
			r.proc = p
		}
		r.mu.Unlock()
		if closed {
			p.kill()
			return nil, ErrClosed
		}
	}
	if needModel && !loaded {
		if _, err := r.load(ctx, t, *spec, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// call sends m and waits for its result, passing other replies to onEvent.
// The caller holds t. If call stops waiting before the runner has answered
// (ctx is cancelled, or onEvent panics), it asks the runner to stop and
// hands t on to drain, or, for a load or hello, ends the runner: either way
// the turn comes back only when the runner is idle or gone.
func (r *Runner) call(ctx context.Context, t *turn, p *proc, m Message, onEvent func(Message)) (Message, error) {
	m.ID = r.nextID.Add(1)
	ch := p.subscribe(m.ID)
	if err := p.send(m); err != nil {
		p.unsubscribe(m.ID)
		return Message{}, r.crashed(p, err)
	}
	answered := false
	defer func() {
		if !answered {
			r.abandon(t, p, m, ch)
		}
	}()
	for {
		select {
		case reply := <-ch:
			switch reply.Type {
			case TypeResult:
				answered = true
				p.unsubscribe(m.ID)
				return reply, nil
			case TypeError:
				answered = true
				p.unsubscribe(m.ID)
				return reply, reply.Err()
			default:
				if ctx.Err() != nil {
					return Message{}, ctx.Err() // no events after a cancel
				}
				if onEvent != nil {
					onEvent(reply)
				}
			}
		case <-p.exited:
			answered = true
			p.unsubscribe(m.ID)
			return Message{}, r.crashed(p, nil)
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// abandon deals with a request whose caller no longer waits for it.
func (r *Runner) abandon(t *turn, p *proc, m Message, ch <-chan Message) {
	if m.Op == OpLoad || m.Op == OpHello {
		// llama.cpp cannot stop loading, and a runner that holds part of a
		// model (or has not said hello) is of no use: end it now rather
		// than let the next request wait for it.
		p.unsubscribe(m.ID)
		r.discard(p)
		return
	}
	p.send(Message{ID: r.nextID.Add(1), Op: OpCancel, Target: m.ID})
	go r.drain(t.handOff(), p, m.ID, ch)
}

// drain waits for the end of a cancelled request, then gives the turn back.
func (r *Runner) drain(t *turn, p *proc, id uint64, ch <-chan Message) {
	defer t.release()
	defer p.unsubscribe(id)
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
			r.discard(p)
			return
		}
	}
}

// discard ends p and forgets it if it is the current runner.
func (r *Runner) discard(p *proc) {
	p.kill()
	r.mu.Lock()
	if r.proc == p {
		r.proc, r.loaded = nil, false
	}
	r.mu.Unlock()
}

// crashed ends p after it failed and returns the error for the call in
// flight: ErrClosed when Close ended it, else ErrEngineCrashed with the
// reason from its log.
func (r *Runner) crashed(p *proc, err error) error {
	r.discard(p)
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	msg := p.lastLog()
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg == "" {
		msg = p.exitStatus()
	}
	return fmt.Errorf("%w: %s", ErrEngineCrashed, msg)
}

// start launches a runner and waits for its hello; the caller holds t.
func (r *Runner) start(ctx context.Context, t *turn) (*proc, error) {
	if _, err := os.Stat(r.path); err != nil {
		return nil, fmt.Errorf("the inference engine %s is missing (build it with make build): %w", r.path, err)
	}
	cmd := exec.Command(r.path, append(append([]string{}, r.args...), "runner")...)
	cmd.Env = RunnerEnv(os.Environ(), r.libDir, r.log != nil)
	setProcAttr(cmd)
	p := &proc{cmd: cmd, subs: map[uint64]chan Message{}, exited: make(chan struct{}), done: make(chan struct{})}
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
	res, err := r.call(hctx, t, p, Message{Op: OpHello}, nil)
	if err != nil {
		p.kill()
		if hctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("the inference engine %s did not answer within %v", r.path, r.timeout)
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil, err
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
	exited  chan struct{} // closed by readLoop once the process has been waited for
	done    chan struct{} // closed by kill: nobody reads replies any more
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
read:
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
		// runner's pipe buffers the rest. A killed runner's replies have
		// no reader left.
		select {
		case ch <- m:
		case <-p.done:
			break read
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

// kill ends the process and waits (a few seconds at most) until it has been
// waited for.
func (p *proc) kill() {
	p.once.Do(func() {
		close(p.done)
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

// Lines of the runner's log that say why it failed: ggml's and CUDA's
// messages, C++ exceptions, llama.cpp's error lines.
var (
	notableLine = regexp.MustCompile(`GGML_ASSERT|CUDA error|what\(\)|terminate called|(?i:error|failed|out of memory)`)
	// Go's own report of the signal (with GOTRACEBACK=none only its first lines).
	goDumpLine = regexp.MustCompile(`^(SIGABRT|SIGSEGV|SIGBUS|SIGILL|SIGFPE|SIGTRAP|PC=|signal arrived during|goroutine \d+|created by|[a-z0-9]{2,6}\s+0x[0-9a-f]+$|\S+\(.*\)$|\t)`)
)

// lastLog says why the runner stopped, from the end of its log: the native
// abort's own message when there is one, then the lines before it that name
// an error; else the last lines that do not come from Go's crash report.
func (p *proc) lastLog() string {
	var lines []string
	for _, l := range strings.Split(p.tail.String(), "\n") {
		if l = strings.TrimRight(l, " \r"); strings.TrimSpace(l) != "" && !goDumpLine.MatchString(l) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	var keep []string
	abort := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(lines[i], NativeAbortMarker); ok {
			abort = i
			keep = append(keep, "llama.cpp aborted: "+shortenPath(msg))
			break
		}
	}
	end := len(lines)
	if abort >= 0 {
		end = abort
	}
	var notable []string
	for i := end - 1; i >= 0 && len(notable) < 2; i-- {
		if notableLine.MatchString(lines[i]) {
			notable = append([]string{lines[i]}, notable...)
		}
	}
	keep = append(keep, notable...)
	if len(keep) == 0 {
		keep = lines[max(0, len(lines)-3):]
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

// shortenPath drops the folders of the source file ggml names at the start
// of its abort message ("/long/path/ggml.c:1234: GGML_ASSERT(...)").
func shortenPath(msg string) string {
	file, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(file, " \t") {
		return msg
	}
	return filepath.Base(filepath.FromSlash(file)) + ": " + rest
}

// tailBuffer keeps the last 64 KiB written to it: enough for the reason
// of a crash and Go's report of it (a C++ exception still ends with one).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 64<<10 {
		t.buf = t.buf[len(t.buf)-64<<10:]
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

// RunnerEnv returns the environment for a runner (and the engine's other
// commands): the backend folders on the loader's path, because the backend
// libraries load reliably only when their own dependencies (libggml-base,
// the CUDA runtime) resolve through it; NVIDIA_TF32_OVERRIDE=0 so that
// CUDA's float32 matrix products stay float32, which CXR-LLaVA's projector
// relies on (see the model notes). Unless verbose, an uncaught C++
// exception prints no gdb backtrace (GGML_NO_BACKTRACE) and a Go panic no
// goroutine dump (GOTRACEBACK=none), so that the reason stays at the end of
// the log the client reads; values the caller's environment sets are kept. Verbose sets CXRVIEW_VERBOSE,
// which turns llama.cpp's whole log on.
func RunnerEnv(base []string, libDir string, verbose bool) []string {
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
	env = append(env, "NVIDIA_TF32_OVERRIDE=0")
	if verbose {
		return append(env, "CXRVIEW_VERBOSE=1")
	}
	for _, kv := range []string{"GGML_NO_BACKTRACE=1", "GOTRACEBACK=none"} {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
			env = append(env, kv)
		}
	}
	return env
}
