package llm

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"cxrview/engine"

	"github.com/ollama/ollama/llama"
	"github.com/ollama/ollama/ml"
)

// batchSize is llama.cpp's logical batch: prompt tokens decoded per call.
const batchSize = 512

// state is the loaded model and everything that lives as long as it.
type state struct {
	spec    engine.ModelSpec
	in      engine.Inspection
	info    engine.ModelInfo
	model   *llama.Model
	lc      *llama.Context
	vis     *vision
	nCtx    int
	threads int
	tokens  *llama.Batch
	embeds  *llama.Batch
	cache   []inputKey        // what the KV cache holds, one key per position
	images  []imageEntry      // recently encoded images, newest last
	gpuFree map[string]uint64 // each GPU's free memory before the model loaded
}

type inputKey struct {
	token int      // for text positions
	image [32]byte // for image positions: the image's hash...
	index int      // ...and the token's index within it
}

type imageEntry struct {
	hash   [32]byte
	embeds [][]float32
}

func (st *state) loaded() bool { return st.model != nil }

// close frees everything; the runner process stays and can load again.
func (st *state) close() {
	if st.vis != nil {
		st.vis.free()
		st.vis = nil
	}
	if st.tokens != nil {
		st.tokens.Free()
		st.tokens = nil
	}
	if st.embeds != nil {
		st.embeds.Free()
		st.embeds = nil
	}
	if st.lc != nil {
		freeContext(st.lc)
		st.lc = nil
	}
	if st.model != nil {
		llama.FreeModel(st.model)
		st.model = nil
	}
	st.cache, st.images = nil, nil
}

func (st *state) load(spec engine.ModelSpec, progress func(float64)) (engine.ModelInfo, error) {
	start := time.Now()
	st.close()
	st.gpuFree = gpuFree()
	in, err := engine.Inspect(spec.Text, spec.Projector)
	if err != nil {
		return engine.ModelInfo{}, err
	}
	var notices []string
	nCtx := spec.Context
	if nCtx <= 0 {
		nCtx = engine.DefaultContext
	}
	if in.TrainContext > 0 && nCtx > in.TrainContext {
		notices = append(notices, fmt.Sprintf("The context was limited to %d tokens, the model's trained length.", in.TrainContext))
		nCtx = in.TrainContext
	}
	if least := engine.MinContext(in.ImageTokens); nCtx < least {
		return engine.ModelInfo{}, fmt.Errorf("a context of %d tokens cannot hold the image's %d tokens and a prompt; use at least %d", nCtx, in.ImageTokens, least)
	}
	threads := spec.Threads
	if threads <= 0 {
		threads = physicalCores()
	}

	var gpu *deviceInfo
	for _, d := range devices() {
		if d.kind == 1 || d.kind == 2 {
			if gpu == nil || d.free > gpu.free {
				d := d
				gpu = &d
			}
		}
	}
	layers := spec.GPULayers
	visionGPU := false
	switch {
	case gpu == nil:
		if layers > 0 {
			notices = append(notices, "No GPU was found: the model runs on the CPU.")
		}
		layers = 0
	case layers == engine.GPULayersAuto:
		visionGPU = gpu.free > in.VisionBytes+(1<<30)
		layers = engine.FitGPULayers(in, nCtx, gpu.free, visionGPU)
	default:
		visionGPU = layers > 0
	}

	// Out of GPU memory shows as a clean failure to load the weights or to
	// create the context; try fewer layers, then none.
	var lastErr error
	for _, n := range ladder(layers) {
		if n != layers {
			notices = append(notices, fmt.Sprintf("Not enough GPU memory for %d layers (%v); retrying with %d.", layers, lastErr, n))
			layers = n
		}
		lastErr = st.open(spec.Text, n, nCtx, threads, progress)
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return engine.ModelInfo{}, lastErr
	}
	if layers == 0 {
		visionGPU = false
	}
	vis, err := newVision(spec.Projector, st.model, threads, visionGPU)
	if err != nil && visionGPU {
		notices = append(notices, "The vision encoder did not fit on the GPU; it runs on the CPU.")
		visionGPU = false
		vis, err = newVision(spec.Projector, st.model, threads, false)
	}
	if err != nil {
		st.close()
		return engine.ModelInfo{}, err
	}
	st.vis = vis
	if st.tokens, err = llama.NewBatch(batchSize, 1, 0); err == nil {
		st.embeds, err = llama.NewBatch(batchSize, 1, in.Embedding)
	}
	if err != nil {
		st.close()
		return engine.ModelInfo{}, fmt.Errorf("allocate batches: %w", err)
	}
	if progress != nil {
		progress(1)
	}
	st.spec, st.in, st.nCtx, st.threads = spec, in, nCtx, threads
	name := spec.Name
	if name == "" {
		name = in.Name
	}
	if name == "" {
		name = filepath.Base(spec.Text)
	}
	backend := "CPU (" + cpuVariantName() + ")"
	if layers > 0 && gpu != nil {
		backend = fmt.Sprintf("%s: %s (%d/%d layers on the GPU)", gpu.name, gpu.desc, min(layers, in.Layers+1), in.Layers+1)
	}
	st.info = engine.ModelInfo{
		Name:        name,
		Template:    in.Template,
		General:     in.General,
		TestModel:   in.TestModel,
		ImageSize:   in.ImageSize,
		ImageTokens: in.ImageTokens,
		Embedding:   in.Embedding,
		Layers:      in.Layers,
		GPULayers:   min(layers, in.Layers+1),
		Context:     nCtx,
		Threads:     threads,
		Backend:     backend,
		VisionOnGPU: visionGPU,
		BlockRotate: in.BlockRotate,
		LoadMS:      time.Since(start).Milliseconds(),
		Notices:     notices,
	}
	return st.info, nil
}

// open loads the weights and creates the context.
func (st *state) open(path string, layers, nCtx, threads int, progress func(float64)) error {
	last := -1.0
	m, err := llama.LoadModelFromFile(path, llama.ModelParams{
		NumGpuLayers: layers,
		UseMmap:      true,
		Progress: func(p float32) {
			// Weights are most of the loading time; the projector is the rest.
			if q := float64(p) * 0.9; progress != nil && q-last >= 0.01 {
				last = q
				progress(q)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("llama.cpp could not load %s%s", path, because(""))
	}
	lc, err := llama.NewContextWithModel(m, llama.NewContextParams(nCtx, batchSize, 1, threads, ml.FlashAttentionAuto, ""))
	if err != nil {
		llama.FreeModel(m)
		return fmt.Errorf("llama.cpp could not create a context of %d tokens%s", nCtx, because(""))
	}
	if err := checkLayout(m, lc, nCtx); err != nil {
		freeContext(lc)
		llama.FreeModel(m)
		return err
	}
	prepareContext(lc)
	st.model, st.lc = m, lc
	return nil
}

// gpuFree returns the free memory of each GPU by name.
func gpuFree() map[string]uint64 {
	free := map[string]uint64{}
	for _, d := range devices() {
		if d.kind == 1 || d.kind == 2 {
			free[d.name] = d.free
		}
	}
	return free
}

// ladder lists the layer counts to try: the planned one, half, then CPU.
func ladder(n int) []int {
	if n <= 0 {
		return []int{0}
	}
	if n/2 > 0 {
		return []int{n, n / 2, 0}
	}
	return []int{n, 0}
}

func cpuVariantName() string {
	if v := loadedCPUVariant(); v != "" {
		return v
	}
	return engine.BaselineCPU
}

// imageEmbeddings validates a prepared gray image, applies the projector's
// block order, and encodes it (or reuses a recent encoding).
func (st *state) imageEmbeddings(args engine.GenerateArgs) ([][]float32, [32]byte, bool, time.Duration, error) {
	var hash [32]byte
	size := st.in.ImageSize
	if args.Width != size || args.Height != size {
		return nil, hash, false, 0, fmt.Errorf("the image is %dx%d but this projector takes %dx%d (prepare it with imaging.PrepareModelInput)", args.Width, args.Height, size, size)
	}
	if len(args.Image) != size*size {
		return nil, hash, false, 0, fmt.Errorf("the image has %d bytes, want %d", len(args.Image), size*size)
	}
	gray := args.Image
	if st.in.BlockRotate {
		gray = engine.ReorderBlocks(gray, size, st.in.PatchSize)
	}
	hash = sha256.Sum256(gray)
	for _, e := range st.images {
		if e.hash == hash {
			return e.embeds, hash, true, 0, nil
		}
	}
	rgb := make([]byte, 3*len(gray))
	for i, v := range gray {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
	}
	t := time.Now()
	emb, err := st.vis.encode(rgb, size, size, st.in.Embedding)
	if err != nil {
		return nil, hash, false, 0, err
	}
	if len(emb) != st.in.ImageTokens {
		return nil, hash, false, 0, fmt.Errorf("the projector produced %d image tokens, its metadata promises %d", len(emb), st.in.ImageTokens)
	}
	st.images = append(st.images, imageEntry{hash, emb})
	if len(st.images) > 2 {
		st.images = st.images[1:]
	}
	return emb, hash, false, time.Since(t), nil
}

func (st *state) embed(args engine.GenerateArgs) ([][]float32, error) {
	if !st.loaded() {
		return nil, engine.ErrNoModel
	}
	emb, _, _, _, err := st.imageEmbeddings(args)
	return emb, err
}

var errStopped = errors.New("stopped")
