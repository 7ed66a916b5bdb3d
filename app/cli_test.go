package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/app/apptest"
	"cxrview/imaging/imagingtest"
)

// runCLI executes a command line the way main does, in a fresh Env, with
// the engine binary set up for commands that run models.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("CXRVIEW_ENGINE", apptest.EngineBinary(t))
	env, out, errb := testEnv(t)
	code = run(t, env, args...)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range Commands() {
		if c.Hidden == strings.Contains(out, "  "+c.Name+" ") {
			t.Errorf("command %s hidden=%v but listed=%v", c.Name, c.Hidden, !c.Hidden)
		}
		code, out, _ := runCLI(t, c.Name, "--help")
		if code != 0 || !strings.Contains(out, "usage: cxrview "+c.Name) {
			t.Errorf("%s --help: exit %d, %q", c.Name, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "report", "--max-tokens", "x"); code != 2 || !strings.Contains(errOut, "usage: cxrview report") {
		t.Errorf("bad flag: exit %d, %q", code, errOut)
	}
}

func TestReportCommand(t *testing.T) {
	text, mmproj := tinyPair(t, "tiny")
	film := imagingtest.CRFilm(t)
	code, out, errOut := runCLI(t, "report", "--text", text, "--mmproj", mmproj, "--max-tokens", "12", film)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "TEST MODEL") {
		t.Errorf("a test model's text is not labelled TEST MODEL:\n%s", out)
	}
	code, out, errOut = runCLI(t, "report", "--text", text, "--mmproj", mmproj, "--max-tokens", "12", "--format", "json", film, film)
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines for 2 files", len(lines))
	}
	var res reportResult
	if err := json.Unmarshal([]byte(lines[0]), &res); err != nil {
		t.Fatal(err)
	}
	if !res.TestModel || res.Text == "" || res.ID == "" || res.Stats.GenTokens == 0 || res.Window != [2]float64{511, 1023} {
		t.Errorf("result %+v", res)
	}
	if n := strings.Count(lines[0], "-200"); n != 1 {
		t.Errorf("the image marker -200 appears %d times", n)
	}
	var res2 reportResult
	json.Unmarshal([]byte(lines[1]), &res2)
	if res2.Text != res.Text {
		t.Errorf("greedy reports of the same film differ: %q vs %q", res.Text, res2.Text)
	}
}

func TestReportStoreAndFiles(t *testing.T) {
	t.Setenv("CXRVIEW_ENGINE", apptest.EngineBinary(t))
	env, out, errb := testEnv(t)
	text, mmproj := tinyPair(t, "tiny")
	if code := run(t, env, "model", "import", text, mmproj, "--name", "tiny"); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	film := imagingtest.CRFilm(t)
	dir := t.TempDir()
	for _, f := range []string{"md", "pdf"} {
		if code := run(t, env, "report", "--model", "tiny", "--max-tokens", "8", "--format", f, "--out", dir, film); code != 0 {
			t.Fatalf("--format %s: exit %d: %s", f, code, errb)
		}
		path := strings.TrimSpace(out.String())
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(path, "."+f) {
			t.Fatalf("--format %s wrote %q: %v", f, path, err)
		}
		if f == "md" && !strings.Contains(string(b), "TEST MODEL") {
			t.Errorf("Markdown of a test model's draft lacks the TEST MODEL mark:\n%s", b)
		}
	}
	// A test model's text is never a report: SR and FHIR are refused.
	if code := run(t, env, "report", "--model", "tiny", "--max-tokens", "8", "--format", "sr", "--out", dir, film); code != 1 || !strings.Contains(errb.String(), "TEST MODEL") {
		t.Errorf("SR of a test model: exit %d, %q", code, errb)
	}
	// The draft is where the viewer finds it; an edited one is not replaced
	// unless asked.
	st, err := OpenStudy(film)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSession(env.Dirs, st, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Draft().AI == nil || s.Text() == "" {
		t.Fatalf("no AI draft saved by report: %+v", s.Draft())
	}
	s.SetText("Heart size normal. Typed by the reader.")
	s.Close()
	if code := run(t, env, "report", "--model", "tiny", "--max-tokens", "8", film); code != 1 || !strings.Contains(errb.String(), "4.dcm") {
		t.Errorf("edited draft: exit %d, %q", code, errb)
	}
	if code := run(t, env, "report", "--model", "tiny", "--max-tokens", "8", "--replace", film); code != 0 {
		t.Errorf("--replace: exit %d, %q", code, errb)
	}
	if code := run(t, env, "report", "--model", "nosuch", film); code != 1 || !strings.Contains(errb.String(), "nosuch") {
		t.Errorf("unknown model: exit %d, %q", code, errb)
	}
}

func TestReportBadInput(t *testing.T) {
	text, mmproj := tinyPair(t, "tiny")
	film := imagingtest.CRFilm(t)
	junk := filepath.Join(t.TempDir(), "junk.dcm")
	os.WriteFile(junk, []byte("DICM? no."), 0o644)
	// One bad file among good ones: the others are reported, exit 1, one
	// line naming the bad file.
	code, out, errOut := runCLI(t, "report", "--text", text, "--mmproj", mmproj, "--max-tokens", "4", junk, film)
	if code != 1 || !strings.Contains(errOut, "junk.dcm") || !strings.Contains(out, "TEST MODEL") {
		t.Errorf("bad file: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	code, _, errOut = runCLI(t, "report", "--text", mmproj, "--mmproj", text, film)
	if code != 1 || !strings.Contains(errOut, "swapped") {
		t.Errorf("swapped model files: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "report", "--text", text, film)
	if code != 2 || !strings.Contains(errOut, "--mmproj") {
		t.Errorf("missing projector: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "report", "--text", text, "--mmproj", mmproj, "--window", "40", film)
	if code != 2 || !strings.Contains(errOut, "center,width") {
		t.Errorf("bad window: exit %d, %q", code, errOut)
	}
}

func TestVersionAndBench(t *testing.T) {
	code, out, errOut := runCLI(t, "version", "--json")
	if code != 0 {
		t.Fatalf("version: exit %d: %s", code, errOut)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Engine == nil || v.Engine.LlamaCommit == "" || v.Engine.OllamaVersion != "v0.17.4" || len(v.Engine.Devices) == 0 {
		t.Errorf("version: %+v", v)
	}
	code, out, errOut = runCLI(t, "bench", "--shape", "tiny", "--type", "q8_0", "--tokens", "20", "--json")
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, errOut)
	}
	var b benchResult
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if b.GenTokens != 20 || b.PromptTokens < 16 || b.DecodeTPS <= 0 || b.PrefillTPS <= 0 || b.ModelBytes == 0 {
		t.Errorf("bench: %+v", b)
	}
}
