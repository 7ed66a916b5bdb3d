package app

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"cxrview/engine"
)

// versionInfo is what `cxrview version --json` prints.
type versionInfo struct {
	Version string              `json:"version"`
	Go      string              `json:"go"`
	OS      string              `json:"os"`
	Engine  *engine.RuntimeInfo `json:"engine,omitempty"`
	Error   string              `json:"engine_error,omitempty"`
}

func runVersion(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version", "[--json]", "Print cxrview's version, the llama.cpp it embeds and the compute backends that load on this computer.")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	v := versionInfo{Version: env.Version, Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if r, err := NewRunner(env); err != nil {
		v.Error = err.Error()
	} else {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		info, err := r.Runtime(ctx)
		cancel()
		r.Close()
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Engine = &info
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := env.Stdout
	fmt.Fprintf(w, "cxrview %s (%s, %s)\n", v.Version, v.Go, v.OS)
	if v.Engine == nil {
		fmt.Fprintf(w, "inference engine: unavailable: %s\n", v.Error)
		return &ExitError{Code: 1}
	}
	e := v.Engine
	fmt.Fprintf(w, "llama.cpp %s, from the ollama module %s\n", e.LlamaCommit, e.OllamaVersion)
	fmt.Fprintln(w, "compute backends:")
	cpuShown := false
	for _, d := range e.Devices {
		if d.Kind == "CPU" {
			// The built-in baseline and a loaded variant both register a
			// CPU device; llama.cpp uses the first.
			if cpuShown {
				continue
			}
			cpuShown = true
			feat := ""
			if len(e.CPUFeatures) > 0 {
				feat = " [" + strings.Join(e.CPUFeatures, " ") + "]"
			}
			fmt.Fprintf(w, "  CPU   %s, code %s, %d physical cores%s\n", d.Description, e.CPUVariant, e.PhysicalCores, feat)
			continue
		}
		fmt.Fprintf(w, "  %-5s %s: %s, %s free of %s\n", d.Kind, d.Name, d.Description, gib(d.FreeBytes), gib(d.TotalBytes))
	}
	if len(e.Devices) == 0 || !hasGPU(e.Devices) {
		fmt.Fprintln(w, "  no GPU backend loaded (CUDA needs `make cuda` and an NVIDIA driver; Metal is built in on Apple silicon)")
	}
	if e.Baseline() {
		fmt.Fprintln(w, "warning: only the built-in baseline CPU code loaded; it is about five times slower. Run `make build` to get the CPU backends in lib/ollama.")
	}
	return nil
}

func hasGPU(ds []engine.Device) bool {
	for _, d := range ds {
		if d.Kind != "CPU" {
			return true
		}
	}
	return false
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
