package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// findingsEnv returns an Env for command tests and its output buffers.
func findingsEnv(stdin string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut}, &out, &errOut
}

// evalFixture is a small generated-report set and its reference, with
// the labels each text is expected to get written beside it.
var evalFixture = []struct {
	id, file  string // as in generated.jsonl
	truthID   string
	generated string // → its labels for the sixFindings findings
	reference string // → the reference labels, also given as label columns
	labels    map[string]string
}{
	{"r01", "", "r01", "Moderate cardiomegaly. Small left pleural effusion. No pneumothorax.", // CM 1, PE 1, PX 0
		"Moderate cardiomegaly. Small left pleural effusion. No pneumothorax or pulmonary edema.",
		map[string]string{"Cardiomegaly": "1", "Pleural Effusion": "1", "Pneumothorax": "0", "Edema": "0"}},
	{"r02", "", "r02", "Heart size is normal. No pleural effusion or pneumothorax.", // CM 0, PE 0, PX 0
		"Heart size is normal. Small right pleural effusion. No pneumothorax.",
		map[string]string{"Cardiomegaly": "0", "Pleural Effusion": "1", "Pneumothorax": "0"}},
	{"r03", "", "r03", "Right lower lobe consolidation concerning for pneumonia. No effusion.", // CO 1, PN -1, PE 0
		"Right lower lobe consolidation consistent with pneumonia. No pleural effusion.",
		map[string]string{"Consolidation": "1", "Pneumonia": "1", "Pleural Effusion": "0"}},
	{"r04", "", "r04", "Mild pulmonary edema. Moderate cardiomegaly.", // ED 1, CM 1
		"FINDINGS:\nMild pulmonary edema. Heart size is normal.\nPossible small left pleural effusion.",
		map[string]string{"Edema": "1", "Cardiomegaly": "0", "Pleural Effusion": "-1"}},
	{"r05", "", "r05", "No focal consolidation, pleural effusion, or pneumothorax.", // CO 0, PE 0, PX 0
		"Small right pneumothorax. No focal consolidation or pleural effusion. No evidence of pneumonia.",
		map[string]string{"Consolidation": "0", "Pleural Effusion": "0", "Pneumothorax": "1", "Pneumonia": "0"}},
	{"r06", "", "r06", "Large right pneumothorax. Right lower lobe pneumonia.", // PX 1, PN 1
		"Large right pneumothorax. No pneumonia. Consolidation cannot be excluded.",
		map[string]string{"Pneumothorax": "1", "Pneumonia": "0", "Consolidation": "-1"}},
	{"r07", "", "r07", "Cardiomegaly with small bilateral pleural effusions. No pulmonary edema.", // CM 1, PE 1, ED 0
		"Cardiomegaly, pulmonary edema, and bilateral effusions.",
		map[string]string{"Cardiomegaly": "1", "Pleural Effusion": "1", "Edema": "1"}},
	{"r08", "/studies/r08.dcm", "r08", "The lungs are clear. No acute cardiopulmonary process.", // nothing
		"Heart size is normal. No pleural effusion.",
		map[string]string{"Cardiomegaly": "0", "Pleural Effusion": "0"}},
	// No id: matched by the file's base name without its extension.
	{"", "/data/r09.dcm", "r09", "Possible small right pneumothorax. Left lower lobe consolidation.", // PX -1, CO 1
		"Small right pneumothorax. Left lower lobe consolidation.",
		map[string]string{"Pneumothorax": "1", "Consolidation": "1"}},
	{"r10", "", "r10", "No pneumonia. Heart size is normal.", // PN 0, CM 0
		"Moderate cardiomegaly. No pneumonia.",
		map[string]string{"Pneumonia": "0", "Cardiomegaly": "1"}},
}

var sixFindings = []string{"Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "Pneumonia", "Pneumothorax"}

// writeEvalFixture writes generated.jsonl, truth-labels.csv and
// truth-text.csv. The truth files have one more row (r11) than there are
// generated reports.
func writeEvalFixture(t *testing.T, dir string) (gen, labels, texts string) {
	t.Helper()
	var jl bytes.Buffer
	for _, f := range evalFixture {
		m := map[string]any{"text": f.generated, "model": "test", "seconds": 1.5}
		if f.id != "" {
			m["id"] = f.id
		}
		if f.file != "" {
			m["file"] = f.file
		}
		b, _ := json.Marshal(m)
		jl.Write(b)
		jl.WriteByte('\n')
	}
	gen = filepath.Join(dir, "generated.jsonl")
	evalWriteFile(t, gen, jl.String())

	var lb, tb bytes.Buffer
	lw, tw := csv.NewWriter(&lb), csv.NewWriter(&tb)
	lw.Write(append([]string{"subject_id", "study_id", "No Finding"}, sixFindings...))
	tw.Write([]string{"id", "report"})
	for i, f := range evalFixture {
		rec := []string{strconv.Itoa(100 + i), f.truthID, ""}
		for _, o := range sixFindings {
			rec = append(rec, f.labels[o])
		}
		lw.Write(rec)
		tw.Write([]string{f.truthID, f.reference})
	}
	lw.Write(append([]string{"111", "r11", "1"}, "", "", "", "", "", ""))
	tw.Write([]string{"r11", "No acute cardiopulmonary process."})
	lw.Flush()
	tw.Flush()
	labels = filepath.Join(dir, "truth-labels.csv")
	texts = filepath.Join(dir, "truth-text.csv")
	evalWriteFile(t, labels, lb.String())
	evalWriteFile(t, texts, tb.String())
	return gen, labels, texts
}

func evalWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The expected values, from the labels written beside the fixture:
//
//	finding           pairs (generated, reference) counted; others left out   TP FP FN TN  P    R    F1
//	Cardiomegaly      r01 (1,1) r02 (0,0) r04 (1,0) r07 (1,1) r10 (0,1)       2  1  1  1   2/3  2/3  4/6 = 0.667
//	                  left out: r08 (blank, 0)
//	Consolidation     r03 (1,1) r05 (0,0) r09 (1,1); left out r06 (blank,-1)   2  0  0  1   1    1    1
//	Edema             r04 (1,1) r07 (0,1); left out r01 (blank,0)             1  0  1  0   1    1/2  2/3 = 0.667
//	Pleural Effusion  r01 (1,1) r02 (0,1) r03 (0,0) r05 (0,0) r07 (1,1)       2  0  1  2   1    2/3  4/5 = 0.8
//	                  left out: r04 (blank,-1), r08 (blank,0)
//	Pneumonia         r06 (1,0) r10 (0,0); left out r03 (-1,1), r05 (blank,0)  0  1  0  1   0    n/a  0/(0+1+0) = 0
//	Pneumothorax      r01 (0,0) r02 (0,0) r05 (0,1) r06 (1,1); left out r09    1  0  1  2   1    1/2  2/3 = 0.667
//
// Macro F1 = (2/3 + 1 + 2/3 + 0.8 + 0 + 2/3) / 6 = 3.8/6 = 0.6333.
// Macro precision = (2/3 + 1 + 1 + 1 + 0 + 1) / 6 = 0.7778.
// Macro recall, over the five defined: (2/3 + 1 + 1/2 + 2/3 + 1/2) / 5 = 0.6667.
var wantEval = map[string][7]float64{ // tp, fp, fn, tn, precision, recall, f1 (NaN: undefined)
	"Cardiomegaly":     {2, 1, 1, 1, 2.0 / 3, 2.0 / 3, 2.0 / 3},
	"Consolidation":    {2, 0, 0, 1, 1, 1, 1},
	"Edema":            {1, 0, 1, 0, 1, 0.5, 2.0 / 3},
	"Pleural Effusion": {2, 0, 1, 2, 1, 2.0 / 3, 0.8},
	"Pneumonia":        {0, 1, 0, 1, 0, math.NaN(), 0},
	"Pneumothorax":     {1, 0, 1, 2, 1, 0.5, 2.0 / 3},
	"Macro average":    {0, 0, 0, 0, 0.7778, 0.6667, 0.6333},
}

func TestEvalFixture(t *testing.T) {
	dir := t.TempDir()
	gen, labels, texts := writeEvalFixture(t, dir)
	for _, truth := range []string{labels, texts} {
		t.Run(filepath.Base(truth), func(t *testing.T) {
			out := filepath.Join(dir, "out-"+filepath.Base(truth))
			env, stdout, stderr := findingsEnv("")
			if code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", truth, "--out", out, "--seed", "3"}); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr.String(), "1 of 11 rows") {
				t.Errorf("no note about the unmatched reference row:\n%s", stderr)
			}
			checkEvalCSV(t, filepath.Join(out, "eval-mimic6.csv"))
			md := stdout.String()
			for _, want := range []string{"| Cardiomegaly | 5 | 2 | 1 | 1 | 1 | 5 | 0.67 (", "| Pneumonia | 2 | 0 | 1 | 0 | 1 | 8 | 0.00 (",
				"n/a", "**0.63 (", "*0.81*", "10 reports"} {
				if !strings.Contains(md, want) {
					t.Errorf("table lacks %q:\n%s", want, md)
				}
			}
			saved, err := os.ReadFile(filepath.Join(out, "eval-mimic6.md"))
			if err != nil || string(saved) != md {
				t.Errorf("eval-mimic6.md differs from stdout (%v)", err)
			}
			f, err := os.Open(filepath.Join(out, "eval-mimic6.png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := png.Decode(f); err != nil {
				t.Errorf("chart: %v", err)
			}
			// Per-report labels: r03's generated pneumonia is uncertain.
			recs := evalReadCSV(t, filepath.Join(out, "eval-mimic6-labels.csv"))
			if len(recs) != 11 || recs[3][0] != "r03" || recs[3][9] != "-1" || recs[3][10] != "1" {
				t.Errorf("labels file:\n%v", recs)
			}
		})
	}
}

func checkEvalCSV(t *testing.T, path string) {
	t.Helper()
	recs := evalReadCSV(t, path)
	if len(recs) != 8 {
		t.Fatalf("%s has %d rows, want 8", path, len(recs))
	}
	seen := 0
	for _, r := range recs[1:] {
		want, ok := wantEval[r[0]]
		if !ok {
			t.Errorf("unexpected row %q", r[0])
			continue
		}
		seen++
		if r[0] != "Macro average" {
			for i := 0; i < 4; i++ {
				if r[2+i] != strconv.Itoa(int(want[i])) {
					t.Errorf("%s column %s = %s, want %v", r[0], recs[0][2+i], r[2+i], want[i])
				}
			}
		}
		for i, col := range []int{7, 10, 13} { // precision, recall, f1
			got := r[col]
			if math.IsNaN(want[4+i]) {
				if got != "" {
					t.Errorf("%s %s = %s, want undefined", r[0], recs[0][col], got)
				}
				continue
			}
			v, err := strconv.ParseFloat(got, 64)
			if err != nil || math.Abs(v-want[4+i]) > 0.0001 {
				t.Errorf("%s %s = %s, want %.4f", r[0], recs[0][col], got, want[4+i])
			}
			lo, _ := strconv.ParseFloat(r[col+1], 64)
			hi, _ := strconv.ParseFloat(r[col+2], 64)
			if lo > v || hi < v {
				t.Errorf("%s %s interval (%v, %v) does not hold %v", r[0], recs[0][col], lo, hi, v)
			}
		}
	}
	if seen != len(wantEval) {
		t.Errorf("saw %d of %d rows", seen, len(wantEval))
	}
	if recs[7][16] != "0.8100" {
		t.Errorf("paper F1 %q, want 0.8100", recs[7][16])
	}
}

func evalReadCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func TestEvalSeedReproducible(t *testing.T) {
	dir := t.TempDir()
	gen, labels, _ := writeEvalFixture(t, dir)
	run := func(seed string) string {
		env, out, stderr := findingsEnv("")
		if code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", labels, "--out", dir, "--seed", seed}); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return out.String()
	}
	if a, b := run("5"), run("5"); a != b {
		t.Error("same seed, different tables")
	}
	if a, b := run("5"), run("6"); a == b {
		t.Error("different seeds, same intervals")
	}
}

func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	gen, labels, _ := writeEvalFixture(t, dir)
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		evalWriteFile(t, p, data)
		return p
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"missing flags", []string{"--reports", gen}, 2, []string{"--reports and --truth are required"}},
		{"unknown set", []string{"--reports", gen, "--truth", labels, "--findings", "sixFindings"}, 2, []string{"unknown finding set \"sixFindings\""}},
		{"no truth file", []string{"--reports", gen, "--truth", filepath.Join(dir, "nope.csv")}, 1, []string{"nope.csv", "no such file"}},
		{"empty truth", []string{"--reports", gen, "--truth", file("empty.csv", "")}, 1, []string{"empty.csv: empty file"}},
		{"header only", []string{"--reports", gen, "--truth", file("header.csv", "id,report\n")}, 1, []string{"header.csv: a header but no rows"}},
		{"no id column", []string{"--reports", gen, "--truth", file("noid.csv", "name,report\nr01,x\n")}, 1, []string{"noid.csv: no id column"}},
		{"missing label columns", []string{"--reports", gen, "--truth", file("some.csv", "id,Cardiomegaly,Edema\nr01,1,0\n")}, 1,
			[]string{"some.csv", "label columns are missing", "\"Consolidation\"", "\"Pneumothorax\""}},
		{"no text or labels", []string{"--reports", gen, "--truth", file("neither.csv", "id,age\nr01,50\n")}, 1,
			[]string{"neither.csv: no \"report\" or \"text\" column and no CheXpert label columns"}},
		{"bad label", []string{"--reports", gen, "--truth", file("bad.csv", "id,"+strings.Join(sixFindings, ",")+"\nr01,1,0,0,0,0,0\nr02,1,2,0,0,0,0\n")}, 1,
			[]string{"bad.csv line 3, column \"Consolidation\"", "\"2\" is not 1, 0, -1 or blank"}},
		{"duplicate truth id", []string{"--reports", gen, "--truth", file("dup.csv", "id,text\nr01,a\nr01,b\n")}, 1,
			[]string{"dup.csv line 3: id \"r01\" already used on line 2"}},
		{"empty generated", []string{"--reports", file("empty.jsonl", "\n\n"), "--truth", labels}, 1, []string{"empty.jsonl: no reports"}},
		{"bad json", []string{"--reports", file("bad.jsonl", `{"id":"r01","text":"x"}`+"\n{id: r02}\n"), "--truth", labels}, 1,
			[]string{"bad.jsonl line 2: not a JSON object"}},
		{"no text field", []string{"--reports", file("notext.jsonl", `{"id":"r01"}`+"\n"), "--truth", labels}, 1,
			[]string{"notext.jsonl line 1: no \"text\" field"}},
		{"no id or file", []string{"--reports", file("anon.jsonl", `{"text":"x"}`+"\n"), "--truth", labels}, 1,
			[]string{"anon.jsonl line 1: neither \"id\" nor \"file\""}},
		{"unknown id", []string{"--reports", file("unknown.jsonl", `{"id":"r01","text":"x"}`+"\n"+`{"id":"zz9","file":"a/zz9.png","text":"y"}`+"\n"+`{"id":"zz8","text":"y"}`+"\n"), "--truth", labels}, 1,
			[]string{"unknown.jsonl line 2 (id \"zz9\", file \"a/zz9.png\") and 1 more: no matching id in", "truth-labels.csv"}},
		{"two reports for one study", []string{"--reports", file("twice.jsonl", `{"id":"r01","text":"x"}`+"\n"+`{"file":"r01.dcm","text":"y"}`+"\n"), "--truth", labels}, 1,
			[]string{"twice.jsonl lines 1 and 2: both match", "row \"r01\""}},
		{"stray argument", []string{"--reports", gen, "--truth", labels, "extra"}, 2, []string{"unexpected argument \"extra\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, stderr := findingsEnv("")
			code := Run(context.Background(), env, append([]string{"eval", "--out", dir}, tt.args...))
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			msg := stderr.String()
			if lines := strings.Count(strings.TrimSpace(msg), "\n") + 1; tt.code == 1 && lines != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", lines, msg)
			}
			for _, want := range tt.contains {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr lacks %q:\n%s", want, msg)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty on error:\n%s", stdout)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, "labelling reports", 2000)
	for i := 1; i <= 2000; i++ {
		p.set(i)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 10 || lines[0] != "labelling reports: 10% (200/2000)" || lines[9] != "labelling reports: 100% (2000/2000)" {
		t.Errorf("plain progress:\n%s", b.String())
	}

	b.Reset()
	p = newProgress(&b, "labelling reports", 999)
	p.set(500)
	p.finish()
	if b.Len() != 0 {
		t.Errorf("progress shown for a small job: %q", b.String())
	}

	b.Reset()
	p = newProgress(&b, "x", 1000)
	p.tty = true
	p.set(500)
	p.set(501) // same percentage: not redrawn
	p.set(1000)
	if got := b.String(); got != "\r\x1b[Kx [###############...............]  50% 500/1000\r\x1b[Kx [##############################] 100% 1000/1000" {
		t.Errorf("terminal progress: %q", got)
	}

	// A few slow items: a line for each, named, with the time left.
	b.Reset()
	p = newItemProgress(&b, "drafting", 3)
	for i, f := range []string{"/films/a.dcm", "/films/b.dcm", "/films/c.dcm"} {
		p.show(i, f)
	}
	p.finish()
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || lines[0] != "drafting [1/3] a.dcm" || !strings.HasPrefix(lines[2], "drafting [3/3] c.dcm, about ") {
		t.Errorf("item progress:\n%s", b.String())
	}
}

// evalJSONL writes one generated report per map as JSON Lines.
func evalJSONL(t *testing.T, path string, lines []map[string]any) {
	t.Helper()
	var b bytes.Buffer
	for _, m := range lines {
		j, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	evalWriteFile(t, path, b.String())
}

// fixtureLines are the fixture's generated reports as `cxrview report
// --format json` writes them, with the model named.
func fixtureLines() []map[string]any {
	var out []map[string]any
	for _, f := range evalFixture {
		m := map[string]any{"text": f.generated, "model": "cxr-llava-v2", "label": "AI draft — requires radiologist review"}
		if f.id != "" {
			m["id"] = f.id
		}
		if f.file != "" {
			m["file"] = f.file
		}
		out = append(out, m)
	}
	return out
}

// TestEvalSkipsFailed: lines whose generation failed are left out of the
// scores (not labelled as reports that mention nothing), counted on
// stderr and noted under the table; the scores equal those of the file
// without them.
func TestEvalSkipsFailed(t *testing.T) {
	dir := t.TempDir()
	_, labels, _ := writeEvalFixture(t, dir)
	run := func(name string, lines []map[string]any) (md, stderr string, csv [][]string) {
		t.Helper()
		gen := filepath.Join(dir, name+".jsonl")
		evalJSONL(t, gen, lines)
		out := filepath.Join(dir, "out-"+name)
		env, stdout, errb := findingsEnv("")
		if code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", labels, "--out", out}); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errb)
		}
		return stdout.String(), errb.String(), evalReadCSV(t, filepath.Join(out, "eval-mimic6.csv"))
	}
	all := fixtureLines()
	// r02 broke off after a few words; r07 crashed before any text.
	failed := append([]map[string]any(nil), all...)
	failed[1] = map[string]any{"id": "r02", "text": "Heart size", "model": "cxr-llava-v2", "error": "the model could not finish: context canceled"}
	failed[6] = map[string]any{"id": "r07", "model": "cxr-llava-v2", "error": "the inference engine stopped: signal: aborted"}
	var without []map[string]any
	for i, m := range all {
		if i != 1 && i != 6 {
			without = append(without, m)
		}
	}
	md, stderr, got := run("failed", failed)
	_, _, want := run("without", without)
	if !strings.Contains(stderr, "2 of 10 generated reports failed") || !strings.Contains(stderr, "lines 2, 7") {
		t.Errorf("stderr does not count the failed lines:\n%s", stderr)
	}
	if !strings.Contains(md, "8 reports") || !strings.Contains(md, "2 generated reports that failed") || !strings.Contains(md, "Model: cxr-llava-v2.") {
		t.Errorf("the table does not say what was left out:\n%s", md)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failed lines changed the scores:\n got %v\nwant %v", got, want)
	}

	// Nothing left: an error, not a table of nothing.
	for i := range failed {
		failed[i] = map[string]any{"id": all[i]["id"], "file": all[i]["file"], "error": "no engine"}
	}
	gen := filepath.Join(dir, "allfailed.jsonl")
	evalJSONL(t, gen, failed)
	env, stdout, errb := findingsEnv("")
	if code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", labels, "--out", dir}); code != 1 ||
		!strings.Contains(errb.String(), "every generated report failed") || stdout.Len() != 0 {
		t.Errorf("all failed: exit %d, stderr %q", code, errb)
	}
}

// TestEvalTestModel: reports of a TEST MODEL are refused; with
// --allow-test-model they are scored with TEST MODEL in the Markdown, on
// every CSV row and in red in the chart's title.
func TestEvalTestModel(t *testing.T) {
	dir := t.TempDir()
	_, labels, _ := writeEvalFixture(t, dir)
	lines := fixtureLines()
	lines[2]["test_model"], lines[2]["model"], lines[2]["label"] = true, "tiny", "TEST MODEL — random weights, not a report"
	// A file written before "test_model" existed says so in "label" only.
	old := fixtureLines()
	old[4]["label"] = "TEST MODEL — random weights, not a report"
	for name, ls := range map[string][]map[string]any{"flag": lines, "label": old} {
		gen := filepath.Join(dir, name+".jsonl")
		evalJSONL(t, gen, ls)
		env, stdout, stderr := findingsEnv("")
		code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", labels, "--out", filepath.Join(dir, "refused")})
		msg := strings.TrimSpace(stderr.String())
		if code != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "TEST MODEL") || !strings.Contains(msg, name+".jsonl line ") ||
			!strings.Contains(msg, "--allow-test-model") || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stderr %q", name, code, msg)
		}
		if _, err := os.Stat(filepath.Join(dir, "refused")); err == nil {
			t.Errorf("%s: a refused run wrote files", name)
		}
	}

	gen := filepath.Join(dir, "flag.jsonl")
	out := filepath.Join(dir, "allowed")
	env, stdout, stderr := findingsEnv("")
	if code := Run(context.Background(), env, []string{"eval", "--reports", gen, "--truth", labels, "--out", out, "--allow-test-model"}); code != 0 {
		t.Fatalf("--allow-test-model: exit %d: %s", code, stderr)
	}
	md := stdout.String()
	if !strings.HasPrefix(md, "**TEST MODEL") || !strings.Contains(md, "1 of 10 reports come from a test model") ||
		!strings.Contains(md, "Reports from 2 models are pooled: cxr-llava-v2, tiny.") {
		t.Errorf("Markdown:\n%s", md)
	}
	if !strings.Contains(stderr.String(), "warning: TEST MODEL") {
		t.Errorf("stderr: %s", stderr)
	}
	recs := evalReadCSV(t, filepath.Join(out, "eval-mimic6.csv"))
	if recs[0][len(recs[0])-1] != "warning" {
		t.Errorf("CSV header %v", recs[0])
	}
	for _, r := range recs[1:] {
		if !strings.HasPrefix(r[len(r)-1], "TEST MODEL") {
			t.Errorf("CSV row %q lacks the warning", r[0])
		}
	}
	// The chart's title is red only when it carries the warning.
	if !hasWarningRed(t, filepath.Join(out, "eval-mimic6.png")) {
		t.Error("the chart has no red TEST MODEL title")
	}
	clean := filepath.Join(dir, "clean.jsonl")
	evalJSONL(t, clean, fixtureLines())
	env, _, stderr = findingsEnv("")
	if code := Run(context.Background(), env, []string{"eval", "--reports", clean, "--truth", labels, "--out", filepath.Join(dir, "clean")}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if hasWarningRed(t, filepath.Join(dir, "clean", "eval-mimic6.png")) {
		t.Error("a chart without a test model has red text")
	}
	recs = evalReadCSV(t, filepath.Join(dir, "clean", "eval-mimic6.csv"))
	for _, r := range recs[1:] {
		if r[len(r)-1] != "" {
			t.Errorf("CSV row %q has a warning without a test model", r[0])
		}
	}
}

// hasWarningRed reports whether the PNG at path has pixels of the
// warning's red (anti-aliased text keeps a few exact ones).
func hasWarningRed(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 0xa0 && g>>8 < 0x50 && bl>>8 < 0x50 {
				n++
			}
		}
	}
	return n > 20
}
