package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLabelStdin(t *testing.T) {
	env, out, stderr := findingsEnv("FINDINGS: Moderate cardiomegaly. No pleural effusion.\nIMPRESSION: Possible right lower lobe pneumonia.")
	if code := Run(context.Background(), env, []string{"label"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := out.String()
	for _, want := range []string{
		"OBSERVATION", "Cardiomegaly                positive",
		`"Moderate cardiomegaly."`, "Pleural Effusion            negative", "Pneumonia                   uncertain",
		"Pneumothorax                -", "No Finding                  -",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 15 {
		t.Errorf("want a header and 14 rows, got %d lines:\n%s", n, got)
	}
}

func TestLabelJSONFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	b := filepath.Join(dir, "b.txt")
	evalWriteFile(t, a, "No acute cardiopulmonary process.")
	evalWriteFile(t, b, "Small left pneumothorax.\nChest tube in place.")
	env, out, stderr := findingsEnv("")
	if code := Run(context.Background(), env, []string{"label", a, "--json", b}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", out)
	}
	var r struct {
		File     string            `json:"file"`
		Labels   map[string]string `json:"labels"`
		CheXpert map[string]string `json:"chexpert"`
		Findings []struct {
			Observation  string `json:"observation"`
			Status       string `json:"status"`
			Sentence     struct{ Start, End int }
			SentenceText string `json:"sentence_text"`
			PhraseText   string `json:"phrase_text"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.File != b || r.Labels["Pneumothorax"] != "positive" || r.Labels["Edema"] != "not_mentioned" ||
		r.CheXpert["Pneumothorax"] != "1" || r.CheXpert["Edema"] != "" || r.Labels["No Finding"] != "not_mentioned" {
		t.Errorf("labels: %+v", r)
	}
	if len(r.Findings) != 2 || r.Findings[0].Observation != "Pneumothorax" || r.Findings[0].SentenceText != "Small left pneumothorax." ||
		r.Findings[0].Sentence.Start != 0 || r.Findings[0].Sentence.End != 24 || r.Findings[1].PhraseText != "tube" {
		t.Errorf("findings: %+v", r.Findings)
	}
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.Labels["No Finding"] != "positive" {
		t.Errorf("first report: %v %+v", err, r.Labels)
	}
}

func TestLabelBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "image.dcm")
	if err := os.WriteFile(bin, append(make([]byte, 128), "DICM\x00\x01"...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"label", filepath.Join(dir, "missing.txt")}, 1, "missing.txt: no such file"},
		{[]string{"label", bin}, 1, "image.dcm: binary data, not report text"},
		{[]string{"label", dir}, 1, "is a folder"},
		{[]string{"label", "--sections", "middle"}, 2, "sections \"middle\""},
		{[]string{"label", "--yaml"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		env, out, stderr := findingsEnv("")
		if code := Run(context.Background(), env, tt.args); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", tt.args, out)
		}
	}
}
