//go:build unix

// Package ollamatest runs a real Ollama server for tests: built from the
// github.com/ollama/ollama module cxrview already depends on, started on
// 127.0.0.1 with a free port and its own model folder, stopped by its PID.
package ollamatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/engine"
)

const module = "github.com/ollama/ollama"

// Binary returns an ollama executable of the version go.mod requires:
// $CXRVIEW_BIN/ollama when the build put one there, otherwise one built
// into a temporary folder with `go install module@version`, which reuses
// the llama.cpp objects in Go's build cache when CGO_CPPFLAGS is the same
// as for the rest of the build (a different value recompiles llama.cpp).
func Binary(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CXRVIEW_BIN"); d != "" {
		p := filepath.Join(d, "ollama")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the Ollama server for this test needs the go command on PATH: %v", err)
	}
	version, err := ModuleVersion(goTool)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goTool, "install", module+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=1")
	if os.Getenv("CGO_CPPFLAGS") == "" {
		// The Makefile's value: llama.cpp's missing vendor headers.
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "CGO_CPPFLAGS=-I"+filepath.Join(cache, "cxrview", "llama-include"))
	}
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the Ollama server (go install %s@%s): %v\n%s", module, version, err, out)
	}
	t.Logf("built ollama %s in %v", version, time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "ollama")
}

// ModuleVersion is the version of github.com/ollama/ollama that go.mod
// requires, as the go command reports it from the current directory (a
// test runs in its package's folder, inside the module).
func ModuleVersion(goTool string) (string, error) {
	out, err := exec.Command(goTool, "list", "-m", "-f", "{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}", module).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list -m %s: %v: %s", module, err, ee.Stderr)
		}
		return "", fmt.Errorf("go list -m %s: %v", module, err)
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "", fmt.Errorf("go.mod gives no version of %s", module)
	}
	return v, nil
}

// Server is a running `ollama serve`.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	PID    int
	Models string // its OLLAMA_MODELS
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// Start runs `ollama serve` from bin on a free port of 127.0.0.1, with the
// ggml backends in libDir, an empty model folder, and a home folder of its
// own (Ollama writes a key pair there). The server stops when the test ends.
func Start(t testing.TB, bin, libDir string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{Models: filepath.Join(dir, "models"), exited: make(chan struct{})}
	home := filepath.Join(dir, "home")
	for _, d := range []string{s.Models, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s.URL = "http://" + addr

	s.log, err = os.Create(filepath.Join(dir, "ollama.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	env := engine.RunnerEnv(os.Environ(), libDir, true)
	env = append(env, "OLLAMA_HOST="+addr, "OLLAMA_MODELS="+s.Models, "HOME="+home,
		"OLLAMA_NUM_PARALLEL=1", "OLLAMA_MAX_LOADED_MODELS=1", "OLLAMA_NOPRUNE=1", "OLLAMA_DEBUG=1")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s serve: %v", bin, err)
	}
	s.cmd, s.PID = cmd, cmd.Process.Pid
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Stop(t) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/api/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("ollama serve exited at once:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ollama serve did not answer on %s within 60 s:\n%s", s.URL, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// Stop ends the server by its PID: an interrupt first, which makes it stop
// its runners; then, if it lingers, a kill of its process group (the
// runners it started) — processes this test started, nothing else.
func (s *Server) Stop(t testing.TB) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Logf("ollama serve (pid %d) did not stop on an interrupt; killing its process group", s.PID)
		syscall.Kill(-s.PID, syscall.SIGKILL)
		<-s.exited
	}
	s.log.Close()
}

// Log returns the end of the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Create makes a model from GGUF files through the API, as `ollama create`
// does with a Modelfile: each file is uploaded as a blob, then the model is
// created from the blobs. extra adds fields of /api/create (template,
// system, parameters).
func (s *Server) Create(ctx context.Context, name string, files []string, extra map[string]any) error {
	blobs := map[string]string{}
	for _, f := range files {
		digest, err := s.upload(ctx, f)
		if err != nil {
			return err
		}
		blobs[filepath.Base(f)] = digest
	}
	req := map[string]any{"model": name, "files": blobs, "stream": false}
	for k, v := range extra {
		req[k] = v
	}
	body, _ := json.Marshal(req)
	return s.post(ctx, "/api/create", "application/json", bytes.NewReader(body))
}

func (s *Server) upload(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return digest, s.post(ctx, "/api/blobs/"+digest, "application/octet-stream", f)
}

func (s *Server) post(ctx context.Context, path, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// Run runs the ollama command line against the server (OLLAMA_HOST set).
func (s *Server) Run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "OLLAMA_HOST="+strings.TrimPrefix(s.URL, "http://"), "HOME="+filepath.Dir(s.Models)+"/home")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
