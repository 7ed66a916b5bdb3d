//go:build unix

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cxrview/engine"
	"cxrview/engine/gguf"
	"cxrview/engine/ollamatest"
	"cxrview/imaging/imagingtest"
)

func TestWriteOllamaModelfile(t *testing.T) {
	text, mmproj := tinyPair(t, "tiny")
	spec := engine.ModelSpec{Text: text, Projector: mmproj}
	dir := filepath.Join(t.TempDir(), "export")
	ex, err := WriteOllamaModelfile(dir, spec, OllamaExportOptions{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Name != "cxrview-test-model-tiny" || ex.Command != "ollama create cxrview-test-model-tiny -f "+filepath.Join(dir, "Modelfile") {
		t.Errorf("name %q, command %q", ex.Name, ex.Command)
	}
	// The language model: the same bytes but one, add_bos_token off.
	orig, _ := os.ReadFile(text)
	cp, _ := os.ReadFile(ex.Text)
	if len(cp) != len(orig) || countDiff(orig, cp) != 1 {
		t.Errorf("the copy has %d bytes (original %d), %d differ", len(cp), len(orig), countDiff(orig, cp))
	}
	if f, err := gguf.Open(ex.Text); err != nil {
		t.Error(err)
	} else if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); !ok || v {
		t.Errorf("add_bos_token in the copy: %v (present %v)", v, ok)
	}
	proj, _ := os.ReadFile(ex.Projector)
	origProj, _ := os.ReadFile(mmproj)
	if !bytes.Equal(proj, origProj) {
		t.Error("the projector was changed")
	}
	mf, err := os.ReadFile(ex.Modelfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM ./tiny-f16.gguf\nFROM ./tiny-mmproj.gguf\n", `TEMPLATE """{{- $first := true }}`,
		"<s><s>[INST] <<SYS>>", `SYSTEM """You are a helpful radiologist.`, "PARAMETER num_ctx 4096\n",
		"PARAMETER stop \"</s>\"\n", "PARAMETER temperature 0\n", "TEST MODEL", "exported by cxrview test"} {
		if !strings.Contains(string(mf), want) {
			t.Errorf("the Modelfile lacks %q:\n%s", want, mf)
		}
	}
	if strings.Contains(string(mf), "LICENSE") {
		t.Error("a test model's Modelfile names the CXR-LLaVA licence")
	}
	// Exporting again over the same folder works.
	if _, err := WriteOllamaModelfile(dir, spec, OllamaExportOptions{Name: "again:v2", Context: 2048}); err != nil {
		t.Errorf("export into the same folder again: %v", err)
	}

	bad := []struct {
		name string
		dir  string
		spec engine.ModelSpec
		opt  OllamaExportOptions
		want string
	}{
		{"into the model's folder", filepath.Dir(text), spec, OllamaExportOptions{}, "holds the model's own files"},
		{"swapped files", dir, engine.ModelSpec{Text: mmproj, Projector: text}, OllamaExportOptions{}, "swapped"},
		{"small context", dir, spec, OllamaExportOptions{Context: 1024}, "too small"},
		{"bad name", dir, spec, OllamaExportOptions{Name: "two words"}, "cannot be an Ollama model name"},
		{"missing file", dir, engine.ModelSpec{Text: filepath.Join(dir, "nope.gguf"), Projector: mmproj}, OllamaExportOptions{}, "nope.gguf"},
	}
	for _, c := range bad {
		if _, err := WriteOllamaModelfile(c.dir, c.spec, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestExportOllamaCommand(t *testing.T) {
	text, mmproj := tinyPair(t, "tiny")
	dir := filepath.Join(t.TempDir(), "out")
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Dirs: testDirs(t), Version: "test"}
	ctx := context.Background()
	if err := runModelExportOllama(ctx, env, []string{"--text", text, "--mmproj", mmproj, "--out", dir, "--as", "cxr-test"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ollama create cxr-test -f "+filepath.Join(dir, "Modelfile")) ||
		!strings.Contains(out.String(), "--engine ollama") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, args := range [][]string{
		nil,
		{"a", "b"},
		{"cxr-llava", "--text", text, "--mmproj", mmproj},
		{"--text", text},
		{"--text", text, "--mmproj", mmproj, "--context", "-1"},
	} {
		if err := runModelExportOllama(ctx, env, args); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// By name: looked up in the (here empty) model store.
	if err := runModelExportOllama(ctx, env, []string{"cxr-llava"}); err == nil || !strings.Contains(err.Error(), `no model named "cxr-llava"`) {
		t.Errorf("unknown name: %v", err)
	}
	// A resolver finds store models by name.
	resolve := func(name string) (engine.ModelSpec, error) {
		return engine.ModelSpec{Text: text, Projector: mmproj}, nil
	}
	out.Reset()
	if err := exportOllama(ctx, env, []string{"Tiny Model", "--out", filepath.Join(t.TempDir(), "x")}, resolve); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ollama create tiny-model ") {
		t.Errorf("by name:\n%s", out.String())
	}
}

// TestOllamaServe goes the way clinic IT does: export, `ollama create` with
// the Modelfile on a real server, then cxrview report against it.
func TestOllamaServe(t *testing.T) {
	text, mmproj := tinyPair(t, "tiny")
	_, file, _, _ := runtime.Caller(0)
	bin := ollamatest.Binary(t)
	srv := ollamatest.Start(t, bin, filepath.Join(filepath.Dir(file), "..", "lib", "ollama"))
	ctx := context.Background()

	ex, err := WriteOllamaModelfile(filepath.Join(t.TempDir(), "export"), engine.ModelSpec{Text: text, Projector: mmproj}, OllamaExportOptions{Name: "cxr-test"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Run(ctx, bin, "create", ex.Name, "-f", ex.Modelfile); err != nil {
		t.Fatalf("ollama create: %v\n%s\n%s", err, out, srv.Log())
	}
	var show struct {
		Parameters   string   `json:"parameters"`
		Capabilities []string `json:"capabilities"`
	}
	body, _ := json.Marshal(map[string]string{"model": ex.Name})
	resp, err := http.Post(srv.URL+"/api/show", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&show)
	resp.Body.Close()
	if !strings.Contains(show.Parameters, "num_ctx") || !strings.Contains(show.Parameters, `"</s>"`) || !strings.Contains(strings.Join(show.Capabilities, " "), "vision") {
		t.Errorf("the created model: parameters %q, capabilities %q", show.Parameters, show.Capabilities)
	}

	// The model made from the Modelfile evaluates the embedded runner's
	// prompt positions exactly: no extra BOS before the image.
	film := imagingtest.CRFilm(t)
	code, outJSON, ollamaErr := runCLI(t, "report", "--engine", "ollama", "--host", srv.URL, "--model", ex.Name, "--max-tokens", "6", "--format", "json", film)
	if code != 0 {
		t.Fatalf("report via Ollama: exit %d: %s\n%s", code, ollamaErr, srv.Log())
	}
	code, embJSON, errOut := runCLI(t, "report", "--text", text, "--mmproj", mmproj, "--max-tokens", "6", "--format", "json", film)
	if code != 0 {
		t.Fatalf("report embedded: exit %d: %s", code, errOut)
	}
	var viaOllama, embedded reportResult
	if err := json.Unmarshal([]byte(outJSON), &viaOllama); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(embJSON), &embedded)
	if !viaOllama.TestModel || !strings.HasPrefix(viaOllama.Stats.Backend, "Ollama at "+srv.URL) || viaOllama.Stats.PromptTokens != embedded.Stats.PromptTokens {
		t.Errorf("via Ollama: test model %v, backend %q, %d prompt positions (embedded %d)",
			viaOllama.TestModel, viaOllama.Stats.Backend, viaOllama.Stats.PromptTokens, embedded.Stats.PromptTokens)
	}
	if strings.Contains(ollamaErr, "note:") {
		t.Errorf("notices for an exported model: %s", ollamaErr)
	}

	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--engine", "cloud", film}, 2, "want embedded or ollama"},
		{[]string{"--engine", "ollama", film}, 2, "--model"},
		{[]string{"--engine", "ollama", "--model", ex.Name, "--text", text, film}, 2, "not --text"},
		{[]string{"--model", ex.Name, "--text", text, "--mmproj", mmproj, film}, 2, "not both"},
		{[]string{"--engine", "ollama", "--model", ex.Name, "--threads", "3", film}, 2, "Ollama server's to choose"},
		{[]string{"--engine", "ollama", "--host", "ftp://x", "--model", ex.Name, film}, 2, "scheme"},
		{[]string{"--engine", "ollama", "--host", srv.URL, "--model", "nope", film}, 1, `no model "nope"`},
	}
	for _, c := range bad {
		code, _, errOut := runCLI(t, append([]string{"report"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("report %q: exit %d, %q; want exit %d mentioning %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
