package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cxrview/imaging"
)

// Format is an export format.
type Format string

// The export formats.
const (
	FormatText     Format = "txt"  // plain text
	FormatMarkdown Format = "md"   // Markdown
	FormatPDF      Format = "pdf"  // one-page (or more) PDF with a thumbnail
	FormatSR       Format = "sr"   // DICOM Basic Text SR
	FormatFHIR     Format = "fhir" // FHIR R4 DiagnosticReport JSON
	FormatPNG      Format = "png"  // the image as windowed, overlays optional
)

// Formats lists the export formats in menu order.
func Formats() []Format {
	return []Format{FormatPDF, FormatText, FormatMarkdown, FormatSR, FormatFHIR, FormatPNG}
}

// ParseFormat checks a format name from the command line.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == strings.ToLower(strings.TrimSpace(s)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown export format %q (want txt, md, pdf, sr, fhir or png)", s)
}

// Title is the format's name in menus.
func (f Format) Title() string {
	switch f {
	case FormatText:
		return "Plain text"
	case FormatMarkdown:
		return "Markdown"
	case FormatPDF:
		return "PDF"
	case FormatSR:
		return "DICOM structured report"
	case FormatFHIR:
		return "FHIR DiagnosticReport"
	case FormatPNG:
		return "Image (PNG)"
	}
	return string(f)
}

// reportFormat reports whether f is a machine-readable report that other
// systems file as one: TEST MODEL drafts are never written in it.
func (f Format) reportFormat() bool { return f == FormatSR || f == FormatFHIR }

// ext is the file name ending.
func (f Format) ext() string {
	switch f {
	case FormatText:
		return ".report.txt"
	case FormatMarkdown:
		return ".report.md"
	case FormatPDF:
		return ".report.pdf"
	case FormatSR:
		return ".sr.dcm"
	case FormatFHIR:
		return ".fhir.json"
	case FormatPNG:
		return ".view.png"
	}
	return "." + string(f)
}

// ExportOptions tune an export.
type ExportOptions struct {
	// Anonymize leaves out everything that identifies the patient, the
	// reader or the place in every format: names, IDs, birth date, sex,
	// age, accession number, dates and times of the study, the study
	// description, the file name, and institution; UIDs are replaced by
	// ones keyed with Secret (the same study always gets the same
	// replacement). Text the reader typed into the report, and text burned
	// into the image pixels, is not changed.
	Anonymize bool
	// Secret keys the anonymised UIDs and file names (HMAC-SHA-256), so
	// that they cannot be computed from the real identifiers. Session.Export
	// and ExportDraft fill it with the installation's AnonymizationSecret;
	// ExportData refuses to anonymise without it.
	Secret []byte
	// Overlays burns corner text (patient, window, status) into the PNG.
	Overlays bool
	// View is the window of the PNG and of the PDF thumbnail; nil: the
	// window the AI draft was made with, else the study's default.
	View *imaging.View
	// Now is the time of the export; zero: the current time.
	Now time.Time
}

// Disclaimer is printed with every exported report.
const Disclaimer = "cxrview is research software, not a medical device. " +
	"Its drafts come from a language model that can miss findings and describe findings that are not there. " +
	"A draft is not a report until a qualified radiologist has reviewed, corrected and signed it."

// report is everything an export prints, resolved once for all formats:
// the status and its labels, the patient and study fields (already empty
// when anonymising), the UIDs (already replaced) and the model.
type report struct {
	Status     Status
	Labels     []string
	TestModel  bool
	Text       string
	Findings   string
	Impression string
	Signed     *Signature // the signature of the text, when signed
	Amends     *Signature // the version this text amends (amended or amending)
	AIModel    *ModelRecord
	AIGen      *Generation
	Anonymized bool
	Now        time.Time

	PatientName, PatientID, BirthDate, Sex, Age  string
	StudyDate, StudyTime, Accession, Description string
	Modality, ViewPosition, SourceName           string
	// UIDs: StudyUID is derived from the content hash for PNG/JPEG films
	// (StudyUIDMade says so); Series/SOP/SOPClass are empty without DICOM.
	StudyUID, SeriesUID, SOPUID, SOPClassUID string
	StudyUIDMade                             bool
	ReportUID, ReportSeriesUID, DocumentUID  string
	View                                     imaging.View
	ViewRecord                               *ViewRecord
	// Predecessor is the SOP Instance UID of the version this one amends.
	Predecessor string
}

func buildReport(f Format, st *Study, d *Draft, o ExportOptions) (*report, error) {
	status := d.Status()
	if f != FormatPNG && strings.TrimSpace(d.Text) == "" {
		return nil, fmt.Errorf("%w: nothing to export", ErrEmptyReport)
	}
	if f.reportFormat() && d.TestModel() {
		return nil, ErrTestModel
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	m := st.Meta
	r := &report{
		Status: status, Labels: d.Labels(), TestModel: d.TestModel(), Text: d.Text,
		Anonymized: o.Anonymize, Now: now,
		Modality: m.Modality, ViewPosition: m.ViewPosition, SOPClassUID: m.SOPClassUID,
	}
	r.Findings, r.Impression = splitSections(d.Text)
	if d.AI != nil {
		ai := d.AI.Model
		r.AIModel = &ai
		r.AIGen = d.AI
	}
	n := len(d.Signatures)
	switch {
	case status.Signed():
		r.Signed = &d.Signatures[n-1]
		if n > 1 {
			r.Amends = &d.Signatures[n-2]
		}
	case status == StatusAmending:
		r.Amends = &d.Signatures[n-1]
	}
	r.ReportUID, r.ReportSeriesUID = d.ReportUID, d.SeriesUID
	if r.Signed != nil {
		r.DocumentUID = r.Signed.DocumentUID
	} else {
		r.DocumentUID = NewUID() // an unsigned text changes: every export is a new object
	}
	if r.Amends != nil {
		r.Predecessor = r.Amends.DocumentUID
	}
	r.StudyUID, r.SeriesUID, r.SOPUID = m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID
	if r.StudyUID == "" {
		r.StudyUID, r.StudyUIDMade = derivedUID("study", m.ContentHash), true
	}
	switch {
	case o.View != nil:
		r.View = *o.View
	case d.AI != nil && d.AI.View != nil:
		r.View = d.AI.View.View(st)
	default:
		r.View = st.DefaultView()
	}
	r.ViewRecord = recordView(r.View)
	if o.Anonymize {
		if len(o.Secret) == 0 {
			return nil, errNoSecret
		}
		for _, u := range []*string{&r.StudyUID, &r.SeriesUID, &r.SOPUID, &r.ReportUID, &r.ReportSeriesUID, &r.DocumentUID, &r.Predecessor} {
			if *u != "" {
				*u = anonUID(o.Secret, *u)
			}
		}
		return r, nil
	}
	// Free text: sites fill it with names and wards (PS3.15 removes it).
	r.Description = m.StudyDescription
	r.PatientName, r.PatientID, r.BirthDate = m.PatientName, m.PatientID, m.PatientBirthDate
	r.Sex, r.Age, r.Accession = m.PatientSex, m.PatientAge, m.AccessionNumber
	r.StudyDate, r.StudyTime = m.StudyDate, m.StudyTime
	r.SourceName = filepath.Base(st.Path)
	return r, nil
}

// errNoSecret is ExportData's answer to an anonymised export without the
// key its identifiers are made with.
var errNoSecret = errors.New("anonymising needs the installation's secret (ExportOptions.Secret)")

var (
	// impressionRE matches an "Impression:" heading (group 1) at the
	// start of a line or of a sentence, not the word inside a sentence
	// ("no change in impression: ...").
	impressionRE = regexp.MustCompile(`(?im)(?:^|[.!?][ \t]+)[ \t]*((?:impressions?|conclusions?)[ \t]*:\s*)`)
	findingsRE   = regexp.MustCompile(`(?i)^\s*findings?\s*:\s*`)
)

// splitSections cuts a report at its last "Impression:" heading (a
// report that quotes an earlier one has its own at the end); without one
// the whole text is findings.
func splitSections(text string) (findings, impression string) {
	if all := impressionRE.FindAllStringSubmatchIndex(text, -1); all != nil {
		loc := all[len(all)-1]
		findings, impression = text[:loc[2]], text[loc[3]:]
	} else {
		findings = text
	}
	findings = findingsRE.ReplaceAllString(findings, "")
	return strings.TrimSpace(findings), strings.TrimSpace(impression)
}

// statusLine is the report's status in words, with who signed it.
func (r *report) statusLine() string {
	switch {
	case r.Signed != nil && r.Amends != nil:
		return fmt.Sprintf("AMENDED — version %d, signed by %s on %s (amends version %d of %s)",
			r.Signed.Version, r.reader(r.Signed), r.when(r.Signed.Time), r.Amends.Version, r.when(r.Amends.Time))
	case r.Signed != nil:
		return fmt.Sprintf("FINAL — signed by %s on %s", r.reader(r.Signed), r.when(r.Signed.Time))
	case r.Amends != nil:
		return fmt.Sprintf("PRELIMINARY — unsigned amendment of version %d, signed by %s on %s",
			r.Amends.Version, r.reader(r.Amends), r.when(r.Amends.Time))
	}
	return "PRELIMINARY — not signed by a radiologist"
}

// headerLabels are the warnings printed above the text: the draft's
// labels, where the status line already covers the PRELIMINARY ones.
func (r *report) headerLabels() []string {
	var out []string
	for _, l := range r.Labels {
		if !strings.HasPrefix(l, "PRELIMINARY") {
			out = append(out, l)
		}
	}
	return out
}

func (r *report) reader(s *Signature) string {
	if r.Anonymized {
		return "a radiologist (name withheld)"
	}
	return s.Reader
}

func (r *report) when(t time.Time) string {
	if r.Anonymized {
		return "(date withheld)"
	}
	return t.Format("2006-01-02 15:04 MST")
}

// modelLine names the model that drafted the text, or says there was none.
func (r *report) modelLine() string {
	if r.AIModel == nil {
		return "Written without AI assistance."
	}
	s := "AI draft by " + r.AIModel.Label()
	if r.AIModel.SHA256 != "" {
		s += " (sha256 " + short(r.AIModel.SHA256) + ")"
	}
	if r.AIGen != nil && !r.Anonymized {
		s += ", " + r.AIGen.Started.Format("2006-01-02 15:04")
	}
	if r.Signed != nil {
		s += "; reviewed and signed by the reader"
	}
	return s + "."
}

func (r *report) licenseLine() string {
	if r.AIModel == nil || r.AIModel.License == "" {
		return ""
	}
	return "Model licence: " + r.AIModel.License + "."
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// patientFields are the label/value pairs of the header, in order; empty
// values are left out (all of them when anonymising).
func (r *report) patientFields() [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("Patient", strings.ReplaceAll(r.PatientName, "^", " "))
	add("Patient ID", r.PatientID)
	add("Birth date", imaging.FormatDA(r.BirthDate))
	add("Sex", r.Sex)
	add("Age", r.Age)
	add("Study date", strings.TrimSpace(imaging.FormatDA(r.StudyDate)+" "+imaging.FormatTM(r.StudyTime, false)))
	add("Accession", r.Accession)
	add("Study", r.Description)
	add("Image", strings.TrimSpace(r.Modality+" "+r.ViewPosition))
	add("File", r.SourceName)
	if r.Anonymized {
		add("Patient", "anonymised export: identifying fields left out")
	}
	return out
}

// ExportData renders the report of study st with draft d in format f. It
// refuses an empty report (except as PNG) and a TEST MODEL draft as SR or
// FHIR; text, Markdown, PDF and PNG exports of a TEST MODEL draft carry
// "TEST MODEL — not a report" at the top. Anonymising needs o.Secret.
func ExportData(f Format, st *Study, d *Draft, o ExportOptions) ([]byte, error) {
	r, err := buildReport(f, st, d, o)
	if err != nil {
		return nil, err
	}
	switch f {
	case FormatText:
		return r.text(), nil
	case FormatMarkdown:
		return r.markdown(), nil
	case FormatPDF:
		return r.pdf(st)
	case FormatSR:
		return r.sr()
	case FormatFHIR:
		return r.fhir()
	case FormatPNG:
		return r.png(st, o.Overlays)
	}
	return nil, fmt.Errorf("unknown export format %q", f)
}

// exportPath is the file an export of st in format f goes to in dir. An
// anonymised export is named anon-<keyed hash of the study key>: it says
// nothing about the patient and is the study's own. Otherwise it is the
// source file's name with the format's ending, unless a file of that name
// is already there and wrote (the study's audit trail) does not know it:
// datasets name films alike in every study folder (CheXpert's
// view1_frontal.jpg, a CD's IM000001), and an export must never replace
// another film's under a name that suggests the wrong patient. The study
// then gets <name>-<hash of its key>, which is its own.
func exportPath(f Format, st *Study, dir string, o ExportOptions, wrote func(path string) bool) string {
	if o.Anonymize {
		return filepath.Join(dir, anonName(o.Secret, st.Key)+f.ext())
	}
	tag := textHash("cxrview export " + st.Key)[:12]
	base := strings.TrimSuffix(filepath.Base(st.Path), filepath.Ext(st.Path))
	if base == "" || base == "." || base == string(filepath.Separator) {
		return filepath.Join(dir, "study-"+tag+f.ext())
	}
	path := filepath.Join(dir, base+f.ext())
	if _, err := os.Lstat(path); err == nil && (wrote == nil || !wrote(path)) {
		path = filepath.Join(dir, base+"-"+tag+f.ext())
	}
	return path
}

// exportedTo reports whether the audit trail at auditPath, or its lines
// not yet written (pending), records a successful export to path.
func exportedTo(auditPath string, pending [][]byte, path string) bool {
	want := absPath(path)
	match := func(line []byte) bool {
		if !bytes.Contains(line, []byte(`"event":"export"`)) {
			return false // most lines are edits: skip decoding them
		}
		var ev AuditEvent
		return json.Unmarshal(line, &ev) == nil && ev.Event == AuditExport && ev.Error == "" &&
			ev.Path != "" && absPath(ev.Path) == want
	}
	for _, l := range pending {
		if match(l) {
			return true
		}
	}
	f, err := os.Open(auditPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if match(sc.Bytes()) {
			return true
		}
	}
	return false
}

// withSecret fills o.Secret from the installation when anonymising.
func withSecret(dirs Dirs, o *ExportOptions) error {
	if !o.Anonymize || len(o.Secret) > 0 {
		return nil
	}
	secret, err := AnonymizationSecret(dirs)
	if err != nil {
		return fmt.Errorf("anonymise: %w", err)
	}
	o.Secret = secret
	return nil
}

// ExportDraft writes the export of d into dir (created if missing) and
// records it in the study's audit trail. It is the command line's path;
// the viewer goes through Session.Export. A folder that cannot be written
// (read-only, full) gives an error naming the file; the draft is never
// touched by an export.
func ExportDraft(dirs Dirs, f Format, st *Study, d *Draft, dir string, o ExportOptions) (string, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	auditPath := AuditPath(dirs, st.Key)
	var path string
	err := withSecret(dirs, &o)
	if err == nil {
		path, err = writeExport(f, st, d, dir, o, func(p string) bool { return exportedTo(auditPath, nil, p) })
	}
	ev := AuditEvent{Time: o.Now, Event: AuditExport, Key: st.Key, Status: d.Status(), Format: f, Path: absPath(path), Anonymized: o.Anonymize}
	if err != nil {
		ev.Error = err.Error()
	}
	var a auditLog
	if qerr := a.queue(ev); qerr == nil {
		if aerr := writeAuditLines(auditPath, a.pending); aerr != nil && err == nil {
			err = fmt.Errorf("exported %s, but the audit trail could not record it: %w", path, aerr)
		}
	}
	return path, err
}

// writeExport renders and writes one export atomically; wrote says which
// existing files are the study's own earlier exports (see exportPath).
func writeExport(f Format, st *Study, d *Draft, dir string, o ExportOptions, wrote func(string) bool) (string, error) {
	data, err := ExportData(f, st, d, o)
	if err != nil {
		return "", err
	}
	path := exportPath(f, st, dir, o, wrote)
	if sameTarget(path, st.Path) {
		return "", fmt.Errorf("export %s: would overwrite the image itself", path)
	}
	if err := WriteFileAtomic(path, data, 0o644); err != nil {
		return path, fmt.Errorf("export %s to %s: %w", f.Title(), path, rootCause(err))
	}
	return path, nil
}

// rootCause strips the file operation and temporary file name from a
// write error ("no space left on device", "permission denied"): the
// message names the export's own path instead.
func rootCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// Export writes the report as it stands in format f into dir and records
// the export in the audit trail.
func (s *Session) Export(f Format, dir string, o ExportOptions) (string, error) {
	if o.Now.IsZero() {
		o.Now = s.clock.Now()
	}
	s.mu.Lock()
	if s.busy == "generate" {
		s.mu.Unlock()
		return "", ErrBusy
	}
	s.auditEditsLocked()
	d := s.d.Clone()
	pending := append([][]byte(nil), s.audit.pending...)
	s.mu.Unlock()
	var path string
	err := withSecret(s.dirs, &o)
	if err == nil {
		path, err = writeExport(f, s.study, d, dir, o, func(p string) bool { return exportedTo(s.audit.path, pending, p) })
	}
	s.mu.Lock()
	ev := AuditEvent{Event: AuditExport, Format: f, Path: absPath(path), Anonymized: o.Anonymize}
	if err != nil {
		ev.Error = err.Error()
	}
	s.queueLocked(ev)
	s.mu.Unlock()
	if ferr := s.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("exported %s, but %w", path, ferr)
	}
	return path, err
}

// text renders the plain-text export.
func (r *report) text() []byte {
	var b strings.Builder
	for _, l := range r.headerLabels() {
		fmt.Fprintf(&b, "*** %s ***\n", l)
	}
	b.WriteString("CHEST RADIOGRAPH REPORT\n")
	fmt.Fprintf(&b, "Status: %s\n\n", r.statusLine())
	for _, kv := range r.patientFields() {
		fmt.Fprintf(&b, "%-11s %s\n", kv[0]+":", kv[1])
	}
	b.WriteString("\n")
	b.WriteString(strings.TrimRight(r.Text, "\n"))
	b.WriteString("\n\n")
	b.WriteString(r.modelLine() + "\n")
	if l := r.licenseLine(); l != "" {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n" + Disclaimer + "\n")
	if r.TestModel {
		fmt.Fprintf(&b, "\n*** %s ***\n", LabelTestModel)
	}
	return []byte(b.String())
}

// markdown renders the Markdown export; the report text is quoted as-is
// inside a fenced block so that the model's characters cannot turn into
// markup.
func (r *report) markdown() []byte {
	var b strings.Builder
	for _, l := range r.headerLabels() {
		fmt.Fprintf(&b, "> **%s**\n>\n", mdEscape(l))
	}
	b.WriteString("# Chest radiograph report\n\n")
	fmt.Fprintf(&b, "**Status:** %s\n\n", mdEscape(r.statusLine()))
	if fs := r.patientFields(); len(fs) > 0 {
		b.WriteString("| | |\n|---|---|\n")
		for _, kv := range fs {
			fmt.Fprintf(&b, "| %s | %s |\n", mdEscape(kv[0]), mdEscape(kv[1]))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Report\n\n")
	fence := "```"
	for strings.Contains(r.Text, fence) {
		fence += "`"
	}
	fmt.Fprintf(&b, "%stext\n%s\n%s\n\n", fence, strings.TrimRight(r.Text, "\n"), fence)
	b.WriteString("## Provenance\n\n")
	fmt.Fprintf(&b, "%s\n", mdEscape(r.modelLine()))
	if l := r.licenseLine(); l != "" {
		fmt.Fprintf(&b, "\n%s\n", mdEscape(l))
	}
	fmt.Fprintf(&b, "\n---\n\n*%s*\n", mdEscape(Disclaimer))
	if r.TestModel {
		fmt.Fprintf(&b, "\n> **%s**\n", LabelTestModel)
	}
	return []byte(b.String())
}

var mdSpecial = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "|", `\|`, "<", `\<`, ">", `\>`, "[", `\[`, "]", `\]`, "#", `\#`)

func mdEscape(s string) string { return mdSpecial.Replace(s) }
