package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cxrview/app/apptest"
	"cxrview/imaging/imagingtest"
)

const testReader = "Dr. Ada Identifiable"

// reportSession is a study with a generated (and, if sign, signed) report.
func reportSession(t *testing.T, st *Study, c *manualClock, sign bool) (*Session, Dirs) {
	t.Helper()
	d := testDirs(t)
	s, _ := openTest(t, d, st, c)
	if _, err := s.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), cxrModel,
		GenerateOptions{ModelSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, nil); err != nil {
		t.Fatal(err)
	}
	if sign {
		c.Advance(3 * time.Minute)
		if _, err := s.Sign(testReader); err != nil {
			t.Fatal(err)
		}
	}
	return s, d
}

func exportOne(t *testing.T, s *Session, f Format, o ExportOptions) (string, []byte) {
	t.Helper()
	path, err := s.Export(f, t.TempDir(), o)
	if err != nil {
		t.Fatalf("export %s: %v", f, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// dciodvfy checks an SR against the Basic Text SR IOD: no errors and no
// warnings.
func dciodvfy(t *testing.T, path string) {
	t.Helper()
	tool := imagingtest.RequireTool(t, "dciodvfy", "dicom3tools")
	out, _ := exec.Command(tool, path).CombinedOutput() // exit status is not a verdict; the messages are
	text := string(out)
	if !strings.Contains(text, "BasicTextSR") {
		t.Errorf("dciodvfy did not recognise a Basic Text SR:\n%s", text)
	}
	for _, l := range strings.Split(text, "\n") {
		// The one warning allowed is the media profile's note about empty
		// type 2 attributes (Study ID, Patient ID) that a DICOMDIR would
		// index: the CR film itself draws it, and the SR copies the film.
		if strings.HasPrefix(l, "Warning - Missing attribute or value that would be needed to build DICOMDIR") {
			continue
		}
		if strings.HasPrefix(l, "Error") || strings.HasPrefix(l, "Warning") {
			t.Errorf("dciodvfy %s: %s", filepath.Base(path), l)
		}
	}
}

// dsrdump renders the SR tree with dcmtk and returns it.
func dsrdump(t *testing.T, path string) string {
	t.Helper()
	tool := imagingtest.RequireTool(t, "dsrdump", "dcmtk")
	// Strict: relationship constraints checked, long values printed whole.
	out, err := exec.Command(tool, "+Pl", "+Pc", "+Pu", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dsrdump %s: %v\n%s", path, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		// dcmtk's VR checker cannot check UTF-8 values and says so; that
		// is about the checker, not the file.
		if strings.Contains(l, "VR checker does not support this Specific Character Set: ISO_IR 192") {
			continue
		}
		if strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W:") || strings.HasPrefix(l, "F:") {
			t.Errorf("dsrdump: %s", l)
		}
	}
	return string(out)
}

// dicomValues dumps a DICOM file with dcmdump and returns the values of
// each tag ("0010,0010"), at any depth, in file order.
func dicomValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	tool := imagingtest.RequireTool(t, "dcmdump", "dcmtk")
	out, err := exec.Command(tool, "+U8", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump %s: %v\n%s", path, err, out)
	}
	re := regexp.MustCompile(`^\s*\(([0-9a-fA-F]{4},[0-9a-fA-F]{4})\) \S\S (.*)$`)
	vals := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		k, v := strings.ToUpper(m[1]), m[2]
		if i := strings.Index(v, "["); i >= 0 {
			if j := strings.LastIndex(v, "]"); j > i {
				v = v[i+1 : j]
			}
		} else if i := strings.Index(v, "="); i == 0 {
			v = strings.Fields(v)[0]
		} else {
			v = ""
		}
		vals[k] = append(vals[k], v)
	}
	return vals
}

func first(vals map[string][]string, k string) string {
	if v := vals[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func TestExportSR(t *testing.T) {
	film := crStudy(t)
	src := film.Meta
	t.Run("final", func(t *testing.T) {
		c := newManualClock()
		s, _ := reportSession(t, film, c, true)
		path, _ := exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		tree := dsrdump(t, path)
		for _, want := range []string{"Diagnostic Imaging Report", "The heart size is normal", "No acute cardiopulmonary abnormality",
			"VERIFIED", "COMPLETE", "Findings", "Impressions", "Comment"} {
			if !strings.Contains(tree, want) {
				t.Errorf("dsrdump lacks %q:\n%s", want, tree)
			}
		}
		v := dicomValues(t, path)
		sig := s.Draft().Signatures[0]
		checks := map[string]string{
			"0008,0016": "=BasicTextSRStorage",
			"0008,0018": sig.DocumentUID,
			"0020,000D": src.StudyInstanceUID,
			"0020,000E": s.Draft().SeriesUID,
			"0010,0010": src.PatientName + "^",
			"0010,0020": src.PatientID,
			"0010,0040": src.PatientSex,
			"0008,0020": src.StudyDate,
			"0008,0030": src.StudyTime,
			"0008,0060": "SR",
			"0040,A493": "VERIFIED",
			"0040,A496": "FINAL",
			"0040,A075": dicomPN(testReader),
			"0008,0005": "ISO_IR 192",
		}
		for k, want := range checks {
			if got := first(v, k); got != want {
				t.Errorf("(%s) = %q, want %q", k, got, want)
			}
		}
		// The film is referenced: study, series and instance.
		if got := v["0008,1155"]; len(got) != 1 || got[0] != src.SOPInstanceUID {
			t.Errorf("referenced SOP instances %q, want the film's %s", got, src.SOPInstanceUID)
		}
		if got := v["0008,1150"]; len(got) != 1 || got[0] != "=ComputedRadiographyImageStorage" {
			t.Errorf("referenced SOP class %q", got)
		}
		if got := v["0020,000E"]; len(got) != 2 || got[0] != s.Draft().SeriesUID || got[1] != src.SeriesInstanceUID {
			t.Errorf("series UIDs %q: want the report's, then the film's (referenced)", got)
		}
		if got := first(v, "0008,0018"); got == src.SOPInstanceUID || !strings.HasPrefix(got, "2.25.") || len(got) > 64 {
			t.Errorf("SOP Instance UID %q", got)
		}
		// The same signed version exported again is the same object.
		path2, _ := exportOne(t, s, FormatSR, ExportOptions{})
		if got := first(dicomValues(t, path2), "0008,0018"); got != sig.DocumentUID {
			t.Errorf("re-export has SOP Instance UID %s, want %s", got, sig.DocumentUID)
		}
	})
	t.Run("preliminary", func(t *testing.T) {
		c := newManualClock()
		s, _ := reportSession(t, film, c, false)
		path, _ := exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		tree := dsrdump(t, path)
		if !strings.Contains(tree, LabelAIDraft) || !strings.Contains(tree, "PRELIMINARY") {
			t.Errorf("preliminary SR lacks its labels:\n%s", tree)
		}
		v := dicomValues(t, path)
		if first(v, "0040,A493") != "UNVERIFIED" || first(v, "0040,A496") != "PRELIMINARY" || len(v["0040,A075"]) != 0 {
			t.Errorf("flags: verification %q, preliminary %q, observer %q", first(v, "0040,A493"), first(v, "0040,A496"), v["0040,A075"])
		}
		path2, _ := exportOne(t, s, FormatSR, ExportOptions{})
		if first(dicomValues(t, path2), "0008,0018") == first(v, "0008,0018") {
			t.Error("two exports of an unsigned text share a SOP Instance UID")
		}
	})
	t.Run("amended", func(t *testing.T) {
		c := newManualClock()
		s, _ := reportSession(t, film, c, true)
		s.SetText(reportPieces + "\nAddendum: left basal atelectasis.")
		// The unsigned amendment: preliminary, no predecessor yet.
		path, _ := exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		if v := dicomValues(t, path); first(v, "0040,A493") != "UNVERIFIED" || len(v["0040,A360"]) != 0 {
			t.Errorf("unsigned amendment: verification %q, predecessor %q", first(v, "0040,A493"), v["0040,A360"])
		}
		if _, err := s.Sign("Dr. B. Second"); err != nil {
			t.Fatal(err)
		}
		path, _ = exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		tree := dsrdump(t, path)
		if !strings.Contains(tree, "left basal atelectasis") || !strings.Contains(tree, "AMENDED") {
			t.Errorf("amended SR:\n%s", tree)
		}
		v := dicomValues(t, path)
		sigs := s.Draft().Signatures
		if got := v["0008,1155"]; len(got) != 2 || got[0] != sigs[0].DocumentUID || got[1] != src.SOPInstanceUID {
			t.Errorf("references %q: want the predecessor %s then the film", got, sigs[0].DocumentUID)
		}
		if first(v, "0008,0018") != sigs[1].DocumentUID || first(v, "0020,0013") != "2" || first(v, "0040,A075") != "Dr. B. Second^" {
			t.Errorf("amendment: SOP %s instance %s observer %s", first(v, "0008,0018"), first(v, "0020,0013"), first(v, "0040,A075"))
		}
	})
	t.Run("png film", func(t *testing.T) {
		c := newManualClock()
		st := pngStudy(t)
		s, _ := reportSession(t, st, c, true)
		path, _ := exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		tree := dsrdump(t, path)
		if !strings.Contains(tree, "not a DICOM file") {
			t.Errorf("the SR does not say its study UID was made:\n%s", tree)
		}
		v := dicomValues(t, path)
		study := first(v, "0020,000D")
		if study != derivedUID("study", st.Meta.ContentHash) || len(v["0008,1155"]) != 0 {
			t.Errorf("study %s, references %q", study, v["0008,1155"])
		}
		// Another draft of the same file (another user, another computer)
		// lands in the same study.
		s2, _ := reportSession(t, st, c, false)
		path2, _ := exportOne(t, s2, FormatSR, ExportOptions{})
		if got := first(dicomValues(t, path2), "0020,000D"); got != study {
			t.Errorf("the PNG's study UID is not stable: %s vs %s", got, study)
		}
	})
	t.Run("utf-8 names", func(t *testing.T) {
		c := newManualClock()
		st := crStudy(t)
		st.Meta.PatientName = "Müller^Jörg"
		s, _ := reportSession(t, st, c, false)
		s.SetText("Findings: Herz normal groß. Ödem: keines.\nImpression: unauffällig — keine Pathologie.")
		s.Sign("Dr. Łukasz Żółć")
		path, _ := exportOne(t, s, FormatSR, ExportOptions{})
		dciodvfy(t, path)
		tree := dsrdump(t, path)
		v := dicomValues(t, path)
		if first(v, "0010,0010") != "Müller^Jörg" || first(v, "0040,A075") != "Dr. Łukasz Żółć^" {
			t.Errorf("names: %q %q", first(v, "0010,0010"), first(v, "0040,A075"))
		}
		if !strings.Contains(tree, "unauffällig — keine Pathologie") {
			t.Errorf("UTF-8 text lost:\n%s", tree)
		}
	})
}

func TestExportFHIR(t *testing.T) {
	film := crStudy(t)
	for _, tc := range []struct {
		name   string
		sign   bool
		amend  bool
		status string
	}{
		{"preliminary", false, false, "preliminary"},
		{"final", true, false, "final"},
		{"amending", true, true, "preliminary"},
		{"amended", true, true, "amended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newManualClock()
			s, _ := reportSession(t, film, c, tc.sign)
			if tc.amend {
				s.SetText(reportPieces + " Addendum.")
				if tc.status == "amended" {
					if _, err := s.Sign("Dr. B. Second"); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, b := exportOne(t, s, FormatFHIR, ExportOptions{})
			var r map[string]any
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			checkFHIR(t, r, tc.status, film.Meta.StudyInstanceUID, s.Draft())
		})
	}
	t.Run("png film", func(t *testing.T) {
		c := newManualClock()
		s, _ := reportSession(t, pngStudy(t), c, false)
		_, b := exportOne(t, s, FormatFHIR, ExportOptions{})
		var r map[string]any
		json.Unmarshal(b, &r)
		checkFHIR(t, r, "preliminary", "", s.Draft())
	})
}

var (
	fhirID       = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	fhirDate     = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)
	fhirInstant  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	fhirStatuses = map[string]bool{"registered": true, "partial": true, "preliminary": true, "final": true, "amended": true,
		"corrected": true, "appended": true, "cancelled": true, "entered-in-error": true, "unknown": true}
)

// checkFHIR checks a DiagnosticReport against R4's required elements and
// formats, and against what the draft says.
func checkFHIR(t *testing.T, r map[string]any, status, studyUID string, d *Draft) {
	t.Helper()
	str := func(v any) string { s, _ := v.(string); return s }
	list := func(v any) []any { l, _ := v.([]any); return l }
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	if r["resourceType"] != "DiagnosticReport" {
		t.Errorf("resourceType %v", r["resourceType"])
	}
	if id := str(r["id"]); !fhirID.MatchString(id) {
		t.Errorf("id %q is not a FHIR id", id)
	}
	if s := str(r["status"]); !fhirStatuses[s] || s != status {
		t.Errorf("status %q, want %q", s, status)
	}
	code := obj(r["code"])
	coding := list(code["coding"])
	if len(coding) == 0 || str(obj(coding[0])["system"]) != "http://loinc.org" || str(obj(coding[0])["code"]) != "18748-4" {
		t.Errorf("code %v", code)
	}
	if cat := list(r["category"]); len(cat) == 0 || str(obj(list(obj(cat[0])["coding"])[0])["code"]) != "RAD" {
		t.Errorf("category %v", r["category"])
	}
	ids := list(r["identifier"])
	if len(ids) == 0 || str(obj(ids[0])["value"]) != "urn:oid:"+d.ReportUID {
		t.Errorf("identifier %v, want the report UID", ids)
	}
	if concl := str(r["conclusion"]); !strings.Contains(concl, "No acute cardiopulmonary abnormality") {
		t.Errorf("conclusion %q", concl)
	} else if status == "preliminary" && (!strings.Contains(concl, "PRELIMINARY") || strings.Contains(concl, LabelAIDraft) != (len(d.Signatures) == 0)) {
		t.Errorf("preliminary conclusion without its labels: %q", concl)
	}
	forms := list(r["presentedForm"])
	if len(forms) != 1 {
		t.Fatalf("presentedForm %v", forms)
	}
	form := obj(forms[0])
	if ct := str(form["contentType"]); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("contentType %q", ct)
	}
	data, err := base64.StdEncoding.DecodeString(str(form["data"]))
	if err != nil || !strings.Contains(string(data), d.Text) || !strings.Contains(string(data), strings.ToUpper(status)) {
		t.Errorf("presentedForm data (%v): %q", err, data)
	}
	if issued := str(r["issued"]); !fhirInstant.MatchString(issued) {
		t.Errorf("issued %q is not an instant", issued)
	}
	if eff, ok := r["effectiveDateTime"]; ok && !fhirDate.MatchString(str(eff)) {
		t.Errorf("effectiveDateTime %q", eff)
	}
	signed := status == "final" || status == "amended"
	perf := list(r["performer"])
	if signed != (len(perf) == 1) {
		t.Errorf("performer %v for status %s", perf, status)
	}
	if signed && str(obj(perf[0])["display"]) != d.LastSignature().Reader {
		t.Errorf("performer %v", perf)
	}
	_, hasSecurity := r["meta"]
	if hasSecurity != (d.AI != nil && len(d.Signatures) == 0) {
		t.Errorf("AI-asserted security label present: %v, signed: %v", hasSecurity, signed)
	}
	studies := list(r["imagingStudy"])
	if studyUID == "" {
		if len(studies) != 0 {
			t.Errorf("imagingStudy without a DICOM study: %v", studies)
		}
	} else if len(studies) != 1 || str(obj(obj(studies[0])["identifier"])["value"]) != "urn:oid:"+studyUID {
		t.Errorf("imagingStudy %v, want %s", studies, studyUID)
	}
	if subj := obj(r["subject"]); studyUID != "" && str(obj(subj["identifier"])["value"]) == "" {
		t.Errorf("subject %v", subj)
	}
}

func TestExportPDF(t *testing.T) {
	pdftoppm := imagingtest.RequireTool(t, "pdftoppm", "poppler-utils")
	pdftotext := imagingtest.RequireTool(t, "pdftotext", "poppler-utils")
	film := crStudy(t)
	for _, tc := range []struct {
		name string
		make func(*testing.T, *manualClock) *Session
		want []string
	}{
		{"preliminary", func(t *testing.T, c *manualClock) *Session { s, _ := reportSession(t, film, c, false); return s },
			[]string{"PRELIMINARY", LabelAIDraft, "cxr-llava-v2-q8_0", "CC BY-NC 4.0", "not a medical device", "COVID-19-AR-16406488"}},
		{"final", func(t *testing.T, c *manualClock) *Session { s, _ := reportSession(t, film, c, true); return s },
			[]string{"FINAL — signed by " + testReader, "reviewed and signed", "not a medical device"}},
		{"test model", func(t *testing.T, c *manualClock) *Session {
			s, _ := openTest(t, testDirs(t), film, c)
			s.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), testModel, GenerateOptions{}, nil)
			return s
		}, []string{LabelTestModel, "random weights", "PRELIMINARY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.make(t, newManualClock())
			path, b := exportOne(t, s, FormatPDF, ExportOptions{})
			if !bytes.HasPrefix(b, []byte("%PDF-")) {
				t.Fatalf("not a PDF: %q", b[:min(len(b), 16)])
			}
			txt, err := exec.Command(pdftotext, "-layout", path, "-").CombinedOutput()
			if err != nil {
				t.Fatalf("pdftotext: %v\n%s", err, txt)
			}
			text := strings.Join(strings.Fields(string(txt)), " ")
			for _, want := range append(tc.want, "Chest radiograph report", "The heart size is normal.", "No acute cardiopulmonary abnormality.") {
				if !strings.Contains(text, strings.Join(strings.Fields(want), " ")) {
					t.Errorf("PDF text lacks %q:\n%s", want, txt)
				}
			}
			if tc.name == "test model" && strings.Index(text, LabelTestModel) > strings.Index(text, "Chest radiograph report") {
				t.Errorf("TEST MODEL is not above the title:\n%s", txt)
			}
			// Render the page: it must show text and the film.
			prefix := filepath.Join(t.TempDir(), "page")
			if out, err := exec.Command(pdftoppm, "-r", "40", "-png", "-f", "1", "-l", "1", path, prefix).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v\n%s", err, out)
			}
			pages, _ := filepath.Glob(prefix + "*.png")
			if len(pages) != 1 {
				t.Fatalf("pdftoppm wrote %v", pages)
			}
			f, _ := os.Open(pages[0])
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			dark, mid, total := 0, 0, 0
			levels := map[uint32]bool{}
			bnd := img.Bounds()
			for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
				for x := bnd.Min.X; x < bnd.Max.X; x++ {
					r, g, b, _ := img.At(x, y).RGBA()
					l := (r + g + b) / 3 >> 8
					total++
					switch {
					case l < 80:
						dark++
					case l < 200:
						mid++
					}
					levels[l] = true
				}
			}
			if float64(dark)/float64(total) < 0.01 || float64(mid)/float64(total) < 0.01 || len(levels) < 64 {
				t.Errorf("page looks blank: %d dark, %d mid of %d pixels, %d gray levels", dark, mid, total, len(levels))
			}
		})
	}
}

func TestExportTextAndMarkdown(t *testing.T) {
	film := crStudy(t)
	c := newManualClock()
	s, _ := reportSession(t, film, c, false)
	_, txt := exportOne(t, s, FormatText, ExportOptions{})
	_, md := exportOne(t, s, FormatMarkdown, ExportOptions{})
	// Markdown escapes punctuation ("q8\_0"); read it as rendered.
	for name, b := range map[string][]byte{"txt": txt, "md": bytes.ReplaceAll(md, []byte(`\`), nil)} {
		for _, want := range []string{"PRELIMINARY", "AI draft", "requires radiologist review", "The heart size is normal.",
			"cxr-llava-v2-q8_0", "9f86d081884c7d65", "CC BY-NC 4.0", "not a medical device", "COVID-19-AR-16406488"} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s lacks %q:\n%s", name, want, b)
			}
		}
		if bytes.Contains(b, []byte("FINAL")) {
			t.Errorf("unsigned %s says FINAL", name)
		}
	}
	if !bytes.Contains(md, []byte("```text\n"+reportPieces+"\n```")) {
		t.Errorf("Markdown does not quote the report verbatim:\n%s", md)
	}
	// Markdown in the text stays text.
	s.SetText("Findings: **bold** <script>x</script>\n```\nImpression: none")
	_, md = exportOne(t, s, FormatMarkdown, ExportOptions{})
	if !bytes.Contains(md, []byte("````text\n")) {
		t.Errorf("fence not lengthened around a text with ```:\n%s", md)
	}
	// Signed: FINAL, no AI label, the reader named.
	c.Advance(time.Minute)
	s.Sign(testReader)
	_, txt = exportOne(t, s, FormatText, ExportOptions{})
	if !bytes.Contains(txt, []byte("FINAL — signed by "+testReader)) || bytes.Contains(txt, []byte("PRELIMINARY")) || bytes.Contains(txt, []byte(LabelAIDraft)) {
		t.Errorf("signed text export:\n%s", txt)
	}
	// TEST MODEL: first and last line.
	s2, _ := openTest(t, testDirs(t), film, c)
	s2.Generate(context.Background(), newFakeEngine("noise"), testModel, GenerateOptions{}, nil)
	for _, f := range []Format{FormatText, FormatMarkdown} {
		_, b := exportOne(t, s2, f, ExportOptions{})
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if !strings.Contains(lines[0], LabelTestModel) || !strings.Contains(lines[len(lines)-1], LabelTestModel) {
			t.Errorf("%s: TEST MODEL not at top and bottom:\n%s", f, b)
		}
	}
}

func TestExportPNG(t *testing.T) {
	film := crStudy(t)
	c := newManualClock()
	s, _ := reportSession(t, film, c, false)
	view := film.DefaultView()
	decode := func(b []byte) image.Image {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	_, plain := exportOne(t, s, FormatPNG, ExportOptions{View: &view})
	g, ok := decode(plain).(*image.Gray)
	want := film.Image.Render(view)
	if !ok || !bytes.Equal(g.Pix, want.Pix) || g.Bounds() != want.Bounds() {
		t.Fatal("the PNG without overlays is not the film as rendered")
	}
	_, over := exportOne(t, s, FormatPNG, ExportOptions{View: &view, Overlays: true})
	o := rgba(t, decode(over))
	_, anon := exportOne(t, s, FormatPNG, ExportOptions{View: &view, Overlays: true, Anonymize: true})
	a := rgba(t, decode(anon))
	w, h := want.Bounds().Dx(), want.Bounds().Dy()
	changed := func(img *image.RGBA, r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if img.Pix[img.PixOffset(x, y)] != want.Pix[want.PixOffset(x, y)] {
					n++
				}
			}
		}
		return n
	}
	corners := map[string]image.Rectangle{
		"top left": image.Rect(0, 0, w/2, h/8), "top right": image.Rect(w/2, 0, w, h/8), "bottom left": image.Rect(0, h*7/8, w*3/4, h),
	}
	for name, r := range corners {
		if changed(o, r) < 500 {
			t.Errorf("no overlay text in the %s corner", name)
		}
	}
	if n := changed(o, image.Rect(w/4, h/4, w*3/4, h*3/4)); n != 0 {
		t.Errorf("overlays touched %d pixels in the middle of the film", n)
	}
	// Anonymised overlays differ from the named ones in the patient corner.
	diff := 0
	for y := 0; y < h/8; y++ {
		for x := 0; x < w/2; x++ {
			if o.Pix[o.PixOffset(x, y)] != a.Pix[a.PixOffset(x, y)] {
				diff++
			}
		}
	}
	if diff < 500 {
		t.Error("anonymised overlays show the same patient corner")
	}
	// A TEST MODEL draft burns in red.
	s2, _ := openTest(t, testDirs(t), film, c)
	s2.Generate(context.Background(), newFakeEngine("noise"), testModel, GenerateOptions{}, nil)
	_, tm := exportOne(t, s2, FormatPNG, ExportOptions{Overlays: true})
	red := 0
	ti := rgba(t, decode(tm))
	for y := h * 7 / 8; y < h; y++ {
		for x := 0; x < w; x++ {
			p := ti.Pix[ti.PixOffset(x, y):]
			if p[0] > 200 && p[1] < 100 && p[2] < 100 {
				red++
			}
		}
	}
	if red < 200 {
		t.Errorf("TEST MODEL overlay not in red (%d red pixels)", red)
	}
	if got := overlayASCII("Müller^Jörg — Łódź 5×3"); got != "Muller^Jorg - ?odz 5x3" {
		t.Errorf("overlayASCII: %q", got)
	}
}

func rgba(t *testing.T, img image.Image) *image.RGBA {
	t.Helper()
	r, ok := img.(*image.RGBA)
	if !ok {
		t.Fatalf("overlay PNG decodes as %T, want *image.RGBA", img)
	}
	return r
}

// TestExportAnonymize exports a report in every status and every format,
// anonymised, and looks for anything that identifies the patient, the
// study, the reader or a date in the files (and in what pdftotext,
// dsrdump and the FHIR presentedForm show).
func TestExportAnonymize(t *testing.T) {
	pdftotext := imagingtest.RequireTool(t, "pdftotext", "poppler-utils")
	for _, status := range []Status{StatusAIDraft, StatusEdited, StatusFinal, StatusAmending, StatusAmended} {
		t.Run(string(status), func(t *testing.T) {
			st := crStudy(t)
			st.Meta.PatientName = "Müller^Jörg"
			st.Meta.PatientID = "PID-778899"
			st.Meta.PatientBirthDate = "19580312"
			st.Meta.AccessionNumber = "ACC12345"
			c := newManualClock()
			signed := status == StatusFinal || status == StatusAmending || status == StatusAmended
			s, d := reportSession(t, st, c, signed)
			switch status {
			case StatusEdited:
				s.SetText(reportPieces + " Seen by the reader.")
			case StatusAmending, StatusAmended:
				s.SetText(reportPieces + " Addendum.")
				if status == StatusAmended {
					c.Advance(time.Hour)
					if _, err := s.Sign("Dr. Bea Second"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if s.Status() != status {
				t.Fatalf("status %s, want %s", s.Status(), status)
			}
			// Exported two days later: the export date may appear (SR
			// content date), the study's and the report's dates may not.
			c.Advance(48*time.Hour + 7*time.Minute)
			dr := s.Draft()
			secrets := []string{"Müller", "Jörg", "Muller", "PID-778899", "19580312", "1958-03-12", "ACC12345", "COVID-19-AR",
				st.Meta.StudyInstanceUID, st.Meta.SeriesInstanceUID, st.Meta.SOPInstanceUID, "20120115", "2012-01-15",
				"213247", "21:32", st.Meta.StudyDescription, "XR CHEST",
				"Identifiable", "Second", "4.dcm", dr.ReportUID, dr.SeriesUID,
				// The generation and every signature happened on 28 November.
				"20261128", "2026-11-28", "09:30", "09:33", "10:33"}
			for _, sig := range dr.Signatures {
				secrets = append(secrets, sig.DocumentUID, sig.Reader)
			}
			// The replacements are not the plain hashes anyone holding the
			// real UIDs could compute.
			for _, u := range []string{st.Meta.StudyInstanceUID, st.Meta.SeriesInstanceUID, st.Meta.SOPInstanceUID, dr.ReportUID} {
				secrets = append(secrets, derivedUID("anonymize", u))
			}
			out := t.TempDir()
			for _, f := range Formats() {
				path, err := s.Export(f, out, ExportOptions{Anonymize: true, Overlays: true})
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if !strings.HasPrefix(filepath.Base(path), "anon-") {
					t.Errorf("file name %s", path)
				}
				b, _ := os.ReadFile(path)
				texts := map[string]string{"raw": string(b)}
				switch f {
				case FormatPDF:
					txt, err := exec.Command(pdftotext, path, "-").CombinedOutput()
					if err != nil {
						t.Fatal(err)
					}
					texts["pdftotext"] = string(txt)
				case FormatFHIR:
					var r map[string]any
					json.Unmarshal(b, &r)
					data, _ := base64.StdEncoding.DecodeString(r["presentedForm"].([]any)[0].(map[string]any)["data"].(string))
					texts["presentedForm"] = string(data)
					for _, k := range []string{"subject", "issued", "effectiveDateTime"} {
						if _, ok := r[k]; ok {
							t.Errorf("anonymised FHIR has %s", k)
						}
					}
					if concl, _ := r["conclusion"].(string); !signed || status == StatusAmending {
						if !strings.Contains(concl, "PRELIMINARY") {
							t.Errorf("unsigned FHIR conclusion without its status: %q", concl)
						}
					}
				case FormatSR:
					dciodvfy(t, path)
					texts["dsrdump"] = dsrdump(t, path)
					v := dicomValues(t, path)
					if first(v, "0012,0062") != "YES" {
						t.Error("Patient Identity Removed is not YES")
					}
				}
				for where, text := range texts {
					for _, secret := range secrets {
						if secret != "" && strings.Contains(text, secret) {
							t.Errorf("%s (%s) contains %q", f, where, secret)
						}
					}
				}
				if f != FormatPNG && !strings.Contains(texts["raw"]+texts["pdftotext"]+texts["presentedForm"], "anonymised") &&
					!strings.Contains(texts["raw"], "YES") {
					t.Errorf("%s does not say it is anonymised", f)
				}
			}
			// The audit trail (private, per user) records the exports as anonymised.
			evs, _ := ReadAudit(d, st.Key)
			n := 0
			for _, e := range evs {
				if e.Event == AuditExport && e.Anonymized {
					n++
				}
			}
			if n != len(Formats()) {
				t.Errorf("%d anonymised exports in the audit trail, want %d", n, len(Formats()))
			}
		})
	}
}

// TestAnonymizedIdentifiersKeyed: anonymised UIDs and file names are keyed
// with the installation's secret: the same on one installation, export
// after export; different with another secret; never the plain hash.
func TestAnonymizedIdentifiersKeyed(t *testing.T) {
	st := crStudy(t)
	c := newManualClock()
	s, d := reportSession(t, st, c, false)
	export := func(d Dirs) (name, reportUID, studyUID string) {
		t.Helper()
		path, err := ExportDraft(d, FormatFHIR, st, s.Draft(), t.TempDir(), ExportOptions{Anonymize: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		var r struct {
			Identifier   []struct{ Value string }
			ImagingStudy []struct{ Identifier struct{ Value string } }
		}
		if err := json.Unmarshal(b, &r); err != nil || len(r.Identifier) != 1 || len(r.ImagingStudy) != 1 {
			t.Fatalf("%v: %s", err, b)
		}
		return filepath.Base(path), r.Identifier[0].Value, r.ImagingStudy[0].Identifier.Value
	}
	n1, r1, s1 := export(d)
	n2, r2, s2 := export(d)
	if n1 != n2 || r1 != r2 || s1 != s2 {
		t.Errorf("two exports on one installation differ: %s %s %s / %s %s %s", n1, r1, s1, n2, r2, s2)
	}
	if s1 == "urn:oid:"+st.Meta.StudyInstanceUID || s1 == "urn:oid:"+derivedUID("anonymize", st.Meta.StudyInstanceUID) {
		t.Errorf("study UID %s is the real one or its plain hash", s1)
	}
	key := filepath.Join(d.Config, "anonymize.key")
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", err, fi)
	}
	other := testDirs(t)
	n3, r3, s3 := export(other)
	if n3 == n1 || r3 == r1 || s3 == s1 {
		t.Errorf("another installation's secret gives the same identifiers: %s %s %s", n3, r3, s3)
	}
	if !strings.HasPrefix(s3, "urn:oid:2.25.") || len(s3) > len("urn:oid:")+64 {
		t.Errorf("replacement UID %q", s3)
	}
	// A damaged secret is never replaced: the export fails, naming it.
	os.WriteFile(key, []byte("not hex\n"), 0o600)
	_, err = ExportDraft(d, FormatText, st, s.Draft(), t.TempDir(), ExportOptions{Anonymize: true})
	if err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("damaged secret: %v", err)
	}
	if b, _ := os.ReadFile(key); string(b) != "not hex\n" {
		t.Errorf("the damaged secret was replaced")
	}
	// Many exporters at once on a new installation agree on one secret.
	fresh := testDirs(t)
	var wg sync.WaitGroup
	secrets := make([][]byte, 8)
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets[i], _ = AnonymizationSecret(fresh)
		}()
	}
	wg.Wait()
	for i := range secrets {
		if len(secrets[i]) != 32 || !bytes.Equal(secrets[i], secrets[0]) {
			t.Fatalf("concurrent first use gave different secrets: %x vs %x", secrets[i], secrets[0])
		}
	}
	// ExportData cannot anonymise without one.
	if _, err := ExportData(FormatText, st, s.Draft(), ExportOptions{Anonymize: true}); err == nil {
		t.Error("ExportData anonymised without a secret")
	}
}

// TestExportSameBaseName: two films with one file name (CheXpert's
// view1_frontal.jpg in every study folder) exported into one folder in a
// batch get two files, each with its own report; exporting again writes
// the same two files.
func TestExportSameBaseName(t *testing.T) {
	d := testDirs(t)
	var films []string
	for i, text := range []string{"Findings: first patient.", "Findings: second patient."} {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("study%d", i+1))
		os.MkdirAll(dir, 0o755)
		g := image.NewGray(image.Rect(0, 0, 64, 48))
		for j := range g.Pix {
			g.Pix[j] = uint8(j * (i + 3)) // different content, different key
		}
		var b bytes.Buffer
		png.Encode(&b, g)
		film := filepath.Join(dir, "view1_frontal.png")
		os.WriteFile(film, b.Bytes(), 0o644)
		st, err := OpenStudy(film)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := openTest(t, d, st, newManualClock())
		s.SetText(text)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		films = append(films, film)
	}
	out := t.TempDir()
	run := func() []string {
		var o, e bytes.Buffer
		env := &Env{Stdout: &o, Stderr: &e, Dirs: d}
		if code := Run(context.Background(), env, append([]string{"export", "--format", "txt,md", "--out", out}, films...)); code != 0 {
			t.Fatalf("exit %d: %s", code, e.String())
		}
		return strings.Fields(o.String())
	}
	paths := run()
	if len(paths) != 4 {
		t.Fatalf("paths %q", paths)
	}
	seen := map[string]bool{}
	for i, p := range paths {
		if seen[p] {
			t.Fatalf("%s written twice in one batch: %q", p, paths)
		}
		seen[p] = true
		b, _ := os.ReadFile(p)
		want := []string{"first patient", "second patient"}[i/2]
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not hold its own report (%q):\n%s", p, want, b)
		}
	}
	if filepath.Base(paths[0]) != "view1_frontal.report.txt" || !strings.HasPrefix(filepath.Base(paths[2]), "view1_frontal-") {
		t.Errorf("names %q", paths)
	}
	if again := run(); strings.Join(again, " ") != strings.Join(paths, " ") {
		t.Errorf("exporting again wrote %q, first %q", again, paths)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 4 {
		t.Errorf("%d files in the folder, want 4", len(entries))
	}
	// A file of that name the study did not write is not replaced.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "view1_frontal.report.txt"), []byte("someone else's"), 0o644)
	st, _ := OpenStudy(films[0])
	dr, _ := LoadDraft(d, st.Key)
	p, err := ExportDraft(d, FormatText, st, dr, other, ExportOptions{})
	if err != nil || filepath.Base(p) == "view1_frontal.report.txt" {
		t.Errorf("export over a foreign file: %s %v", p, err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "view1_frontal.report.txt")); string(b) != "someone else's" {
		t.Error("a file the study did not write was replaced")
	}
}

func TestExportFailures(t *testing.T) {
	st, c := crStudy(t), newManualClock()
	s, d := reportSession(t, st, c, false)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	draftBefore, _ := os.ReadFile(DraftPath(d, st.Key))
	full := apptest.FullDisk(t)
	ro, _ := apptest.ReadOnlyDir(t)
	for _, tc := range []struct {
		name string
		dir  string
		errs []error
	}{
		{"full disk", full, []error{syscall.ENOSPC}},
		{"read-only", ro, []error{syscall.EROFS, syscall.EACCES}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []Format{FormatPDF, FormatSR, FormatPNG} {
				path, err := s.Export(f, tc.dir, ExportOptions{})
				ok := false
				for _, e := range tc.errs {
					ok = ok || errors.Is(err, e)
				}
				if !ok || !strings.Contains(err.Error(), path) || path == "" {
					t.Errorf("%s: error %v (path %q)", f, err, path)
				}
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s: a file was left at %s", f, path)
				}
			}
			assertNoTemp(t, tc.dir)
		})
	}
	if after, _ := os.ReadFile(DraftPath(d, st.Key)); !bytes.Equal(after, draftBefore) {
		t.Error("a failed export changed the draft")
	}
	if s.Text() != reportPieces || s.Status() != StatusAIDraft {
		t.Errorf("draft after failed exports: %q %s", s.Text(), s.Status())
	}
	evs, _ := ReadAudit(d, st.Key)
	failed := 0
	for _, e := range evs {
		if e.Event == AuditExport && e.Error != "" {
			failed++
		}
	}
	if failed != 6 {
		t.Errorf("%d failed exports in the audit trail, want 6", failed)
	}
}

func TestExportCommand(t *testing.T) {
	film := imagingtest.CRFilm(t)
	home := t.TempDir()
	dirs := Dirs{Config: filepath.Join(home, "config"), Data: filepath.Join(home, "data")}
	st := crStudy(t)
	c := newManualClock()
	s, err := OpenSession(dirs, st, SessionOptions{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	s.Generate(context.Background(), newFakeEngine(splitPieces(reportPieces)...), cxrModel, GenerateOptions{}, nil)
	s.Sign(testReader)
	noDraft := pngStudy(t).Path
	out := filepath.Join(t.TempDir(), "exports")
	run := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		env := &Env{Stdout: &o, Stderr: &e, Dirs: dirs}
		return Run(context.Background(), env, args), o.String(), e.String()
	}
	code, stdout, stderr := run("export", "--format", "txt,sr,fhir,pdf", "--out", out, film, noDraft)
	if code != 1 {
		t.Errorf("exit %d, want 1 (one file has no draft)", code)
	}
	paths := strings.Fields(stdout)
	if len(paths) != 4 {
		t.Fatalf("stdout %q", stdout)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil || filepath.Dir(p) != out {
			t.Errorf("exported %s: %v", p, err)
		}
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 4 || !strings.Contains(lines[0], noDraft) || !strings.Contains(lines[0], "no report") {
		t.Errorf("stderr %q", stderr)
	}
	dciodvfy(t, filepath.Join(out, "4.sr.dcm"))
	// The PNG of a film without a draft works; anonymised names say nothing.
	code, stdout, stderr = run("export", "--format", "png", "--anonymize", "--overlays", "--out", out, noDraft)
	if code != 0 || !strings.Contains(stdout, "anon-") || stderr != "" {
		t.Errorf("png export: %d %q %q", code, stdout, stderr)
	}
	// Wrong command lines.
	for _, args := range [][]string{
		{"export", "--format", "docx", "--out", out, film},
		{"export", "--format", "txt", film},
		{"export", "--out", out},
	} {
		if code, _, stderr := run(args...); code != 2 || !strings.Contains(stderr, "usage: cxrview export") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	// A file that is not an image: one line naming it.
	bad := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(bad, []byte("hello"), 0o644)
	if code, _, stderr := run("export", "--out", out, bad); code != 1 || !strings.Contains(stderr, bad) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad file: %d %q", code, stderr)
	}
}

// TestExportPNGColour: a colour film is exported in colour, without
// overlays as with them.
func TestExportPNGColour(t *testing.T) {
	rgb := image.NewRGBA(image.Rect(0, 0, 60, 40))
	for i := 0; i < len(rgb.Pix); i += 4 {
		rgb.Pix[i], rgb.Pix[i+1], rgb.Pix[i+2], rgb.Pix[i+3] = uint8(i), 200, uint8(255-i%256), 255
	}
	var b bytes.Buffer
	png.Encode(&b, rgb)
	path := filepath.Join(t.TempDir(), "colour.png")
	os.WriteFile(path, b.Bytes(), 0o644)
	st, err := OpenStudy(path)
	if err != nil || st.Image.Samples != 3 {
		t.Fatalf("%v, %d samples", err, st.Image.Samples)
	}
	s, _ := openTest(t, testDirs(t), st, newManualClock())
	_, out := exportOne(t, s, FormatPNG, ExportOptions{})
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := st.Image.RenderRGBA(st.DefaultView())
	for y := range 40 {
		for x := range 60 {
			r, g, bl, _ := img.At(x, y).RGBA()
			w := want.RGBAAt(x, y)
			if uint8(r>>8) != w.R || uint8(g>>8) != w.G || uint8(bl>>8) != w.B {
				t.Fatalf("pixel %d,%d: %d %d %d, want %v (the colour was lost)", x, y, r>>8, g>>8, bl>>8, w)
			}
		}
	}
}

func TestSplitSections(t *testing.T) {
	for _, c := range []struct{ text, findings, impression string }{
		{"Findings: Clear lungs.\nImpression: Normal.", "Clear lungs.", "Normal."},
		{"Clear lungs. Impression: Normal.", "Clear lungs.", "Normal."},
		{"No change in impression: the nodule is stable.", "No change in impression: the nodule is stable.", ""},
		{"Findings: as before.\nPrior impression: pneumonia.\nIMPRESSION: Resolved pneumonia.", "as before.\nPrior impression: pneumonia.", "Resolved pneumonia."},
		{"Findings: x.\nImpression: first.\nAddendum.\nImpression: second.", "x.\nImpression: first.\nAddendum.", "second."},
		{"  Conclusion : Normal heart.", "", "Normal heart."},
		{"Heart normal.", "Heart normal.", ""},
	} {
		f, i := splitSections(c.text)
		if f != c.findings || i != c.impression {
			t.Errorf("%q: findings %q, impression %q; want %q, %q", c.text, f, i, c.findings, c.impression)
		}
	}
}

// TestReportBatchSameBaseName: `cxrview report --format md --out OUT
// dataset/` over a dataset whose studies all name their film
// view1_frontal.png writes one file per film, each recorded in its own
// study's audit trail.
func TestReportBatchSameBaseName(t *testing.T) {
	t.Setenv("CXRVIEW_ENGINE", apptest.EngineBinary(t))
	env, stdout, errb := testEnv(t)
	text, mmproj := tinyPair(t, "tiny")
	dataset := t.TempDir()
	var films []string
	for i := range 3 {
		dir := filepath.Join(dataset, fmt.Sprintf("patient%d", i), "study1")
		os.MkdirAll(dir, 0o755)
		g := image.NewGray(image.Rect(0, 0, 48, 48))
		for j := range g.Pix {
			g.Pix[j] = uint8(j * (i + 2))
		}
		var b bytes.Buffer
		png.Encode(&b, g)
		film := filepath.Join(dir, "view1_frontal.png")
		os.WriteFile(film, b.Bytes(), 0o644)
		films = append(films, film)
	}
	out := t.TempDir()
	if code := run(t, env, "report", "--text", text, "--mmproj", mmproj, "--max-tokens", "4", "--format", "md", "--out", out, dataset); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	paths := strings.Fields(stdout.String())
	entries, _ := os.ReadDir(out)
	if len(paths) != 3 || len(entries) != 3 {
		t.Fatalf("printed %q, %d files in the folder; want 3 of each", paths, len(entries))
	}
	for i, film := range films {
		st, err := OpenStudy(film)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := ReadAudit(env.Dirs, st.Key)
		if n := len(evs); n == 0 || evs[n-1].Event != AuditExport || evs[n-1].Path != paths[i] {
			t.Errorf("%s: audit trail does not record %s: %+v", film, paths[i], evs)
		}
	}
}
