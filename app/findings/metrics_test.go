package findings

import (
	"bytes"
	"encoding/csv"
	"image/png"
	"math"
	"strings"
	"testing"
)

const (
	P = Positive
	N = Negative
	U = Uncertain
	M = NotMentioned
)

func sample(id string, gen, truth map[Observation]Status) Sample {
	s := Sample{ID: id}
	for o, v := range gen {
		s.Generated[o] = v
	}
	for o, v := range truth {
		s.Truth[o] = v
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestEvaluateCounts(t *testing.T) {
	// Cardiomegaly pairs (generated, reference):
	//   (P,P) (P,P) → TP 2;  (P,N) → FP 1;  (N,P) → FN 1;  (N,N) → TN 1
	//   (U,P) → left out, generated uncertain
	//   (P,U) → left out, reference uncertain
	//   (M,N) → left out, generated not mentioned
	// precision 2/3, recall 2/3, F1 = 2·2/(2·2+1+1) = 2/3.
	// Edema: every pair (N,N) → no positives anywhere, F1 undefined, so
	// the macro average is over Cardiomegaly alone: 2/3.
	pairs := [][2]Status{{P, P}, {P, P}, {P, N}, {N, P}, {N, N}, {U, P}, {P, U}, {M, N}}
	var samples []Sample
	for i, p := range pairs {
		samples = append(samples, sample(string(rune('a'+i)),
			map[Observation]Status{Cardiomegaly: p[0], Edema: N},
			map[Observation]Status{Cardiomegaly: p[1], Edema: N}))
	}
	e, err := Evaluate(samples, []Observation{Cardiomegaly, Edema}, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	cm, ed := e.Findings[0], e.Findings[1]
	want := Counts{TP: 2, FP: 1, FN: 1, TN: 1, TruthUncertain: 1, GenUncertain: 1, GenUnmentioned: 1}
	if cm.Counts != want {
		t.Errorf("cardiomegaly counts %+v, want %+v", cm.Counts, want)
	}
	if !near(cm.Precision, 2.0/3) || !near(cm.Recall, 2.0/3) || !near(cm.F1, 2.0/3) {
		t.Errorf("cardiomegaly P %v R %v F1 %v, want 2/3 each", cm.Precision, cm.Recall, cm.F1)
	}
	if ed.TN != 8 || !math.IsNaN(ed.F1) || !math.IsNaN(ed.Precision) || !math.IsNaN(ed.Recall) {
		t.Errorf("edema %+v F1 %v: want TN 8 and undefined metrics", ed.Counts, ed.F1)
	}
	if e.MacroOver != 1 || !near(e.MacroF1, 2.0/3) {
		t.Errorf("macro F1 %v over %d, want 2/3 over 1", e.MacroF1, e.MacroOver)
	}
	if !math.IsNaN(ed.F1CI.Lo) || e.Used["f1 Edema"] != 0 {
		t.Errorf("edema interval %v from %d resamples, want none", ed.F1CI, e.Used["f1 Edema"])
	}
	if cm.F1CI.Lo > cm.F1 || cm.F1CI.Hi < cm.F1 || cm.F1CI.Lo < 0 || cm.F1CI.Hi > 1 {
		t.Errorf("cardiomegaly interval %v does not hold %v", cm.F1CI, cm.F1)
	}
}

func TestBootstrapDeterministicAndCalibrated(t *testing.T) {
	// 400 reference positives, 320 found: recall 0.8. Its standard error is
	// sqrt(0.8·0.2/400) = 0.02, so the percentile interval should be close
	// to 0.8 ± 1.96·0.02 = (0.761, 0.839).
	var samples []Sample
	for i := 0; i < 400; i++ {
		g := P
		if i%5 == 0 {
			g = N
		}
		samples = append(samples, sample("", map[Observation]Status{Pneumonia: g}, map[Observation]Status{Pneumonia: P}))
	}
	e1, err := Evaluate(samples, []Observation{Pneumonia}, Options{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := Evaluate(samples, []Observation{Pneumonia}, Options{Seed: 42})
	e3, _ := Evaluate(samples, []Observation{Pneumonia}, Options{Seed: 43})
	r1 := e1.Findings[0].RecallCI
	if r1 != e2.Findings[0].RecallCI {
		t.Errorf("same seed, different intervals: %v %v", r1, e2.Findings[0].RecallCI)
	}
	if r1 == e3.Findings[0].RecallCI {
		t.Errorf("different seeds gave the same interval %v", r1)
	}
	if math.Abs(r1.Lo-0.761) > 0.012 || math.Abs(r1.Hi-0.839) > 0.012 {
		t.Errorf("recall interval %v, want about (0.761, 0.839)", r1)
	}
	// Precision is 1 in every resample: a degenerate interval.
	if pc := e1.Findings[0].PrecisionCI; pc.Lo != 1 || pc.Hi != 1 {
		t.Errorf("precision interval %v, want (1, 1)", pc)
	}
	if e1.Resamples != DefaultResamples || e1.Used["recall Pneumonia"] != DefaultResamples {
		t.Errorf("resamples %d, used %d", e1.Resamples, e1.Used["recall Pneumonia"])
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{1, 2, 3, 4}
	// rank p·(n−1): 0.5·3 = 1.5 → 2.5; 0.025·3 = 0.075 → 1.075; 0.975·3 = 2.925 → 3.925
	for p, want := range map[float64]float64{0: 1, 0.5: 2.5, 0.025: 1.075, 0.975: 3.925, 1: 4} {
		if got := Percentile(xs, p); !near(got, want) {
			t.Errorf("Percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(Percentile(nil, 0.5)) {
		t.Error("Percentile of nothing is defined")
	}
}

func TestEvaluateErrors(t *testing.T) {
	if _, err := Evaluate(nil, Key6(), Options{}); err == nil {
		t.Error("no samples accepted")
	}
	if _, err := Evaluate([]Sample{{}}, nil, Options{}); err == nil {
		t.Error("no findings accepted")
	}
	if _, err := Evaluate([]Sample{{}}, []Observation{99}, Options{}); err == nil {
		t.Error("invalid observation accepted")
	}
}

func TestOutputs(t *testing.T) {
	samples := []Sample{
		sample("1", map[Observation]Status{Cardiomegaly: P, Pneumothorax: N}, map[Observation]Status{Cardiomegaly: P, Pneumothorax: N}),
		sample("2", map[Observation]Status{Cardiomegaly: N, Pneumothorax: P}, map[Observation]Status{Cardiomegaly: P, Pneumothorax: N}),
		sample("3", map[Observation]Status{Cardiomegaly: P}, map[Observation]Status{Cardiomegaly: N}),
	}
	set, err := ParseFindingSet("MIMIC6")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Evaluate(samples, set.Observations, Options{Resamples: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := e.WriteMarkdown(&md, set.Paper); err != nil {
		t.Fatal(err)
	}
	// Cardiomegaly: TP 1, FP 1, FN 1 → F1 0.50. Pneumothorax: FP 1, TN 1 → F1 0.
	// Others undefined, so the macro is over two findings: 0.25.
	for _, want := range []string{"| Cardiomegaly | 3 | 1 | 1 | 1 | 0 | 0 |", "| Pneumothorax | 2 | 0 | 1 | 0 | 1 | 1 |",
		"| Edema | 0 |", "**0.25", "*0.81*", "over the 2 findings"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var c bytes.Buffer
	if err := e.WriteCSV(&c, set.Paper); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+6+1 || recs[1][0] != "Cardiomegaly" || recs[1][13] != "0.5000" || recs[7][13] != "0.2500" || recs[7][16] != "0.8100" {
		t.Errorf("CSV:\n%v", recs)
	}
	if recs[3][13] != "" { // Edema F1 undefined
		t.Errorf("undefined F1 written as %q", recs[3][13])
	}
	var img bytes.Buffer
	if err := e.WritePNG(&img, set.Name, set.Paper); err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(&img)
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Bounds(); b.Dx() != 1350 || b.Dy() != 750 {
		t.Errorf("chart is %v, want 1350×750", b)
	}
}

func TestFindingSets(t *testing.T) {
	for name, n := range map[string]int{"mimic6": 6, "external7": 7, "all14": 14} {
		s, err := ParseFindingSet(name)
		if err != nil || len(s.Observations) != n {
			t.Errorf("%s: %v, %d findings", name, err, len(s.Observations))
		}
	}
	if _, err := ParseFindingSet("six"); err == nil {
		t.Error("unknown set accepted")
	}
}
