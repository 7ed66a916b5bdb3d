// Package convert turns the released CXR-LLaVA v2 checkpoint (a local copy
// of the Hugging Face repository ECOFRI/CXR-LLAVA-v2: safetensors shards,
// config.json, tokenizer.model) into the two GGUF files llama.cpp runs: a
// LLaMA language model (F16, Q8_0 or Q4_K_M) and a CLIP "mlp" projector
// with the transforms of engine/cxr. It streams tensor by tensor, so memory
// stays bounded whatever the checkpoint's size, and writes nothing in
// place until both files are complete (docs/model.md).
package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"cxrview/engine"
	"cxrview/engine/cxr"
	"cxrview/engine/quant"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// What the converted files say about where they come from.
const (
	modelTitle = "CXR-LLaVA v2"
	sourceRepo = "ECOFRI/CXR-LLAVA-v2"
	licenseID  = "cc-by-nc-4.0 AND Llama 2 Community License"
)

// KeyHFLegacy is engine.KeyHFLegacy.
const KeyHFLegacy = engine.KeyHFLegacy

// File names of a conversion's outputs.
func TextFileName(ft quant.FileType) string { return "cxr-llava-v2-" + string(ft) + ".gguf" }

// ProjectorFileName is the projector's file name; it is F16 for every text type.
const ProjectorFileName = "cxr-llava-v2-mmproj-f16.gguf"

// ManifestFileName holds the SHA-256 of both outputs in sha256sum's format.
func ManifestFileName(ft quant.FileType) string { return "cxr-llava-v2-" + string(ft) + ".sha256" }

// Options say what to convert.
type Options struct {
	From string         // the checkpoint folder
	Out  string         // where the GGUF files go (created if needed)
	Type quant.FileType // the language model's type; the projector is F16
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// Workers is how many tensors are converted at once (0: up to 4).
	Workers int

	skipSpaceCheck bool // tests reach a full disk through the write itself
}

// Result describes a finished conversion.
type Result struct {
	Text, Projector, Manifest string
	TextBytes, ProjectorBytes int64
	TextSHA256, ProjSHA256    string
	SourceBytes               int64 // tensor data in the checkpoint
	Notes                     []string
	Elapsed                   time.Duration
}

// source is a validated checkpoint, ready to convert.
type source struct {
	ckpt    *checkpoint
	cfg     Config
	vocab   vocab
	tokCfg  tokenizerConfig
	text    []textInput
	vision  []cxr.Input
	notices []string
}

// open reads and checks everything about the checkpoint that can be
// checked without converting: configuration, tokenizer, and the name,
// type and shape of every tensor.
func open(dir string) (*source, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder: give the folder of the Hugging Face repository ECOFRI/CXR-LLAVA-v2", dir)
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	tc, err := readTokenizerConfig(dir)
	if err != nil {
		return nil, err
	}
	v, err := readTokenizer(dir, cfg.Text.Vocab)
	if err != nil {
		return nil, err
	}
	if t := cfg.Text; (t.BOS >= 0 && t.BOS != v.BOS) || (t.EOS >= 0 && t.EOS != v.EOS) {
		return nil, fmt.Errorf("config.json says BOS %d and EOS %d, tokenizer.model %d and %d: they do not belong together", t.BOS, t.EOS, v.BOS, v.EOS)
	}
	ckpt, err := openCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	s := &source{ckpt: ckpt, cfg: cfg, vocab: v, tokCfg: tc, text: textInputs(cfg.Text), vision: cfg.Vision.Inputs()}
	if err := s.checkTensors(); err != nil {
		ckpt.Close()
		return nil, err
	}
	for _, d := range cfg.Defaults {
		s.notices = append(s.notices, "config.json leaves out "+strings.SplitN(d, " =", 2)[0]+"; using the reference's default"+strings.TrimPrefix(d, strings.SplitN(d, " =", 2)[0]))
	}
	if v.Padded > 0 {
		s.notices = append(s.notices, fmt.Sprintf("tokenizer.model has %d pieces for %d embedding rows; %d filler tokens added", len(v.Tokens)-v.Padded, len(v.Tokens), v.Padded))
	}
	return s, nil
}

// checkTensors compares the checkpoint's inventory with the expected one.
func (s *source) checkTensors() error {
	want := map[string][]int{}
	for _, in := range s.text {
		want[in.From] = in.Shape
	}
	for _, in := range s.vision {
		want[in.Name] = in.Shape
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t, ok := s.ckpt.tensors[name]
		if !ok {
			return fmt.Errorf("%s: tensor %s is missing: this is not a complete CXR-LLaVA v2 checkpoint", s.ckpt.dir, name)
		}
		if _, ok := dtypeSize[t.DType]; !ok {
			return fmt.Errorf("%s: tensor %s has type %s; the converter reads BF16, F16 and F32", t.path, name, t.DType)
		}
		if !sameShape(t.Shape, want[name]) {
			return fmt.Errorf("%s: tensor %s has shape %v, but config.json implies %v", t.path, name, t.Shape, want[name])
		}
	}
	var extra []string
	for name := range s.ckpt.tensors {
		if _, ok := want[name]; !ok && !ignored(name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		more := ""
		if len(extra) > 3 {
			more = fmt.Sprintf(" and %d more", len(extra)-3)
			extra = extra[:3]
		}
		return fmt.Errorf("%s: unexpected tensor %s%s: this is not the CXR-LLaVA v2 architecture (or config.json does not match the weights)", s.ckpt.dir, strings.Join(extra, ", "), more)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Convert converts the checkpoint in o.From into o.Out. Both GGUF files
// and the manifest appear there only once all three are complete; on any
// error (a bad checkpoint, a full disk, a cancelled ctx) nothing is left
// behind.
func Convert(ctx context.Context, o Options) (Result, error) {
	begin := time.Now()
	var res Result
	if o.Type == "" {
		o.Type = quant.Q4_K_M
	}
	if o.From == "" || o.Out == "" {
		return res, errors.New("both the checkpoint folder and the output folder are needed")
	}
	s, err := open(o.From)
	if err != nil {
		return res, err
	}
	defer s.ckpt.Close()
	res.Notes = s.notices
	res.SourceBytes = s.ckpt.bytes

	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return res, fmt.Errorf("output folder: %w", err)
	}
	res.Text = filepath.Join(o.Out, TextFileName(o.Type))
	res.Projector = filepath.Join(o.Out, ProjectorFileName)
	res.Manifest = filepath.Join(o.Out, ManifestFileName(o.Type))

	workers := o.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	j := &job{ctx: ctx, sem: make(chan struct{}, workers)}
	textTs := s.textTensors(ctx, o.Type)
	visionTs, err := s.cfg.Vision.StreamTensors(s.read, quant.TypeF16)
	if err != nil {
		return res, err
	}
	var total int64
	for _, t := range append(append([]*fsggml.Tensor{}, textTs...), visionTs...) {
		total += int64(t.Size())
	}
	if !o.skipSpaceCheck {
		if free, ok := freeSpace(o.Out); ok && free < uint64(total)+(64<<20) {
			return res, fmt.Errorf("not enough space in %s: the converted files need %s, %s is free", o.Out, humanBytes(total+(64<<20)), humanBytes(int64(free)))
		}
	}
	j.bar = newProgress(o.Progress, total)
	wrap(j, textTs)
	wrap(j, visionTs)

	visionKV := s.cfg.Vision.KV(modelTitle+" projector", false)
	visionKV["general.license"] = licenseID
	visionKV["general.source.huggingface.repository"] = sourceRepo

	var temps []string
	cleanup := func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
	tmp, err := cxr.WriteTemp(res.Text, textKV(s.cfg.Text, s.vocab, s.tokCfg, o.Type), textTs)
	if err != nil {
		j.bar.abort()
		return res, j.cause(err)
	}
	temps = append(temps, tmp)
	ptmp, err := cxr.WriteTemp(res.Projector, visionKV, visionTs)
	if err != nil {
		j.bar.abort()
		cleanup()
		return res, j.cause(err)
	}
	temps = append(temps, ptmp)
	j.bar.finish()

	var sums strings.Builder
	for _, f := range []struct {
		tmp, final string
		sum        *string
		size       *int64
	}{{tmp, res.Text, &res.TextSHA256, &res.TextBytes}, {ptmp, res.Projector, &res.ProjSHA256, &res.ProjectorBytes}} {
		sum, n, err := hashFile(ctx, f.tmp)
		if err != nil {
			cleanup()
			return res, fmt.Errorf("hash %s: %w", f.final, err)
		}
		*f.sum, *f.size = sum, n
		fmt.Fprintf(&sums, "%s  %s\n", sum, filepath.Base(f.final))
	}
	mtmp, err := writeTempFile(res.Manifest, []byte(sums.String()))
	if err != nil {
		cleanup()
		return res, err
	}
	temps = append(temps, mtmp)
	for i, final := range []string{res.Text, res.Projector, res.Manifest} {
		if err := os.Rename(temps[i], final); err != nil {
			for _, done := range []string{res.Text, res.Projector, res.Manifest}[:i] {
				os.Remove(done)
			}
			cleanup()
			return res, fmt.Errorf("move %s into place: %w", final, err)
		}
	}
	syncDir(o.Out)
	res.Elapsed = time.Since(begin)
	return res, nil
}

// read is the projector's tensor source: whole tensors, which are small.
func (s *source) read(name string) ([]float32, error) {
	t, ok := s.ckpt.tensors[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	return t.readAll()
}

func (s *source) textTensors(ctx context.Context, ft quant.FileType) []*fsggml.Tensor {
	var ts []*fsggml.Tensor
	for _, in := range s.text {
		shape := in.ggufShape()
		typ := quant.TextType(in.To, shape, in.Layer, s.cfg.Text.Layers, ft)
		ts = append(ts, &fsggml.Tensor{Name: in.To, Kind: typ, Shape: shape,
			WriterTo: &textTensor{ctx: ctx, in: in, src: s.ckpt.tensors[in.From], typ: typ}})
	}
	return ts
}

// job limits how many tensors are converted at once (the GGUF writer starts
// one goroutine per tensor, up to GOMAXPROCS), counts progress, and stops
// the remaining tensors after the first failure.
type job struct {
	ctx    context.Context
	sem    chan struct{}
	bar    *progress
	failed atomic.Bool
}

var errAborted = errors.New("stopped after an earlier error")

type limited struct {
	j     *job
	inner io.WriterTo
}

func wrap(j *job, ts []*fsggml.Tensor) {
	for _, t := range ts {
		t.WriterTo = limited{j: j, inner: t.WriterTo}
	}
}

func (l limited) WriteTo(w io.Writer) (int64, error) {
	select {
	case l.j.sem <- struct{}{}:
	case <-l.j.ctx.Done():
		return 0, l.j.ctx.Err()
	}
	defer func() { <-l.j.sem }()
	if l.j.failed.Load() {
		return 0, errAborted
	}
	if err := l.j.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := l.inner.WriteTo(countingWriter{w: w, bar: l.j.bar})
	if err != nil {
		l.j.failed.Store(true)
	}
	return n, err
}

// cause prefers the cancellation over the errors it provoked.
func (j *job) cause(err error) error {
	if ctxErr := j.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("conversion cancelled: %w", ctxErr)
	}
	return err
}

type countingWriter struct {
	w   io.Writer
	bar *progress
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.bar.add(int64(n))
	return n, err
}

// hashFile returns a file's SHA-256 and size.
func hashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		m, err := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", n, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeTempFile writes data to a synced temporary file beside path.
func writeTempFile(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".cxrview-*.tmp")
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return f.Name(), nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync() // not supported everywhere; the renames are done either way
		d.Close()
	}
}
