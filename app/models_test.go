package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cxrview/app/apptest"
	"cxrview/engine"
	"cxrview/engine/convert"
	"cxrview/engine/convert/converttest"
	"cxrview/engine/quant"
	"cxrview/engine/testmodel"
)

var (
	pairsOnce sync.Once
	pairsDir  string
	pairsErr  error
)

// pairs writes the tiny test pairs and a converted synthetic CXR-LLaVA
// checkpoint once per test binary.
func pairs(t *testing.T) string {
	t.Helper()
	pairsOnce.Do(func() {
		pairsDir, pairsErr = os.MkdirTemp("", "cxrview-app-models-")
		if pairsErr != nil {
			return
		}
		for _, name := range []string{"tiny", "tiny-llava"} {
			s, _ := testmodel.Lookup(name)
			if _, pairsErr = testmodel.Generate(pairsDir, s, quant.F16, 3); pairsErr != nil {
				return
			}
		}
		wide, _ := testmodel.Lookup("tiny")
		wide.Name, wide.Embd = "wide", 128
		if _, pairsErr = testmodel.Generate(pairsDir, wide, quant.F16, 3); pairsErr != nil {
			return
		}
		var ck *converttest.Checkpoint
		if ck, pairsErr = converttest.Write(filepath.Join(pairsDir, "ckpt"), converttest.Tiny(), 3); pairsErr != nil {
			return
		}
		_, pairsErr = convert.Convert(context.Background(), convert.Options{From: ck.Dir, Out: filepath.Join(pairsDir, "converted"), Type: quant.Q8_0})
	})
	if pairsErr != nil {
		t.Fatal(pairsErr)
	}
	return pairsDir
}

func tinyPair(t *testing.T, shape string) (text, proj string) {
	s, _ := testmodel.Lookup(shape)
	p := testmodel.Paths(pairs(t), s, quant.F16)
	return p.Text, p.Projector
}

func convertedPair(t *testing.T) (text, proj string) {
	dir := filepath.Join(pairs(t), "converted")
	return filepath.Join(dir, convert.TextFileName(quant.Q8_0)), filepath.Join(dir, convert.ProjectorFileName)
}

// testEnv is an Env with its own folders and no Ollama store.
func testEnv(t *testing.T) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("OLLAMA_MODELS", filepath.Join(home, "no-ollama"))
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Dirs: Dirs{Config: filepath.Join(home, "config"), Data: filepath.Join(home, "data"), Cache: filepath.Join(home, "cache")}}
	return env, &out, &errb
}

func run(t *testing.T, env *Env, args ...string) int {
	t.Helper()
	env.Stdout.(*bytes.Buffer).Reset()
	env.Stderr.(*bytes.Buffer).Reset()
	return Run(context.Background(), env, args)
}

func TestModelStoreLifecycle(t *testing.T) {
	env, out, errb := testEnv(t)
	text, proj := tinyPair(t, "tiny")
	if code := run(t, env, "model", "import", text, proj, "--name", "tiny"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb)
	}
	if !strings.Contains(out.String(), "TEST MODEL") || !strings.Contains(out.String(), "hard-linked") {
		t.Errorf("import output:\n%s", out)
	}
	if code := run(t, env, "model", "import", text, proj, "--name", "tiny-copy", "--copy"); code != 0 {
		t.Fatalf("import --copy: exit %d: %s", code, errb)
	}
	store, err := OpenModelStore(env.Dirs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.Lookup("tiny-copy")
	if err != nil {
		t.Fatal(err)
	}
	if m.Linked || !m.TestModel || m.Family != engine.FamilyCXRLLaVAv2 || m.Template != engine.TemplateCXRLLaVA || m.Source != SourceStore {
		t.Errorf("stored model %+v", m)
	}
	spec := m.Spec()
	if _, err := engine.Inspect(spec.Text, spec.Projector); err != nil {
		t.Errorf("the stored pair does not inspect: %v", err)
	}
	for _, f := range m.Files {
		b, _ := os.ReadFile(filepath.Join(m.Dir, f.Name))
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: manifest %s/%d, file %x/%d", f.Name, f.SHA256, f.Size, sum, len(b))
		}
	}
	linked, _ := store.Lookup("tiny")
	if !linked.Linked {
		t.Error("an import within one file system was not hard-linked")
	}

	if code := run(t, env, "model", "list"); code != 0 || !strings.Contains(out.String(), "tiny-copy") || !strings.Contains(out.String(), "TEST MODEL") {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	if code := run(t, env, "model", "list", "--json"); code != 0 {
		t.Fatalf("list --json: exit %d", code)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 2 {
		t.Errorf("list --json: %v\n%s", err, out)
	}
	if code := run(t, env, "model", "verify"); code != 0 || !strings.Contains(out.String(), "4 file(s) checked, all intact") {
		t.Errorf("verify: exit %d:\n%s%s", code, out, errb)
	}

	// Damage the copy: verify names the file and fails.
	damaged := filepath.Join(m.Dir, m.Files[1].Name)
	b, _ := os.ReadFile(damaged)
	b[len(b)/2] ^= 0x40
	os.WriteFile(damaged, b, 0o644)
	if code := run(t, env, "model", "verify", "tiny-copy"); code != 1 ||
		!strings.Contains(out.String(), "DAMAGED  model tiny-copy: "+m.Files[1].Name+": SHA-256") ||
		!strings.Contains(errb.String(), "1 problem(s)") {
		t.Errorf("verify of a damaged model: exit %d:\n%s%s", code, out, errb)
	}
	os.Remove(damaged)
	if code := run(t, env, "model", "verify", "tiny-copy"); code != 1 || !strings.Contains(out.String(), "the file is missing") {
		t.Errorf("verify of a model with a missing file: exit %d:\n%s", code, out)
	}

	if code := run(t, env, "model", "remove", "tiny-copy"); code != 0 {
		t.Fatalf("remove: exit %d: %s", code, errb)
	}
	if _, err := store.Lookup("tiny-copy"); err == nil {
		t.Error("a removed model is still found")
	}
	entries, _ := os.ReadDir(store.Dir())
	if len(entries) != 1 || entries[0].Name() != "tiny" {
		t.Errorf("store holds %v after the removal", entries)
	}
	if _, err := os.Stat(text); err != nil {
		t.Errorf("removing the hard-linked model touched the original: %v", err)
	}
	if code := run(t, env, "model", "remove", "nothing"); code != 1 || !strings.Contains(errb.String(), `no model named "nothing"`) {
		t.Errorf("remove of an unknown model: exit %d: %s", code, errb)
	}
}

// A real conversion: the licence and citation are shown on import, and
// the converter's checksum file guards the copy.
func TestImportConverted(t *testing.T) {
	env, out, errb := testEnv(t)
	text, proj := convertedPair(t)
	if code := run(t, env, "model", "import", text, proj); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb)
	}
	for _, want := range []string{"imported cxr-llava-v2-q8_0", "CC BY-NC 4.0", "Llama 2 Community License", "Lee S, Youn J", "10.1007/s00330-024-11339-6"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	store, _ := OpenModelStore(env.Dirs)
	m, err := store.Lookup("cxr-llava-v2-q8_0")
	if err != nil || m.TestModel || m.Licence == "" || m.TextType != "Q8_0" {
		t.Errorf("lookup: %+v, %v", m, err)
	}

	// A copy damaged on its way: the checksum file beside it says so.
	dir := t.TempDir()
	for _, p := range []string{text, proj, strings.TrimSuffix(text, ".gguf") + ".sha256"} {
		b, _ := os.ReadFile(p)
		if strings.HasSuffix(p, "mmproj-f16.gguf") {
			b[len(b)-10] ^= 1
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644)
	}
	code := run(t, env, "model", "import", filepath.Join(dir, filepath.Base(text)), filepath.Join(dir, filepath.Base(proj)), "--name", "damaged")
	if code != 1 || !strings.Contains(errb.String(), "mmproj-f16.gguf is damaged") || !strings.Contains(errb.String(), "checksum file") {
		t.Errorf("damaged import: exit %d: %s", code, errb)
	}
	assertOnly(t, store.Dir(), "cxr-llava-v2-q8_0")
}

// Bad imports: one clear line, exit 1 (2 for a wrong command line), and
// nothing registered.
func TestImportBadInput(t *testing.T) {
	env, _, errb := testEnv(t)
	text, proj := tinyPair(t, "tiny")
	dir := t.TempDir()
	notGGUF := filepath.Join(dir, "notes.gguf")
	os.WriteFile(notGGUF, []byte("these are not weights"), 0o644)
	wide := testmodel.Paths(pairs(t), func() testmodel.Shape { s, _ := testmodel.Lookup("tiny"); s.Name = "wide"; return s }(), quant.F16)
	if code := run(t, env, "model", "import", text, proj, "--name", "taken"); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"swapped", []string{proj, text}, 1, "swapped"},
		{"not GGUF", []string{notGGUF, proj}, 1, "notes.gguf is not a GGUF model file"},
		{"missing", []string{filepath.Join(dir, "nope.gguf"), proj}, 1, "nope.gguf"},
		{"width mismatch", []string{text, wide.Projector}, 1, "do not belong together"},
		{"name taken", []string{text, proj, "--name", "taken"}, 1, "a model named taken already exists"},
		{"bad name", []string{text, proj, "--name", "../escape"}, 1, `model name "../escape"`},
		{"one file", []string{text}, 2, "give the language model and the projector file"},
	}
	for _, c := range cases {
		code := run(t, env, append([]string{"model", "import"}, c.args...)...)
		if code != c.code || !strings.Contains(errb.String(), c.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") > 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", c.name, code, errb, c.code, c.want)
		}
	}
	store, _ := OpenModelStore(env.Dirs)
	assertOnly(t, store.Dir(), "taken")
}

// assertOnly fails unless dir holds exactly the named entries.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// An import onto a full disk fails cleanly and registers nothing.
func TestImportFullDisk(t *testing.T) {
	env, _, errb := testEnv(t)
	env.Dirs.Data = apptest.FullDisk(t)
	text, proj := tinyPair(t, "tiny")
	code := run(t, env, "model", "import", text, proj, "--name", "tiny")
	if code != 1 || !strings.Contains(errb.String(), "no space left on device") {
		t.Errorf("exit %d: %s", code, errb)
	}
	store, _ := OpenModelStore(env.Dirs)
	if _, err := store.Lookup("tiny"); err == nil {
		t.Error("a failed import is registered")
	}
	entries, _ := os.ReadDir(store.Dir())
	for _, e := range entries {
		t.Errorf("%s left behind in the store", e.Name())
	}
}

// writeOllamaStore lays out an Ollama store: manifests naming blobs by
// their SHA-256, as `ollama pull` leaves them.
func writeOllamaStore(t *testing.T, root string, models map[string][][2]string) {
	t.Helper()
	for name, layers := range models {
		var ls []map[string]any
		for _, l := range layers {
			b, err := os.ReadFile(l[1])
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			blob := filepath.Join(root, "blobs", fmt.Sprintf("sha256-%x", sum))
			os.MkdirAll(filepath.Dir(blob), 0o755)
			os.WriteFile(blob, b, 0o644)
			ls = append(ls, map[string]any{"mediaType": l[0], "digest": fmt.Sprintf("sha256:%x", sum), "size": len(b)})
		}
		mf, _ := json.Marshal(map[string]any{"schemaVersion": 2, "layers": ls})
		path := filepath.Join(root, "manifests", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, mf, 0o644)
	}
}

func TestOllamaDiscovery(t *testing.T) {
	env, out, errb := testEnv(t)
	root := t.TempDir()
	t.Setenv("OLLAMA_MODELS", root)
	text, proj := tinyPair(t, "tiny-llava")
	cxrText, _ := tinyPair(t, "tiny")
	wideShape, _ := testmodel.Lookup("tiny")
	wideShape.Name, wideShape.Embd = "wide", 128
	wideText := testmodel.Paths(pairs(t), wideShape, quant.F16).Text
	writeOllamaStore(t, root, map[string][][2]string{
		"registry.ollama.ai/library/llava-tiny/latest": {{ollamaModelLayer, text}, {ollamaProjectorLayer, proj}},
		"registry.ollama.ai/someone/textonly/7b":       {{ollamaModelLayer, cxrText}},
		"example.org/lab/mismatched/v1":                {{ollamaModelLayer, wideText}, {ollamaProjectorLayer, proj}},
	})
	store, _ := OpenModelStore(env.Dirs)
	m, err := store.Lookup("llava-tiny")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "llava-tiny:latest" || m.Source != SourceOllama || !m.General || m.Template != engine.TemplateVicuna ||
		!strings.HasPrefix(m.Text, filepath.Join(root, "blobs", "sha256-")) {
		t.Errorf("Ollama model %+v", m)
	}
	if code := run(t, env, "model", "list"); code != 0 {
		t.Fatal(errb)
	}
	for _, want := range []string{"llava-tiny:latest", "read-only", "general model", "example.org/lab/mismatched:v1 is not usable", "do not belong together"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "textonly") {
		t.Errorf("a text-only model is offered:\n%s", out)
	}
	if code := run(t, env, "model", "remove", "llava-tiny:latest"); code != 1 || !strings.Contains(errb.String(), "ollama rm") {
		t.Errorf("remove of an Ollama model: exit %d: %s", code, errb)
	}
	if code := run(t, env, "model", "verify", "llava-tiny"); code != 0 {
		t.Errorf("verify of the Ollama model: exit %d: %s%s", code, out, errb)
	}
	if _, err := os.Stat(text); err != nil {
		t.Fatal(err)
	}
}

// `cxrview model convert` runs `cxrview-engine convert` with the same
// arguments and streams, and exits with its code.
func TestConvertDelegation(t *testing.T) {
	env, out, errb := testEnv(t)
	script := filepath.Join(t.TempDir(), "engine.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"args: $*\"\nread line\necho \"stdin: $line\"\necho 'engine says no' >&2\nexit 3\n"), 0o755)
	t.Setenv("CXRVIEW_ENGINE", script)
	env.Stdin = strings.NewReader("hello\n")
	code := Run(context.Background(), env, []string{"model", "convert", "--from", "a b", "--out", "c", "--type", "f16"})
	if code != 3 {
		t.Errorf("exit %d, want the engine's 3", code)
	}
	if !strings.Contains(out.String(), "args: convert --from a b --out c --type f16") || !strings.Contains(out.String(), "stdin: hello") {
		t.Errorf("stdout %q", out)
	}
	if strings.TrimSpace(errb.String()) != "engine says no" {
		t.Errorf("stderr %q: the engine's errors only", errb)
	}
	out.Reset()
	errb.Reset()
	t.Setenv("CXRVIEW_ENGINE", filepath.Join(t.TempDir(), "missing-engine"))
	if code := Run(context.Background(), env, []string{"model", "convert"}); code != 1 || !strings.Contains(errb.String(), "start the engine") {
		t.Errorf("missing engine: exit %d: %s", code, errb)
	}
}

// With the built binaries (make test sets CXRVIEW_BIN): the whole path a
// user takes, convert through cxrview's delegation, then import.
func TestConvertAndImportWithEngine(t *testing.T) {
	bin := os.Getenv("CXRVIEW_BIN")
	if bin == "" {
		t.Skip("CXRVIEW_BIN is not set: `make test` builds bin/cxrview-engine and sets it")
	}
	env, out, errb := testEnv(t)
	t.Setenv("CXRVIEW_ENGINE", filepath.Join(bin, "cxrview-engine"))
	dir := t.TempDir()
	ck, err := converttest.Write(filepath.Join(dir, "ckpt"), converttest.Tiny(), 5)
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "gguf")
	if code := run(t, env, "model", "convert", "--from", ck.Dir, "--out", outDir, "--type", "q4_k_m"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errb)
	}
	if !strings.Contains(out.String(), "next: cxrview model import") {
		t.Errorf("convert output:\n%s", out)
	}
	text := filepath.Join(outDir, convert.TextFileName(quant.Q4_K_M))
	if code := run(t, env, "model", "import", text, filepath.Join(outDir, convert.ProjectorFileName)); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb)
	}
	if code := run(t, env, "model", "convert", "--from", filepath.Join(dir, "nothing"), "--out", outDir); code != 1 ||
		!strings.Contains(errb.String(), "nothing") {
		t.Errorf("convert of a missing folder: exit %d: %s", code, errb)
	}
}
