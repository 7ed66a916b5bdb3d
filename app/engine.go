package app

import (
	"context"
	"errors"
	"fmt"

	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"cxrview/engine"
)

// EngineBinary is the name of the inference engine's executable.
const EngineBinary = "cxrview-engine"

// EnginePath finds the inference engine: $CXRVIEW_ENGINE, else beside the
// running cxrview binary, else on PATH.
func EnginePath() (string, error) {
	if p := os.Getenv("CXRVIEW_ENGINE"); p != "" {
		return p, nil
	}
	name := EngineBinary
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the inference engine %s was not found beside cxrview or on PATH (build it with make build, or set CXRVIEW_ENGINE)", name)
}

// NewRunner returns the embedded engine: a runner process started on first use.
func NewRunner(env *Env) (*engine.Runner, error) {
	path, err := EnginePath()
	if err != nil {
		return nil, err
	}
	var opts []engine.RunnerOption
	if env.Verbose {
		opts = append(opts, engine.WithLog(env.Stderr))
	}
	return engine.NewRunner(path, opts...), nil
}

// runEngineTool runs one of the engine binary's offline tools (conversion,
// test models) with the caller's streams; its exit code becomes ours. A
// cancelled ctx (Ctrl-C) is forwarded as an interrupt, so the tool can
// remove its temporary files before it exits.
func runEngineTool(ctx context.Context, env *Env, args ...string) error {
	path, err := EnginePath()
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	cmd.Env = engine.RunnerEnv(os.Environ(), engine.DefaultLibDir(path), env.Verbose)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the engine %s: %w", path, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if cmd.Process.Signal(os.Interrupt) != nil {
				cmd.Process.Kill()
			}
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if code := ee.ExitCode(); code >= 0 {
			return &ExitError{Code: code}
		}
		return &ExitError{Code: 130, Err: fmt.Errorf("the engine stopped: %v", ee)}
	}
	return fmt.Errorf("run the engine %s: %w", path, err)
}
