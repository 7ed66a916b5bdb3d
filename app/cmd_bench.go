package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"cxrview/engine"
)

// benchResult is what `cxrview bench --json` prints.
type benchResult struct {
	Shape          string  `json:"shape"`
	Type           string  `json:"type"`
	Backend        string  `json:"backend"`
	GPULayers      int     `json:"gpu_layers"`
	Threads        int     `json:"threads"`
	CPUs           int     `json:"logical_cpus"`
	LoadMS         int64   `json:"load_ms"`
	EncodeMS       int64   `json:"image_encode_ms"`
	PromptTokens   int     `json:"prompt_tokens"`
	PrefillTPS     float64 `json:"prefill_tokens_per_s"`
	DecodeTPS      float64 `json:"decode_tokens_per_s"`
	FirstTokenMS   int64   `json:"time_to_first_token_ms"`
	GenTokens      int     `json:"generated_tokens"`
	TotalMS        int64   `json:"total_ms"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	VRAMUsedBytes  int64   `json:"vram_used_bytes"`  // GPU memory the model holds (engine.Stats.VRAMUsed)
	CancelReturnMS float64 `json:"cancel_return_ms"` // from cancel to Generate returning
	CancelIdleMS   float64 `json:"cancel_idle_ms"`   // from cancel to the engine taking the next request
	ModelBytes     int64   `json:"model_bytes"`
	ProjectorBytes int64   `json:"projector_bytes"`
}

func runBench(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench", "[--shape cxr7b] [--type q4_k_m] [--gpu-layers auto|N] [flags]",
		"Measure inference on random-weight models of the real shapes (generated once and kept in the\n"+
			"cache folder): image encoding, prompt processing, generation speed, time to the first token,\n"+
			"the time of a whole report, and peak memory.")
	shape := fs.String("shape", "cxr7b", "model shape: cxr7b, llava7b, tiny or tiny-llava")
	typ := fs.String("type", "q4_k_m", "language model type: f16, q8_0 or q4_k_m")
	tokens := fs.Int("tokens", 150, "tokens to generate (a typical report)")
	gpu := fs.String("gpu-layers", "auto", "layers on the GPU: auto, 0 or a number")
	threads := fs.Int("threads", 0, "CPU threads (0: one per physical core)")
	ctxLen := fs.Int("context", 0, fmt.Sprintf("context length (0: %d)", engine.DefaultContext))
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if *tokens <= 0 {
		return usageError("--tokens must be positive")
	}
	// The engine's testmodel tool checks the shape and type, names the
	// files, writes them the first time (minutes for the 7B shapes; Ctrl-C
	// leaves nothing behind) and prints their paths.
	dir := filepath.Join(env.Dirs.Cache, "bench")
	var paths bytes.Buffer
	tool := *env
	tool.Stdout = &paths
	if err := runEngineTool(ctx, &tool, "testmodel", "--out", dir, "--shape", *shape, "--type", *typ, "--if-missing"); err != nil {
		return err
	}
	files := strings.Split(strings.TrimSpace(paths.String()), "\n")
	if len(files) != 2 {
		return fmt.Errorf("the engine's testmodel tool printed %q, not the two paths of the model", paths.String())
	}
	text, proj := files[0], files[1]
	mf := modelFlags{text: text, mmproj: proj, gpuLayers: *gpu, threads: *threads, context: *ctxLen}
	spec, err := mf.spec()
	if err != nil {
		return err
	}
	r, err := NewRunner(env)
	if err != nil {
		return err
	}
	defer r.Close()
	info, err := r.Load(ctx, spec, nil)
	if err != nil {
		return err
	}
	q, _ := engine.PresetReport.Question("")
	req := engine.Request{Image: benchImage(info.ImageSize), Turns: []engine.Turn{{User: q}}, MaxTokens: *tokens, IgnoreEOS: true}
	st, err := r.Generate(ctx, req, nil)
	if err != nil {
		return err
	}
	// Cancel a generation a few tokens in and time how soon the call
	// returns and how soon the engine is free again (llama.cpp's abort
	// callback stops the token being computed).
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cancelled time.Time
	pieces := 0
	cancelReq := req
	cancelReq.MaxTokens = *tokens + 100
	_, err = r.Generate(cctx, cancelReq, func(engine.Piece) {
		if pieces++; pieces == 3 {
			cancelled = time.Now()
			cancel()
		}
	})
	returned := time.Since(cancelled)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case cancelled.IsZero() && err != nil:
		return fmt.Errorf("the cancel run: %w", err)
	case cancelled.IsZero():
		return fmt.Errorf("the cancel run gave %d pieces of text, too few to cancel it after the third", pieces)
	case !errors.Is(err, context.Canceled):
		return fmt.Errorf("the cancel run did not end as cancelled: %v", err)
	}
	if _, err := r.Runtime(ctx); err != nil {
		return err
	}
	idle := time.Since(cancelled)
	res := benchResult{
		CancelReturnMS: float64(returned.Microseconds()) / 1000, CancelIdleMS: float64(idle.Microseconds()) / 1000,
		Shape: *shape, Type: strings.ToLower(*typ), Backend: info.Backend, GPULayers: info.GPULayers, Threads: info.Threads,
		CPUs: runtime.NumCPU(), LoadMS: info.LoadMS, EncodeMS: st.EncodeMS, PromptTokens: st.PromptTokens,
		PrefillTPS: st.PromptTPS, DecodeTPS: st.GenTPS, FirstTokenMS: st.FirstTokenMS, GenTokens: st.GenTokens,
		TotalMS: st.TotalMS, PeakRSSBytes: st.PeakRSS, VRAMUsedBytes: st.VRAMUsed,
		ModelBytes: fileSize(text), ProjectorBytes: fileSize(proj),
	}
	if *jsonOut {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	w := env.Stdout
	fmt.Fprintf(w, "model             %s %s (%.2f GB + projector %.2f GB), random weights\n", res.Shape, res.Type, gb(res.ModelBytes), gb(res.ProjectorBytes))
	fmt.Fprintf(w, "backend           %s, %d threads, %d GPU layers\n", res.Backend, res.Threads, res.GPULayers)
	fmt.Fprintf(w, "load              %d ms\n", res.LoadMS)
	fmt.Fprintf(w, "image encode      %d ms\n", res.EncodeMS)
	fmt.Fprintf(w, "prefill           %d positions at %.1f tok/s\n", res.PromptTokens, res.PrefillTPS)
	fmt.Fprintf(w, "decode            %d tokens at %.2f tok/s\n", res.GenTokens, res.DecodeTPS)
	fmt.Fprintf(w, "first token       %.1f s\n", float64(res.FirstTokenMS)/1000)
	fmt.Fprintf(w, "whole report      %.1f s\n", float64(res.TotalMS)/1000)
	fmt.Fprintf(w, "cancel            returned after %.1f ms, engine free after %.1f ms\n", res.CancelReturnMS, res.CancelIdleMS)
	fmt.Fprintf(w, "memory            peak RAM %.2f GB, GPU memory held by the model %.2f GB\n", gb(res.PeakRSSBytes), gb(res.VRAMUsedBytes))
	return nil
}

// benchImage is a film-sized gradient: its content does not change the cost.
func benchImage(size int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			g.Pix[y*size+x] = uint8((x + 2*y) * 255 / (3 * size))
		}
	}
	return g
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func gb(b int64) float64 { return float64(b) / 1e9 }
