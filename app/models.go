package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"cxrview/assets"
	"cxrview/engine"
)

// The model store keeps each model pair in <Data>/models/NAME/: the two
// GGUF files under their own names and manifest.json. A model exists once
// its folder holds a manifest: imports are assembled in a hidden staging
// folder and renamed into place, so a failed import (a full disk) never
// leaves a half model behind. Models pulled into a local Ollama store are
// offered beside them, read-only.

// Model sources.
const (
	SourceStore  = "store"
	SourceOllama = "ollama"
)

// ModelFile is one file of a stored model.
type ModelFile struct {
	Role   string `json:"role"` // "text" or "projector"
	Name   string `json:"name"` // file name in the model's folder
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// modelManifest is manifest.json.
type modelManifest struct {
	Format     int             `json:"format"`
	Name       string          `json:"name"`
	Title      string          `json:"title"` // general.name of the language model
	Files      []ModelFile     `json:"files"`
	Family     string          `json:"family,omitempty"` // "cxr-llava-v2"; empty for general LLaVA models
	Template   engine.Template `json:"template"`
	TestModel  bool            `json:"test_model"`
	General    bool            `json:"general"`
	TextType   string          `json:"text_type"`
	Licence    string          `json:"licence"`
	Linked     bool            `json:"linked"` // hard links to the imported files, not copies
	Source     []string        `json:"source"` // where the files were imported from
	ImportedAt time.Time       `json:"imported_at"`
}

const modelManifestName = "manifest.json"

// StoredModel is a model the viewer and `cxrview report --model` can run.
type StoredModel struct {
	Name       string
	Source     string // SourceStore or SourceOllama (read-only)
	Title      string
	Dir        string // the model's folder (store only)
	Text       string // language model GGUF
	Projector  string // vision projector GGUF
	Files      []ModelFile
	Family     string
	Template   engine.Template
	TestModel  bool // random weights: its text is never a report
	General    bool // a general LLaVA model, not trained on chest films
	TextType   string
	Licence    string
	Linked     bool
	ImportedAt time.Time
}

// Size is the model's size on disk.
func (m StoredModel) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Spec is the engine's description of the model.
func (m StoredModel) Spec() engine.ModelSpec {
	return engine.ModelSpec{Name: m.Name, Text: m.Text, Projector: m.Projector, GPULayers: engine.GPULayersAuto}
}

// ModelStore is the per-user model store.
type ModelStore struct {
	dir    string // <Data>/models
	ollama string // the Ollama models folder, or "" when there is none
}

// OpenModelStore opens the model store in the user's data directory (the
// folder is made by the first import). The Ollama store is OLLAMA_MODELS,
// else ~/.ollama/models.
func OpenModelStore(d Dirs) (*ModelStore, error) {
	if d.Data == "" {
		return nil, errors.New("model store: no data directory")
	}
	s := &ModelStore{dir: filepath.Join(d.Data, "models")}
	if o := os.Getenv("OLLAMA_MODELS"); o != "" {
		s.ollama = o
	} else if home, err := os.UserHomeDir(); err == nil {
		s.ollama = filepath.Join(home, ".ollama", "models")
	}
	return s, nil
}

// Dir is the store's folder.
func (s *ModelStore) Dir() string { return s.dir }

// validModelName: what a model name may be (it is a folder name).
var validModelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkModelName(name string) error {
	if !validModelName.MatchString(name) {
		return fmt.Errorf("model name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// List returns the store's models by name, then the usable models of the
// local Ollama store. Damaged entries of the store are listed with what is
// known; Verify says what is wrong with them.
func (s *ModelStore) List() []StoredModel {
	var out []StoredModel
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if m, err := s.load(e.Name()); err == nil {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	found, _ := s.Ollama()
	for _, o := range found {
		if o.Err == nil {
			out = append(out, o.Model)
		}
	}
	return out
}

// Lookup finds a model by name: the store's first, then Ollama's.
func (s *ModelStore) Lookup(name string) (StoredModel, error) {
	if validModelName.MatchString(name) {
		m, err := s.load(name)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return StoredModel{}, err
		}
	}
	found, _ := s.Ollama()
	for _, o := range found {
		if o.Model.Name == name || o.Model.Name == name+":latest" {
			if o.Err != nil {
				return StoredModel{}, fmt.Errorf("Ollama model %s cannot be used: %w", o.Model.Name, o.Err)
			}
			return o.Model, nil
		}
	}
	var names []string
	for _, m := range s.List() {
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return StoredModel{}, fmt.Errorf("no model named %q: the store is empty (convert and import CXR-LLaVA first; see `cxrview model --help`)", name)
	}
	return StoredModel{}, fmt.Errorf("no model named %q (have: %s)", name, strings.Join(names, ", "))
}

func (s *ModelStore) load(name string) (StoredModel, error) {
	dir := filepath.Join(s.dir, name)
	b, err := os.ReadFile(filepath.Join(dir, modelManifestName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return StoredModel{}, fmt.Errorf("no model %q: %w", name, err)
		}
		return StoredModel{}, err
	}
	var m modelManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return StoredModel{}, fmt.Errorf("model %s: %s is damaged: %v", name, filepath.Join(dir, modelManifestName), err)
	}
	sm := StoredModel{Name: name, Source: SourceStore, Title: m.Title, Dir: dir, Files: m.Files, Family: m.Family,
		Template: m.Template, TestModel: m.TestModel, General: m.General, TextType: m.TextType, Licence: m.Licence,
		Linked: m.Linked, ImportedAt: m.ImportedAt}
	for _, f := range m.Files {
		if f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			return StoredModel{}, fmt.Errorf("model %s: manifest names file %q outside its folder", name, f.Name)
		}
		switch f.Role {
		case "text":
			sm.Text = filepath.Join(dir, f.Name)
		case "projector":
			sm.Projector = filepath.Join(dir, f.Name)
		}
	}
	if sm.Text == "" || sm.Projector == "" {
		return StoredModel{}, fmt.Errorf("model %s: the manifest lacks the language model or the projector", name)
	}
	return sm, nil
}

// ImportOptions control an import.
type ImportOptions struct {
	Name string // default: the language model's file name without .gguf
	// Copy copies the files even where a hard link would do.
	Copy bool
	// Progress, if set, hears about the bytes copied or hashed.
	Progress func(done, total int64)
}

// Import validates a language model and its projector with the engine's
// inspection, brings them into the store (a hard link where the file system
// allows, else a copy), hashes them, and registers them. If a sha256
// manifest from `cxrview model convert` lies beside the files, the files
// must match it.
func (s *ModelStore) Import(ctx context.Context, text, projector string, o ImportOptions) (StoredModel, error) {
	in, err := engine.Inspect(text, projector)
	if err != nil {
		return StoredModel{}, err
	}
	name := o.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(text), filepath.Ext(text))
	}
	if err := checkModelName(name); err != nil {
		return StoredModel{}, err
	}
	if _, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
		return StoredModel{}, fmt.Errorf("a model named %s already exists (remove it first with `cxrview model remove %s`, or choose another --name)", name, name)
	}
	if filepath.Base(text) == filepath.Base(projector) {
		return StoredModel{}, fmt.Errorf("%s and %s have the same file name", text, projector)
	}
	expect, err := convertChecksums(text, projector)
	if err != nil {
		return StoredModel{}, err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return StoredModel{}, fmt.Errorf("model store: %w", err)
	}
	staging, err := os.MkdirTemp(s.dir, ".import-"+name+"-")
	if err != nil {
		return StoredModel{}, fmt.Errorf("model store: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(staging)
		}
	}()
	var total int64
	for _, p := range []string{text, projector} {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	m := modelManifest{Format: 1, Name: name, Title: in.Name, Template: in.Template, TestModel: in.TestModel,
		General: in.General, TextType: in.TextType, ImportedAt: time.Now().UTC().Truncate(time.Second), Linked: !o.Copy}
	if in.Template == engine.TemplateCXRLLaVA {
		m.Family = engine.FamilyCXRLLaVAv2
	}
	m.Licence = modelLicence(in)
	var done int64
	for _, f := range []struct{ role, src string }{{"text", text}, {"projector", projector}} {
		abs, _ := filepath.Abs(f.src)
		m.Source = append(m.Source, abs)
		dst := filepath.Join(staging, filepath.Base(f.src))
		linked := false
		if !o.Copy {
			linked = os.Link(f.src, dst) == nil
		}
		m.Linked = m.Linked && linked
		var sum string
		var size int64
		if linked {
			sum, size, err = modelHash(ctx, dst, func(n int64) { importProgress(o.Progress, &done, n, total) })
		} else {
			sum, size, err = modelCopy(ctx, f.src, dst, func(n int64) { importProgress(o.Progress, &done, n, total) })
		}
		if err != nil {
			return StoredModel{}, fmt.Errorf("import %s: %w", f.src, err)
		}
		if want, listed := expect[filepath.Base(f.src)]; listed && want != sum {
			return StoredModel{}, fmt.Errorf("%s is damaged: its SHA-256 %s differs from %s in the conversion's checksum file (copy it again)", f.src, sum, want)
		}
		m.Files = append(m.Files, ModelFile{Role: f.role, Name: filepath.Base(f.src), Size: size, SHA256: sum})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return StoredModel{}, err
	}
	if err := WriteFileAtomic(filepath.Join(staging, modelManifestName), append(b, '\n'), 0o644); err != nil {
		return StoredModel{}, err
	}
	final := filepath.Join(s.dir, name)
	if err := os.Rename(staging, final); err != nil {
		return StoredModel{}, fmt.Errorf("register model %s: %w", name, err)
	}
	ok = true
	syncFolder(s.dir)
	return s.load(name)
}

func importProgress(f func(done, total int64), done *int64, n, total int64) {
	*done += n
	if f != nil {
		f(*done, total)
	}
}

// modelLicence is the licence recorded for a model: CXR-LLaVA's for its
// family, none for random test weights, the file's own statement otherwise.
func modelLicence(in engine.Inspection) string {
	switch {
	case in.TestModel:
		return "test model (random weights made by cxrview)"
	case in.Template == engine.TemplateCXRLLaVA:
		return "CC BY-NC 4.0 and the Llama 2 Community License"
	}
	return "see the model's own licence"
}

// convertChecksums reads the sha256 file `cxrview model convert` writes beside
// its outputs, if there is one listing these files.
func convertChecksums(text, projector string) (map[string]string, error) {
	sums := map[string]string{}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(text), "*.sha256"))
	for _, path := range matches {
		b, err := os.ReadFile(path)
		if err != nil || len(b) > 1<<16 {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			sum, file, ok := strings.Cut(strings.TrimSpace(line), "  ")
			if ok && len(sum) == 64 && (file == filepath.Base(text) || file == filepath.Base(projector)) {
				if prev, seen := sums[file]; seen && prev != sum {
					return nil, fmt.Errorf("%s: the checksum files beside it disagree about %s", filepath.Dir(text), file)
				}
				sums[file] = sum
			}
		}
	}
	return sums, nil
}

// modelHash returns a file's SHA-256 and size.
func modelHash(ctx context.Context, path string, add func(int64)) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, &modelReader{ctx: ctx, r: f, add: add})
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// modelCopy copies src to dst (synced), hashing what it writes.
func modelCopy(ctx context.Context, src, dst string, add func(int64)) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), &modelReader{ctx: ctx, r: in, add: add})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// modelReader stops a long copy when ctx is cancelled and counts progress.
type modelReader struct {
	ctx context.Context
	r   io.Reader
	add func(int64)
}

func (c *modelReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if c.add != nil && n > 0 {
		c.add(int64(n))
	}
	return n, err
}

func syncFolder(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ModelProblem is one thing Verify found wrong.
type ModelProblem struct {
	Model, File string
	Err         error
}

func (p ModelProblem) Error() string {
	if p.File == "" {
		return fmt.Sprintf("model %s: %v", p.Model, p.Err)
	}
	return fmt.Sprintf("model %s: %s: %v", p.Model, p.File, p.Err)
}

// Verify re-hashes the files of the named models (all the store's when
// names is empty) and reports every size or SHA-256 that differs from the
// manifest, every missing file and damaged manifest. Ollama's models are
// checked against their blobs' names, which are their SHA-256.
func (s *ModelStore) Verify(ctx context.Context, names []string, onFile func(model, file string)) ([]ModelProblem, error) {
	var models []StoredModel
	if len(names) == 0 {
		entries, _ := os.ReadDir(s.dir)
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			m, err := s.load(e.Name())
			if err != nil {
				models = append(models, StoredModel{Name: e.Name(), Source: "damaged", Title: err.Error()})
				continue
			}
			models = append(models, m)
		}
	} else {
		for _, n := range names {
			m, err := s.Lookup(n)
			if err != nil {
				return nil, err
			}
			models = append(models, m)
		}
	}
	var problems []ModelProblem
	for _, m := range models {
		if m.Source == "damaged" {
			problems = append(problems, ModelProblem{Model: m.Name, Err: errors.New(m.Title)})
			continue
		}
		for _, f := range m.Files {
			path := filepath.Join(m.Dir, f.Name)
			if m.Source == SourceOllama {
				path = f.Name
			}
			if onFile != nil {
				onFile(m.Name, f.Name)
			}
			sum, size, err := modelHash(ctx, path, nil)
			switch {
			case ctx.Err() != nil:
				return problems, ctx.Err()
			case errors.Is(err, fs.ErrNotExist):
				problems = append(problems, ModelProblem{m.Name, f.Name, errors.New("the file is missing")})
			case err != nil:
				problems = append(problems, ModelProblem{m.Name, f.Name, err})
			case size != f.Size:
				problems = append(problems, ModelProblem{m.Name, f.Name, fmt.Errorf("%d bytes, the manifest says %d: the file is damaged", size, f.Size)})
			case sum != f.SHA256:
				problems = append(problems, ModelProblem{m.Name, f.Name, fmt.Errorf("SHA-256 %s, the manifest says %s: the file is damaged", sum, f.SHA256)})
			}
		}
	}
	return problems, nil
}

// Remove deletes a model from the store. Ollama's models are not ours to
// remove.
func (s *ModelStore) Remove(name string) error {
	if err := checkModelName(name); err != nil {
		for _, o := range s.ollamaNames() {
			if o == name || o == name+":latest" {
				return fmt.Errorf("%s belongs to the local Ollama store; remove it with `ollama rm %s`", name, name)
			}
		}
		return err
	}
	dir := filepath.Join(s.dir, name)
	if _, err := os.Stat(dir); err != nil {
		for _, o := range s.ollamaNames() {
			if o == name+":latest" {
				return fmt.Errorf("%s belongs to the local Ollama store; remove it with `ollama rm %s`", name, name)
			}
		}
		return fmt.Errorf("no model named %q in %s", name, s.dir)
	}
	// Unregister first (one rename), then delete: an interrupted removal
	// leaves a hidden folder, never a model with missing files.
	trash, err := os.MkdirTemp(s.dir, ".remove-")
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	gone := filepath.Join(trash, name)
	if err := os.Rename(dir, gone); err != nil {
		os.Remove(trash)
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove %s: unregistered, but its files stay in %s: %w", name, trash, err)
	}
	return nil
}

func (s *ModelStore) ollamaNames() []string {
	found, _ := s.Ollama()
	var names []string
	for _, o := range found {
		names = append(names, o.Model.Name)
	}
	return names
}

// ModelLicenceNotice is what the user sees on import and in Help → About.
func ModelLicenceNotice() string {
	return assets.ModelLicence() + "\nCitation:\n" + assets.ModelCitation()
}
