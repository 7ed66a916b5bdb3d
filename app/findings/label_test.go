package findings

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLabelSpans(t *testing.T) {
	text := "FINDINGS: Heart size is normal. There is a small left pleural effusion.\n" +
		"IMPRESSION: Small left effusion, no pneumothorax."
	r := Label(text)
	tests := []struct {
		obs                   Observation
		status                Status
		sentence, phrase, cue string
	}{
		{Cardiomegaly, Negative, "Heart size is normal.", "Heart size", "normal"},
		{PleuralEffusion, Positive, "There is a small left pleural effusion.", "pleural effusion", ""},
		{Pneumothorax, Negative, "Small left effusion, no pneumothorax.", "pneumothorax", "no"},
		{Consolidation, NotMentioned, "", "", ""},
	}
	for _, tt := range tests {
		f := r.Findings[tt.obs]
		if f.Observation != tt.obs || f.Status != tt.status {
			t.Errorf("%v: got %v %v, want %v", tt.obs, f.Observation, f.Status, tt.status)
		}
		if got := f.Sentence.In(text); got != tt.sentence {
			t.Errorf("%v sentence: got %q, want %q", tt.obs, got, tt.sentence)
		}
		if got := f.Phrase.In(text); got != tt.phrase {
			t.Errorf("%v phrase: got %q, want %q", tt.obs, got, tt.phrase)
		}
		if got := f.Cue.In(text); got != tt.cue {
			t.Errorf("%v cue: got %q, want %q", tt.obs, got, tt.cue)
		}
	}
	// Two mentions of the effusion, one of the heart, one pneumothorax.
	if len(r.Mentions) != 4 {
		t.Errorf("got %d mentions, want 4: %+v", len(r.Mentions), r.Mentions)
	}
}

func TestLabelDecidingMention(t *testing.T) {
	// A positive anywhere wins; the deciding sentence is the first positive one.
	text := "No pleural effusion on the right. Small left pleural effusion. Effusion is stable."
	r := Label(text)
	f := r.Findings[PleuralEffusion]
	if f.Status != Positive || f.Sentence.In(text) != "Small left pleural effusion." {
		t.Errorf("got %v in %q", f.Status, f.Sentence.In(text))
	}
	// Negative and uncertain make uncertain; the uncertain sentence decides.
	text = "No pneumothorax. A tiny pneumothorax cannot be excluded."
	r = Label(text)
	f = r.Findings[Pneumothorax]
	if f.Status != Uncertain || f.Sentence.In(text) != "A tiny pneumothorax cannot be excluded." || f.Cue.In(text) != "cannot be excluded" {
		t.Errorf("got %v in %q cue %q", f.Status, f.Sentence.In(text), f.Cue.In(text))
	}
}

func TestLabelCHF(t *testing.T) {
	text := "Findings suggest mild CHF."
	r := Label(text)
	if r.Status(Edema) != Uncertain || r.Status(Cardiomegaly) != Uncertain {
		t.Fatalf("got edema %v cardiomegaly %v", r.Status(Edema), r.Status(Cardiomegaly))
	}
	if got := r.Findings[Cardiomegaly].Phrase.In(text); got != "CHF" {
		t.Errorf("cardiomegaly decided by %q, want CHF", got)
	}
}

func TestNoFinding(t *testing.T) {
	tests := []struct {
		text     string
		want     Status
		sentence string
	}{
		{"", NotMentioned, ""},
		{"   \n\t ", NotMentioned, ""},
		{"Heart size normal. No acute cardiopulmonary process.", Positive, "No acute cardiopulmonary process."},
		{"Endotracheal tube in place. Lungs are clear.", Positive, "Lungs are clear."},
		{"Endotracheal tube in place.", Positive, ""},
		{"Moderate emphysema.", NotMentioned, ""},
		{"Possible small effusion. Otherwise normal study.", NotMentioned, ""},
		// Only skipped sections: nothing is labelled.
		{"INDICATION: pneumonia?", NotMentioned, ""},
	}
	for _, tt := range tests {
		r := Label(tt.text)
		f := r.Findings[NoFinding]
		if f.Status != tt.want || f.Sentence.In(tt.text) != tt.sentence {
			t.Errorf("%q: got %v %q, want %v %q", tt.text, f.Status, f.Sentence.In(tt.text), tt.want, tt.sentence)
		}
	}
}

func TestSections(t *testing.T) {
	text := "INDICATION: Cough, eval for pneumonia. History of CHF.\n" +
		"COMPARISON: 2019.\n" +
		"FINDINGS: Mild atelectasis at the left base.\n" +
		"IMPRESSION: No pneumonia."
	tests := []struct {
		mode Sections
		want map[Observation]Status
	}{
		{SectionsAuto, map[Observation]Status{Atelectasis: Positive, Pneumonia: Negative, Edema: NotMentioned}},
		{SectionsAll, map[Observation]Status{Atelectasis: Positive, Pneumonia: Positive, Edema: Negative}},
		{SectionsImpression, map[Observation]Status{Atelectasis: NotMentioned, Pneumonia: Negative, NoFinding: Positive}},
	}
	for _, tt := range tests {
		r := LabelSections(text, tt.mode)
		for o, want := range tt.want {
			if got := r.Status(o); got != want {
				t.Errorf("%v: %v = %v, want %v", tt.mode, o, got, want)
			}
		}
	}
	// Impression falls back to findings when there is no impression.
	r := LabelSections("HISTORY: pneumonia\nFINDINGS: small effusion", SectionsImpression)
	if r.Status(PleuralEffusion) != Positive || r.Status(Pneumonia) != NotMentioned {
		t.Errorf("fallback to findings: effusion %v pneumonia %v", r.Status(PleuralEffusion), r.Status(Pneumonia))
	}
}

func TestTokenizeOffsets(t *testing.T) {
	text := "Pleural effusion/atelectasis, r/o pneumonia and/or ÉDÈME. X-ray 2.5 cm. can't"
	toks := tokenize(text, lowerASCII(text), nil)
	var got []string
	for _, tk := range toks {
		got = append(got, tk.w)
		if tk.w != "or" && tk.w != "r/o" && !strings.EqualFold(text[tk.start:tk.end], tk.w) {
			t.Errorf("token %q does not match its span %q", tk.w, text[tk.start:tk.end])
		}
	}
	want := "pleural effusion or atelectasis , r/o pneumonia or édème . x ray 2.5 cm . can't"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("tokens:\n got %s\nwant %s", s, want)
	}
}

func TestSentenceSplit(t *testing.T) {
	text := "Atelectasis vs. pneumonia, e.g. in the lingula. Nodule 2.5 cm in size.\n" +
		"Wrapped line\ncontinues here.\n\nNew paragraph\n1. First item\n2. Second item? Third"
	toks := tokenize(text, lowerASCII(text), nil)
	var got []string
	for _, s := range splitSentences(text, toks, nil) {
		got = append(got, text[s.start:s.end])
	}
	want := []string{
		"Atelectasis vs. pneumonia, e.g. in the lingula.",
		"Nodule 2.5 cm in size.",
		"Wrapped line\ncontinues here.",
		"New paragraph",
		"1.", "First item",
		"2.", "Second item?",
		"Third",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sentences:\n got %q\nwant %q", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, name := range []string{"Pleural Effusion", "pleural_effusion", " PLEURAL-EFFUSION "} {
		if o, ok := ParseObservation(name); !ok || o != PleuralEffusion {
			t.Errorf("ParseObservation(%q) = %v, %v", name, o, ok)
		}
	}
	if _, ok := ParseObservation("Pleural"); ok {
		t.Error("ParseObservation accepted a partial name")
	}
	for cell, want := range map[string]Status{"1": Positive, "1.0": Positive, "0": Negative, "0.0": Negative, "-1": Uncertain, "-1.0": Uncertain, "": NotMentioned, " ": NotMentioned} {
		if got, err := ParseCheXpert(cell); err != nil || got != want {
			t.Errorf("ParseCheXpert(%q) = %v, %v; want %v", cell, got, err, want)
		}
		if want != NotMentioned && want.CheXpert() != strings.TrimSuffix(cell, ".0") {
			t.Errorf("%v.CheXpert() = %q", want, want.CheXpert())
		}
	}
	for _, bad := range []string{"2", "yes", "1.5", "x"} {
		if _, err := ParseCheXpert(bad); err == nil {
			t.Errorf("ParseCheXpert(%q) accepted", bad)
		}
	}
	if len(Key6()) != 6 || len(External7()) != 7 || len(All()) != NumObservations {
		t.Error("finding sets have the wrong sizes")
	}
	for _, o := range Key6() {
		if o == LungOpacity || o == NoFinding {
			t.Errorf("Key6 holds %v", o)
		}
	}
}

func TestPatternsCompile(t *testing.T) {
	// buildLexicon panics on a malformed pattern; this makes the failure a
	// test failure with a message.
	defer func() {
		if r := recover(); r != nil {
			t.Fatal(r)
		}
	}()
	buildLexicon()
}

func FuzzLabel(f *testing.F) {
	f.Add("No pleural effusion or pneumothorax. Mild cardiomegaly.")
	f.Add("INDICATION: ?pna\nFINDINGS: r/o and/or x-ray ;; .. ?? -- 2.5.3")
	f.Add("\xff\xfe é\u2028 a/b/c/ d/")
	f.Fuzz(func(t *testing.T, text string) {
		for _, mode := range []Sections{SectionsAuto, SectionsAll, SectionsImpression} {
			r := LabelSections(text, mode)
			check := func(what string, s Span) {
				if s.Empty() {
					return
				}
				if s.Start < 0 || s.End > len(text) {
					t.Fatalf("%s span %v outside text of %d bytes", what, s, len(text))
				}
				if utf8.ValidString(text) && !utf8.ValidString(text[s.Start:s.End]) {
					t.Fatalf("%s span %v splits a character", what, s)
				}
			}
			for _, f := range r.Findings {
				check("sentence", f.Sentence)
				check("phrase", f.Phrase)
				check("cue", f.Cue)
				if f.Status != NotMentioned && f.Observation != NoFinding && f.Sentence.Empty() {
					t.Fatalf("%v is %v without a sentence", f.Observation, f.Status)
				}
				if !f.Phrase.Empty() && (f.Phrase.Start < f.Sentence.Start || f.Phrase.End > f.Sentence.End) {
					t.Fatalf("%v phrase %v outside sentence %v", f.Observation, f.Phrase, f.Sentence)
				}
			}
		}
	})
}

// twoPageReport is about two printed pages of report text: 960 words, 7 kB.
func twoPageReport() string {
	para := "FINDINGS: The endotracheal tube terminates 4 cm above the carina. The nasogastric tube " +
		"courses below the diaphragm. Heart size is mildly enlarged, unchanged. The mediastinal and hilar " +
		"contours are stable. There is mild pulmonary vascular congestion without overt edema. Small " +
		"bilateral pleural effusions with adjacent bibasilar atelectasis; superimposed pneumonia cannot " +
		"be excluded. No pneumothorax. No acute osseous abnormality.\n" +
		"IMPRESSION: 1. Lines and tubes as above. 2. Mild cardiomegaly and vascular congestion. " +
		"3. Bibasilar opacities, likely atelectasis, though infection is possible.\n\n"
	return strings.Repeat(para, 12)
}

func BenchmarkLabel(b *testing.B) {
	text := twoPageReport()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Label(text)
	}
}

func BenchmarkLabelSentence(b *testing.B) {
	text := "No focal consolidation, pleural effusion, or pneumothorax."
	b.ReportAllocs()
	for b.Loop() {
		Label(text)
	}
}

// BenchmarkLabelUnpunctuated guards against rules that grow with the square
// of a sentence's length: 240 kB of text without a full stop.
func BenchmarkLabelUnpunctuated(b *testing.B) {
	text := strings.Repeat("heart size and no effusion or ", 8000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Label(text)
	}
}
