package llm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"cxrview/engine"

	"github.com/ollama/ollama/llama"
)

// Serve answers the runner protocol: requests from in, replies to out. It
// returns when in closes. Requests run one at a time in arrival order;
// a cancel request is acted on at once.
func Serve(in io.Reader, out io.Writer) error {
	llama.BackendInit()
	installNativeHooks()
	s := &server{out: json.NewEncoder(out), queue: make(chan engine.Message, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range s.queue {
			s.handle(m)
		}
	}()
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<20))
	for {
		var m engine.Message
		if err := dec.Decode(&m); err != nil {
			close(s.queue)
			<-done
			s.st.close()
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("read request: %w", err)
		}
		if m.Op == engine.OpCancel {
			s.cancel(m.Target)
			continue
		}
		s.queue <- m
	}
}

type server struct {
	wmu   sync.Mutex
	out   *json.Encoder
	queue chan engine.Message

	cmu       sync.Mutex
	current   uint64
	cancelled map[uint64]bool
	stop      atomic.Bool

	st state
}

func (s *server) send(m engine.Message) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.out.Encode(m); err != nil {
		// The client is gone; nothing sensible is left to do.
		os.Exit(0)
	}
}

func (s *server) cancel(id uint64) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.cancelled == nil {
		s.cancelled = map[uint64]bool{}
	}
	s.cancelled[id] = true
	if s.current == id {
		s.stop.Store(true)
		setAbort(true)
	}
}

// begin marks id as running and reports whether it was cancelled while it
// waited in the queue.
func (s *server) begin(id uint64) bool {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.current = id
	s.stop.Store(false)
	setAbort(false)
	nativeErrors() // a request's errors are its own
	if s.cancelled[id] {
		delete(s.cancelled, id)
		return false
	}
	return true
}

func (s *server) end() {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	delete(s.cancelled, s.current)
	s.current = 0
	s.stop.Store(false)
	setAbort(false)
}

func (s *server) handle(m engine.Message) {
	if !s.begin(m.ID) {
		s.send(engine.Message{ID: m.ID, Type: engine.TypeError, Error: "cancelled"})
		s.end()
		return
	}
	defer s.end()
	defer func() {
		// A Go panic here (not a native abort, which ends the process) is
		// reported and the runner lives on.
		if r := recover(); r != nil {
			slog.Error("runner panic", "panic", r, "stack", string(debug.Stack()))
			s.send(engine.Message{ID: m.ID, Type: engine.TypeError, Error: fmt.Sprintf("internal error: %v", r)})
		}
	}()
	reply := engine.Message{ID: m.ID, Type: engine.TypeResult}
	var err error
	switch m.Op {
	case engine.OpHello:
		info := runtimeInfo()
		reply.Runtime = &info
	case engine.OpLoad:
		if m.Load == nil {
			err = fmt.Errorf("load without a model")
			break
		}
		var info engine.ModelInfo
		info, err = s.st.load(*m.Load, func(p float64) {
			s.send(engine.Message{ID: m.ID, Type: engine.TypeProgress, Progress: p})
		})
		reply.Model = &info
	case engine.OpGenerate:
		if m.Generate == nil {
			err = fmt.Errorf("generate without arguments")
			break
		}
		var st engine.Stats
		st, err = s.st.generate(*m.Generate, &s.stop, func(p engine.Piece) {
			s.send(engine.Message{ID: m.ID, Type: engine.TypePiece, Piece: &p})
		})
		reply.Stats = &st
	case engine.OpEmbed:
		if m.Generate == nil {
			err = fmt.Errorf("embed without an image")
			break
		}
		reply.Embeddings, err = s.st.embed(*m.Generate)
	default:
		err = fmt.Errorf("unknown operation %q", m.Op)
	}
	if err != nil {
		s.send(engine.ErrorReply(m.ID, err))
		return
	}
	s.send(reply)
}

// runtimeInfo describes this process: versions and the devices that loaded.
func runtimeInfo() engine.RuntimeInfo {
	info := engine.RuntimeInfo{
		Protocol:      engine.ProtocolVersion,
		LlamaCommit:   llamaCommit(),
		GoVersion:     runtime.Version(),
		PhysicalCores: physicalCores(),
		CPUVariant:    engine.BaselineCPU,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/ollama/ollama" {
				info.OllamaVersion = d.Version
			}
		}
	}
	if v := loadedCPUVariant(); v != "" {
		info.CPUVariant = v
	}
	if p := os.Getenv("OLLAMA_LIBRARY_PATH"); p != "" {
		info.LibDirs = strings.Split(p, string(os.PathListSeparator))
	}
	for _, d := range devices() {
		dev := engine.Device{Name: d.name, Description: d.desc, Kind: kindName(d.kind), FreeBytes: d.free, TotalBytes: d.total}
		info.Devices = append(info.Devices, dev)
		if d.kind == 0 && len(info.CPUFeatures) == 0 {
			for _, f := range d.features {
				if f[1] == "1" {
					info.CPUFeatures = append(info.CPUFeatures, f[0])
				}
			}
		}
	}
	return info
}

func kindName(k int) string {
	switch k {
	case 0:
		return "CPU"
	case 1:
		return "GPU"
	case 2:
		return "iGPU"
	}
	return "accelerator"
}

// Runtime initialises the backends and describes them, as the runner's
// hello does.
func Runtime() engine.RuntimeInfo {
	llama.BackendInit()
	return runtimeInfo()
}

// Main runs the runner on this process's standard input and output and
// returns its exit code. The engine binary's "runner" command calls it, and
// so do tests that use their own binary as the runner.
func Main() int {
	out, err := protocolOutput()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 1
	}
	if err := Serve(os.Stdin, out); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 1
	}
	return 0
}
