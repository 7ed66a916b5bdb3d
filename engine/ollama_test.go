//go:build unix

package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cxrview/engine"
	"cxrview/engine/cxr/cxrtest"
	"cxrview/engine/gguf"
	"cxrview/engine/ollamatest"
)

// TestOllama runs the Ollama backend against a real server built from the
// ollama module in go.mod, and requires the same greedy text as the
// embedded runner.
func TestOllama(t *testing.T) {
	bin := ollamatest.Binary(t)
	srv := ollamatest.Start(t, bin, libDir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the Ollama server's log:\n%s", srv.Log())
		}
	})
	ctx := context.Background()
	dir := t.TempDir()
	cxr, llava := tinySpec(t, "tiny"), tinySpec(t, "tiny-llava")

	exported := func(text string) string {
		dst := filepath.Join(dir, filepath.Base(text))
		if err := engine.CopyWithoutAddBOS(dst, text); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	create := func(name string, tmpl engine.Template, files ...string) {
		extra := map[string]any{}
		if tmpl != "" {
			ot, err := engine.OllamaTemplateFor(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			extra = map[string]any{"template": ot.Template, "system": ot.System,
				"parameters": map[string]any{"stop": ot.Stop, "num_ctx": 2048}}
		}
		if err := srv.Create(ctx, name, files, extra); err != nil {
			t.Fatalf("create %s: %v\n%s", name, err, srv.Log())
		}
	}
	create("cxr-tiny", engine.TemplateCXRLLaVA, exported(cxr.Text), cxr.Projector)
	create("llava-tiny", engine.TemplateVicuna, exported(llava.Text), llava.Projector)
	create("cxr-tiny-unmodified", "", cxr.Text, cxr.Projector)
	create("text-only", "", exported(cxr.Text))

	newOllama := func(t *testing.T) *engine.Ollama {
		o, err := engine.NewOllama(srv.URL, engine.WithOllamaTimeouts(5*time.Second, 2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	ollamaSpec := func(spec engine.ModelSpec, name string) engine.ModelSpec {
		spec.Text, spec.Projector = name, ""
		return spec
	}

	t.Run("same greedy text as the embedded runner", func(t *testing.T) {
		// The server picks its own thread counts (one per physical core for
		// the model, 4 for the vision encoder); ggml's CPU kernels split
		// work by output rows, so the count does not change any value. The
		// embedded runner uses 1 thread for one model and 2 for the other.
		cxr1 := cxr
		cxr1.Threads = 1
		for _, c := range []struct {
			model string
			spec  engine.ModelSpec
		}{{"cxr-tiny", cxr1}, {"llava-tiny", llava}} {
			r := newRunner(t)
			want, err := r.Load(ctx, c.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			o := newOllama(t)
			got, err := o.Load(ctx, ollamaSpec(c.spec, c.model), nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.model, err, srv.Log())
			}
			if got.Template != want.Template || got.General != want.General || got.TestModel != want.TestModel ||
				got.BlockRotate != want.BlockRotate || got.ImageSize != want.ImageSize || got.ImageTokens != want.ImageTokens ||
				got.Embedding != want.Embedding || got.Layers != want.Layers {
				t.Errorf("%s: Ollama describes the model as\n%+v\nthe embedded runner as\n%+v", c.model, got, want)
			}
			if len(got.Notices) > 0 || !strings.HasPrefix(got.Backend, "Ollama at "+srv.URL) {
				t.Errorf("%s: notices %q, backend %q", c.model, got.Notices, got.Backend)
			}

			req := reportRequest(t, want.ImageSize, 48)
			follow := func(first string) engine.Request {
				f := req
				f.Turns = []engine.Turn{{User: req.Turns[0].User, Assistant: first}, {User: "Is there a pneumothorax?"}}
				return f
			}
			wantText, wantSt := generate(t, r, req)
			gotText, gotSt := generate(t, o, req)
			compareRuns(t, c.model+" report", c.spec.Text, wantText, gotText, wantSt, gotSt)
			wantText2, wantSt2 := generate(t, r, follow(wantText))
			gotText2, gotSt2 := generate(t, o, follow(wantText))
			compareRuns(t, c.model+" follow-up", c.spec.Text, wantText2, gotText2, wantSt2, gotSt2)
		}
	})

	t.Run("an unmodified model gets one more BOS and a notice", func(t *testing.T) {
		r := newRunner(t)
		if _, err := r.Load(ctx, cxr, nil); err != nil {
			t.Fatal(err)
		}
		o := newOllama(t)
		info, err := o.Load(ctx, ollamaSpec(cxr, "cxr-tiny-unmodified"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Notices) != 1 || !strings.Contains(info.Notices[0], "export-ollama") {
			t.Errorf("notices %q, want one that says how to re-export", info.Notices)
		}
		req := reportRequest(t, info.ImageSize, 8)
		_, wantSt := generate(t, r, req)
		_, gotSt := generate(t, o, req)
		// Ollama's runner keeps the BOS chunk mtmd returns before the image.
		if gotSt.PromptTokens != wantSt.PromptTokens+1 {
			t.Errorf("the unmodified model evaluated %d prompt positions, the embedded runner %d: want exactly one more (the BOS before the image)",
				gotSt.PromptTokens, wantSt.PromptTokens)
		}
		t.Logf("prompt positions: embedded %d, Ollama with add_bos_token=true %d", wantSt.PromptTokens, gotSt.PromptTokens)
	})

	t.Run("the Modelfile template renders the same prompt", func(t *testing.T) {
		for _, c := range []struct {
			model string
			tmpl  engine.Template
		}{{"cxr-tiny", engine.TemplateCXRLLaVA}, {"llava-tiny", engine.TemplateVicuna}} {
			q, _ := engine.PresetReport.Question("")
			turns := []engine.Turn{{User: q, Assistant: "The heart is normal."}, {User: "Is there a pneumothorax?"}}
			want, err := engine.RenderPrompt(c.tmpl, turns)
			if err != nil {
				t.Fatal(err)
			}
			want = "<s>" + strings.Replace(want, engine.ImageMarker, "[img-0]", 1)
			var b bytes.Buffer
			png.Encode(&b, cxrtest.Image(8))
			img := base64.StdEncoding.EncodeToString(b.Bytes())
			got := renderChat(t, srv.URL, map[string]any{"model": c.model, "_debug_render_only": true, "messages": []map[string]any{
				{"role": "user", "content": turns[0].User, "images": []string{img}},
				{"role": "assistant", "content": turns[0].Assistant},
				{"role": "user", "content": turns[1].User},
			}})
			if got != want {
				t.Errorf("%s: the Modelfile template renders\n%q\nRenderPrompt\n%q", c.model, got, want)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		o := newOllama(t)
		_, err := o.Load(ctx, ollamaSpec(cxr, "no-such-model"), nil)
		if !errors.Is(err, engine.ErrOllamaNoModel) || !strings.Contains(err.Error(), "cxr-tiny") {
			t.Errorf("missing model: %v (want ErrOllamaNoModel listing the server's models)", err)
		}
		_, err = o.Load(ctx, ollamaSpec(cxr, "text-only"), nil)
		if err == nil || !strings.Contains(err.Error(), "not a vision model") {
			t.Errorf("text-only model: %v", err)
		}
		small := ollamaSpec(cxr, "cxr-tiny")
		small.Context = 32
		if _, err := o.Load(ctx, small, nil); err == nil || !strings.Contains(err.Error(), "context of 32 tokens") {
			t.Errorf("context 32: %v", err)
		}
		if _, err := o.Generate(ctx, reportRequest(t, 64, 4), nil); !errors.Is(err, engine.ErrNoModel) {
			t.Errorf("generate without a model: %v", err)
		}

		// Ollama gives a vision model at least 2,048 tokens of context,
		// whatever a request asks for; Load reports what the server holds.
		info, err := o.Load(ctx, ollamaSpec(llava, "llava-tiny"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.Context != 2048 {
			t.Errorf("context %d, want the server's 2048", info.Context)
		}
		q, _ := engine.PresetReport.Question("")
		conversation := func(answer, maxTokens int) engine.Request {
			return engine.Request{Image: cxrtest.Image(info.ImageSize), MaxTokens: maxTokens, Turns: []engine.Turn{
				{User: q, Assistant: strings.Repeat("abcdefghij", answer/10+1)[:answer]}, {User: "And the heart?"}}}
		}
		// A prompt longer than the context: the server must refuse rather
		// than cut it, as it would by default.
		if _, err := o.Generate(ctx, conversation(2200, 8), nil); !errors.Is(err, engine.ErrContextTooBig) {
			t.Errorf("a prompt longer than the context: %v", err)
		}
		// Room for the prompt and 10 tokens, but 40 are asked for: the
		// server stops, and that is an error, not a short draft.
		_, st := generate(t, o, conversation(1000, 1))
		answer := 1000 + info.Context - 10 - st.PromptTokens
		if _, st := generate(t, o, conversation(answer, 1)); st.PromptTokens != info.Context-10 {
			t.Fatalf("the conversation takes %d positions, want %d", st.PromptTokens, info.Context-10)
		}
		_, err = o.Generate(ctx, conversation(answer, 40), nil)
		if !errors.Is(err, engine.ErrContextTooBig) {
			t.Errorf("40 new tokens after %d prompt positions in a context of %d: %v", info.Context-10, info.Context, err)
		}
		t.Logf("context full: %v", err)

		bad := []struct {
			name string
			req  engine.Request
			want string
		}{
			{"wrong image size", engine.Request{Image: cxrtest.Image(48), Turns: []engine.Turn{{User: "What is this?"}}}, "48x48"},
			{"image marker in the text", engine.Request{Image: cxrtest.Image(info.ImageSize), Turns: []engine.Turn{{User: "Compare with [img-1]."}}}, "[img-1]"},
			{"no image", engine.Request{Turns: []engine.Turn{{User: "Why?"}}}, "no image"},
		}
		for _, c := range bad {
			if _, err := o.Generate(ctx, c.req, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
			}
		}
	})

	t.Run("cancel mid-stream", func(t *testing.T) {
		o := newOllama(t)
		spec := ollamaSpec(cxr, "cxr-tiny")
		spec.Context = 4096
		info, err := o.Load(ctx, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var cancelledAt time.Time
		pieces := 0
		st, err := o.Generate(cctx, reportRequest(t, info.ImageSize, 3000), func(engine.Piece) {
			pieces++
			if pieces == 5 {
				cancelledAt = time.Now()
				cancel()
			}
		})
		returned := time.Since(cancelledAt)
		if !errors.Is(err, context.Canceled) || st.StopReason != "cancelled" || pieces != 5 {
			t.Fatalf("cancelled generation: err %v, %d pieces, stats %+v", err, pieces, st)
		}
		t.Logf("Generate returned %v after the cancel", returned)
		text, st2 := generate(t, o, reportRequest(t, info.ImageSize, 4))
		if text == "" || st2.GenTokens != 4 {
			t.Errorf("after cancel: %q %+v", text, st2)
		}
	})

	t.Run("server down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		o, err := engine.NewOllama(addr, engine.WithOllamaTimeouts(2*time.Second, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		_, err = o.Load(ctx, ollamaSpec(cxr, "cxr-tiny"), nil)
		if !errors.Is(err, engine.ErrOllamaUnreachable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("no server: %v", err)
		}

		// A server that goes away after loading.
		o2 := newOllama(t)
		info, err := o2.Load(ctx, ollamaSpec(cxr, "cxr-tiny"), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.Stop(t)
		if _, err := o2.Generate(ctx, reportRequest(t, info.ImageSize, 4), nil); !errors.Is(err, engine.ErrOllamaUnreachable) {
			t.Errorf("generate after the server stopped: %v", err)
		}
	})
}

// compareRuns requires two generations to have evaluated the same prompt
// positions and generated the same tokens, and Ollama's text to be exactly
// what its runner makes of the embedded runner's tokens.
//
// The texts themselves differ where a random-weight model writes bytes that
// are not UTF-8: the embedded runner, like the reference decoder, shows a
// replacement character, while Ollama's runner (flushPending) cuts invalid
// bytes off the end of each block it sends, with any text after them in
// the same block. Ollama's stream does not carry what was cut, so no client
// can restore it. The test therefore predicts Ollama's text from the
// embedded runner's token ids with that rule, exactly, and requires the two
// texts to be equal whenever the embedded text is valid UTF-8.
func compareRuns(t *testing.T, what, textModel, wantText, gotText string, want, got engine.Stats) {
	t.Helper()
	if got.PromptTokens != want.PromptTokens || got.GenTokens != want.GenTokens || got.StopReason != want.StopReason {
		t.Errorf("%s: Ollama evaluated %d prompt positions and generated %d tokens (%s); the embedded runner %d and %d (%s)",
			what, got.PromptTokens, got.GenTokens, got.StopReason, want.PromptTokens, want.GenTokens, want.StopReason)
	}
	if wantText == "" {
		t.Errorf("%s: nothing generated", what)
	}
	if predicted := ollamaStreamText(t, textModel, want.TokenIDs); gotText != predicted {
		t.Errorf("%s: Ollama wrote\n%q\nfor the embedded runner's tokens it should write\n%q\n(embedded text %q)", what, gotText, predicted, wantText)
	}
	if !strings.ContainsRune(wantText, utf8.RuneError) && gotText != wantText {
		t.Errorf("%s: Ollama wrote\n%q\nthe embedded runner\n%q", what, gotText, wantText)
	}
	t.Logf("%s: %d prompt positions, %d tokens; embedded %q, Ollama %q", what, got.PromptTokens, got.GenTokens, wantText, gotText)
}

// ollamaStreamText is the text the Ollama client passes on for generated
// token ids: each token's piece as llama.cpp writes it with special tokens
// shown (Ollama's TokenToPiece), held back while the pending text ends in an
// incomplete UTF-8 sequence, each flushed block cut back to valid UTF-8
// (runner/llamarunner, v0.17.4); then the client's own rules: special-token
// chunks dropped, the answer's leading space removed.
func ollamaStreamText(t *testing.T, textModel string, ids []int) string {
	t.Helper()
	f, err := gguf.Open(textModel)
	if err != nil {
		t.Fatal(err)
	}
	tokens := f.Strings("tokenizer.ggml.tokens")
	types, _ := f.KV["tokenizer.ggml.token_type"].Data.([]int32)
	if len(tokens) == 0 || len(types) != len(tokens) {
		t.Fatalf("%s: no vocabulary to decode with", textModel)
	}
	piece := func(id int) string {
		switch types[id] {
		case 1: // normal
			return strings.ReplaceAll(tokens[id], "▁", " ")
		case 6: // byte
			var b byte
			if _, err := fmt.Sscanf(tokens[id], "<0x%02X>", &b); err != nil {
				t.Fatalf("byte token %q", tokens[id])
			}
			return string([]byte{b})
		}
		return tokens[id] // unknown, control, user-defined: their text
	}
	var chunks, pending []string
	flush := func() {
		joined := strings.Join(pending, "")
		pending = nil
		for !utf8.ValidString(joined) {
			joined = joined[:len(joined)-1]
		}
		if joined != "" {
			chunks = append(chunks, joined)
		}
	}
	for _, id := range ids {
		pending = append(pending, piece(id))
		if !incompleteUnicode(strings.Join(pending, "")) {
			flush()
		}
	}
	flush()
	var b strings.Builder
	first := true
	for _, c := range chunks {
		if c == "<s>" || c == "<unk>" {
			continue
		}
		if first {
			c = strings.TrimPrefix(c, " ")
			first = c == ""
		}
		b.WriteString(c)
	}
	return b.String()
}

// incompleteUnicode is Ollama's runner/common.IncompleteUnicode.
func incompleteUnicode(s string) bool {
	incomplete := false
	for i := 1; i < 5 && i <= len(s); i++ {
		c := s[len(s)-i]
		if c&0xc0 == 0x80 {
			continue
		}
		switch {
		case c&0xe0 == 0xc0:
			incomplete = i < 2
		case c&0xf0 == 0xe0:
			incomplete = i < 3
		case c&0xf8 == 0xf0:
			incomplete = i < 4
		}
		break
	}
	return incomplete
}

// renderChat asks the server how it would render a chat with the model's
// own template.
func renderChat(t *testing.T, url string, req map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(url+"/api/chat", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error     string `json:"error"`
		DebugInfo struct {
			RenderedTemplate string `json:"rendered_template"`
		} `json:"_debug_info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Error != "" {
		t.Fatalf("render: %v %s", err, out.Error)
	}
	return out.DebugInfo.RenderedTemplate
}

func TestCopyWithoutAddBOS(t *testing.T) {
	dir := t.TempDir()
	src := tinySpec(t, "tiny").Text
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "out.gguf")
	if err := engine.CopyWithoutAddBOS(dst, src); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(orig) {
		t.Fatalf("size %d, want %d", len(got), len(orig))
	}
	var diff []int
	for i := range got {
		if got[i] != orig[i] {
			diff = append(diff, i)
		}
	}
	f, err := gguf.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); !ok || v || len(diff) != 1 {
		t.Errorf("add_bos_token %v (present %v); %d bytes differ, want 1", v, ok, len(diff))
	}

	// A file without the key gets it, and keeps every tensor's bytes.
	noKey := filepath.Join(dir, "nokey.gguf")
	writeWithoutKey(t, noKey, orig, diff[0])
	dst2 := filepath.Join(dir, "out2.gguf")
	if err := engine.CopyWithoutAddBOS(dst2, noKey); err != nil {
		t.Fatal(err)
	}
	a, _ := gguf.Open(noKey)
	b, err := gguf.Open(dst2)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := b.Bool("tokenizer.ggml.add_bos_token"); !ok || v {
		t.Errorf("added key: %v %v", v, ok)
	}
	if len(b.KV) != len(a.KV)+1 || len(b.Tensors) != len(a.Tensors) {
		t.Errorf("%d keys and %d tensors, want %d and %d", len(b.KV), len(b.Tensors), len(a.KV)+1, len(a.Tensors))
	}
	ab, _ := os.ReadFile(noKey)
	bb, _ := os.ReadFile(dst2)
	if !bytes.Equal(ab[a.DataOffset:], bb[b.DataOffset:]) || b.DataOffset%32 != 0 {
		t.Errorf("tensor data moved or changed (data at %d, was %d)", b.DataOffset, a.DataOffset)
	}
	// And llama.cpp reads it: the embedded runner loads the pair.
	proj := tinySpec(t, "tiny").Projector
	r := newRunner(t)
	if _, err := r.Load(context.Background(), engine.ModelSpec{Text: dst2, Projector: proj, Context: 1024, Threads: 2}, nil); err != nil {
		t.Errorf("load the copy: %v", err)
	}

	if err := engine.CopyWithoutAddBOS(filepath.Join(dir, "x.gguf"), filepath.Join(dir, "missing.gguf")); err == nil {
		t.Error("a missing file gave no error")
	}
}

// writeWithoutKey writes a GGUF file like orig without its add_bos_token
// key (whose value byte is at valueOff), the header re-padded before the
// unchanged tensor data.
func writeWithoutKey(t *testing.T, path string, orig []byte, valueOff int) {
	t.Helper()
	const key = "tokenizer.ggml.add_bos_token"
	keyStart := valueOff - 4 - len(key) - 8 // length, key, type
	if string(orig[keyStart+8:keyStart+8+len(key)]) != key {
		t.Fatal("add_bos_token is not where expected")
	}
	f, err := gguf.Read(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	// The tensor table ends after the last tensor's entry: name, dimension
	// count, dimensions, type, offset.
	last := f.Tensors[len(f.Tensors)-1]
	entry := binary.LittleEndian.AppendUint64(nil, uint64(len(last.Name)))
	entry = append(entry, last.Name...)
	at := bytes.LastIndex(orig[:f.DataOffset], entry)
	if at < 0 {
		t.Fatal("the last tensor's entry is not in the header")
	}
	infoEnd := at + len(entry) + 4 + 8*len(last.Shape) + 4 + 8
	var hdr []byte
	hdr = append(hdr, orig[:keyStart]...)
	hdr = append(hdr, orig[valueOff+1:infoEnd]...)
	binary.LittleEndian.PutUint64(hdr[16:], binary.LittleEndian.Uint64(orig[16:])-1)
	hdr = append(hdr, make([]byte, (32-len(hdr)%32)%32)...)
	if err := os.WriteFile(path, append(hdr, orig[f.DataOffset:]...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseOllamaHost(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"", "http://127.0.0.1:11434", ""},
		{"gpu-server", "http://gpu-server:11434", ""},
		{"gpu-server:8080", "http://gpu-server:8080", ""},
		{"10.0.0.5", "http://10.0.0.5:11434", ""},
		{"[fe80::1]:11434", "http://[fe80::1]:11434", ""},
		{"http://gpu-server", "http://gpu-server:80", ""},
		{"https://ai.clinic.example/ollama/", "https://ai.clinic.example:443/ollama", ""},
		{" http://gpu-server:11434 ", "http://gpu-server:11434", ""},
		{"ftp://gpu-server", "", "scheme"},
		{"http://", "", "not an Ollama server address"},
		{"http://gpu-server:11434/?x=1", "", "not an Ollama server address"},
	}
	for _, c := range cases {
		got, err := engine.ParseOllamaHost(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %q, %v; want an error mentioning %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// fakeOllama answers like an Ollama server with a model described by show;
// generate, when set, writes /api/generate's streamed answer.
func fakeOllama(t *testing.T, show map[string]any, generate func(w http.ResponseWriter, r *http.Request, flush func())) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		switch r.URL.Path {
		case "/api/show":
			json.NewEncoder(w).Encode(show)
		case "/api/ps":
			w.Write([]byte(`{"models":[]}`))
		case "/api/generate":
			if req["prompt"] == nil || generate == nil {
				w.Write([]byte(`{"done":true,"done_reason":"load"}`))
				return
			}
			generate(w, r, w.(http.Flusher).Flush)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// tinyShow is /api/show for a CXR-LLaVA-like model exported by cxrview.
func tinyShow() map[string]any {
	return map[string]any{
		"capabilities": []string{"completion", "vision"},
		"model_info": map[string]any{"general.architecture": "llama", "llama.embedding_length": 64, "llama.block_count": 2,
			"llama.context_length": 4096, "tokenizer.ggml.model": "llama", "tokenizer.ggml.add_bos_token": false, "tokenizer.ggml.bos_token_id": 1},
		"projector_info": map[string]any{"general.architecture": "clip", "clip.projector_type": "mlp", "clip.vision.image_size": 64,
			"clip.vision.patch_size": 16, engine.KeyFamily: engine.FamilyCXRLLaVAv2, engine.KeyCLSLayout: engine.LayoutCLSLastSwap},
	}
}

func TestOllamaModelChecks(t *testing.T) {
	edit := func(f func(m, p map[string]any)) map[string]any {
		s := tinyShow()
		f(s["model_info"].(map[string]any), s["projector_info"].(map[string]any))
		return s
	}
	cases := []struct {
		name string
		show map[string]any
		want string // error, or "" for success
	}{
		{"exported CXR-LLaVA", tinyShow(), ""},
		{"no projector", func() map[string]any { s := tinyShow(); delete(s, "projector_info"); return s }(), "not a vision model"},
		{"text only", func() map[string]any { s := tinyShow(); s["capabilities"] = []string{"completion"}; return s }(), "not a vision model"},
		{"other architecture", edit(func(m, p map[string]any) { m["general.architecture"] = "qwen2" }), `architecture "qwen2"`},
		{"other projector", edit(func(m, p map[string]any) { p["clip.projector_type"] = "ldp" }), `projector type "ldp"`},
		{"unknown CLS layout", edit(func(m, p map[string]any) { p[engine.KeyCLSLayout] = "cls_first_v2" }), "cls_first_v2"},
		{"unknown family", edit(func(m, p map[string]any) { p[engine.KeyFamily] = "rad-llama" }), `family "rad-llama"`},
		{"odd image size", edit(func(m, p map[string]any) { p["clip.vision.image_size"] = 60 }), "do not make a grid"},
		{"no BOS for another tokenizer", edit(func(m, p map[string]any) { m["tokenizer.ggml.model"] = "gpt2" }), "cannot tell how to write"},
	}
	for _, c := range cases {
		o, err := engine.NewOllama(fakeOllama(t, c.show, nil))
		if err != nil {
			t.Fatal(err)
		}
		info, err := o.Load(context.Background(), engine.ModelSpec{Text: "m"}, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && (info.Template != engine.TemplateCXRLLaVA || !info.BlockRotate || info.ImageTokens != 16 || info.Context != engine.DefaultContext || len(info.Notices) != 0):
			t.Errorf("%s: %+v", c.name, info)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
}

func TestOllamaStreamFailures(t *testing.T) {
	req := engine.Request{Image: cxrtest.Image(64), Turns: []engine.Turn{{User: "Describe."}}, MaxTokens: 8}
	load := func(t *testing.T, url string) *engine.Ollama {
		o, err := engine.NewOllama(url, engine.WithOllamaTimeouts(time.Second, 300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Load(context.Background(), engine.ModelSpec{Text: "m"}, nil); err != nil {
			t.Fatal(err)
		}
		return o
	}
	cases := []struct {
		name string
		gen  func(w http.ResponseWriter, r *http.Request, flush func())
		want string
	}{
		{"stalls after a piece", func(w http.ResponseWriter, r *http.Request, flush func()) {
			w.Write([]byte(`{"response":" The"}` + "\n"))
			flush()
			<-r.Context().Done() // the client gives up and hangs up
		}, "sent nothing for 300ms"},
		{"silent from the start", func(w http.ResponseWriter, r *http.Request, flush func()) { <-r.Context().Done() }, "sent nothing for 300ms"},
		{"ends early", func(w http.ResponseWriter, r *http.Request, flush func()) {
			w.Write([]byte(`{"response":" The"}` + "\n"))
		}, "ended the answer early"},
		{"error in the stream", func(w http.ResponseWriter, r *http.Request, flush func()) {
			w.Write([]byte(`{"error":"model runner has unexpectedly stopped"}` + "\n"))
		}, "unexpectedly stopped"},
		{"input too long", func(w http.ResponseWriter, r *http.Request, flush func()) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"the input length exceeds the context length"}`))
		}, "does not fit the context"},
		{"no image seen", func(w http.ResponseWriter, r *http.Request, flush func()) {
			w.Write([]byte(`{"response":"x"}` + "\n" + `{"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":2}` + "\n"))
		}, "did not see the image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := load(t, fakeOllama(t, tinyShow(), c.gen))
			var text strings.Builder
			start := time.Now()
			_, err := o.Generate(context.Background(), req, func(p engine.Piece) { text.WriteString(p.Text) })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want an error mentioning %q", err, c.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if strings.HasPrefix(text.String(), " ") {
				t.Errorf("the answer's leading space was kept: %q", text.String())
			}
		})
	}
}
