package app

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// DICOM identifiers of the structured report.
const (
	basicTextSRClass  = "1.2.840.10008.5.1.4.1.1.88.11"
	explicitVRLittle  = "1.2.840.10008.1.2.1"
	srSeriesNumber    = "900"
	implementationVer = "CXRVIEW"
)

// sr renders the DICOM Basic Text SR export, written with suyashkumar/dicom
// in explicit VR little endian, UTF-8 (ISO_IR 192).
//
// The tree follows the Basic Diagnostic Imaging Report layout (TID 2000)
// without claiming the template: a CONTAINER "Diagnostic Imaging Report"
// (LOINC 18748-4) holds "Findings" (DCM 121070) with the text before the
// impression, "Impressions" (DCM 121072) when the text has one, and a
// "Comment" (DCM 121106) stating the status, the AI involvement and the
// disclaimer.
//
// The report joins the source study (same Study Instance UID), in a series
// of its own (Draft.SeriesUID), and names the film in the Current Requested
// Procedure Evidence Sequence. A PNG or JPEG film has no UIDs: the report
// then gets a study UID derived from the file's content hash (the same file
// always gives the same study) and references no instance; the Comment
// says so. A signed version keeps its SOP Instance UID across exports
// (Signature.DocumentUID), is VERIFIED with the reader as verifying
// observer, and an amendment lists the version it replaces in the
// Predecessor Documents Sequence. Unsigned text is UNVERIFIED and
// PRELIMINARY with a new SOP Instance UID per export.
//
// Anonymised: patient name, ID, birth date and sex are empty (type 2),
// accession, study date and time are empty, every UID is replaced
// (derivedUID), Patient Identity Removed is YES, and a signed report is
// written UNVERIFIED with the reader and time left out (the Comment says
// it was signed): the verifying observer would identify the reader.
func (r *report) sr() ([]byte, error) {
	b := &dsBuilder{}
	verified := r.Signed != nil && !r.Anonymized
	contentTime := r.Now
	if r.Signed != nil && !r.Anonymized {
		contentTime = r.Signed.Time
	}
	instance := 1
	if r.Signed != nil {
		instance = r.Signed.Version
	} else if r.Amends != nil {
		instance = r.Amends.Version + 1
	}

	// File meta information.
	b.add(tag.FileMetaInformationVersion, []byte{0, 1})
	b.add(tag.MediaStorageSOPClassUID, []string{basicTextSRClass})
	b.add(tag.MediaStorageSOPInstanceUID, []string{r.DocumentUID})
	b.add(tag.TransferSyntaxUID, []string{explicitVRLittle})
	b.add(tag.ImplementationClassUID, []string{derivedUID("implementation", "cxrview")})
	b.add(tag.ImplementationVersionName, []string{implementationVer})

	// SOP Common.
	b.add(tag.SpecificCharacterSet, []string{"ISO_IR 192"})
	if !r.Anonymized {
		b.add(tag.InstanceCreationDate, []string{r.Now.Format("20060102")})
		b.add(tag.InstanceCreationTime, []string{r.Now.Format("150405")})
	}
	b.add(tag.SOPClassUID, []string{basicTextSRClass})
	b.add(tag.SOPInstanceUID, []string{r.DocumentUID})

	// Patient.
	b.add(tag.PatientName, []string{dicomPN(r.PatientName)})
	b.add(tag.PatientID, []string{dicomText(r.PatientID, 64)})
	b.add(tag.PatientBirthDate, []string{dicomDA(r.BirthDate)})
	b.add(tag.PatientSex, []string{dicomSex(r.Sex)})
	if r.Anonymized {
		b.add(tag.PatientIdentityRemoved, []string{"YES"})
		b.add(tag.DeidentificationMethod, []string{"cxrview anonymised export: identifiers left out, UIDs replaced"})
	}

	// General Study.
	b.add(tag.StudyInstanceUID, []string{r.StudyUID})
	b.add(tag.StudyDate, []string{dicomDA(r.StudyDate)})
	b.add(tag.StudyTime, []string{dicomTM(r.StudyTime)})
	b.add(tag.ReferringPhysicianName, []string{""})
	b.add(tag.StudyID, []string{""})
	b.add(tag.AccessionNumber, []string{dicomText(r.Accession, 16)})

	// SR Document Series.
	b.add(tag.Modality, []string{"SR"})
	b.add(tag.SeriesInstanceUID, []string{r.ReportSeriesUID})
	b.add(tag.SeriesNumber, []string{srSeriesNumber})
	b.add(tag.SeriesDescription, []string{"cxrview report"})
	b.add(tag.ReferencedPerformedProcedureStepSequence, [][]*dicom.Element{})

	// General Equipment.
	b.add(tag.Manufacturer, []string{"cxrview"})
	b.add(tag.ManufacturerModelName, []string{"cxrview"})

	// SR Document General.
	b.add(tag.InstanceNumber, []string{fmt.Sprint(instance)})
	completion := "COMPLETE"
	if r.AIGen != nil && r.Text == r.AIGen.Text && !r.AIGen.Complete {
		completion = "PARTIAL"
	}
	b.add(tag.CompletionFlag, []string{completion})
	if verified {
		b.add(tag.VerificationFlag, []string{"VERIFIED"})
		b.add(tag.VerifyingObserverSequence, [][]*dicom.Element{{
			b.el(tag.VerifyingObserverName, []string{dicomPN(r.Signed.Reader)}),
			b.el(tag.VerifyingObserverIdentificationCodeSequence, [][]*dicom.Element{}),
			b.el(tag.VerifyingOrganization, []string{"Not recorded"}),
			b.el(tag.VerificationDateTime, []string{r.Signed.Time.Format("20060102150405-0700")}),
		}})
	} else {
		b.add(tag.VerificationFlag, []string{"UNVERIFIED"})
	}
	if r.Signed != nil {
		b.add(tag.PreliminaryFlag, []string{"FINAL"})
	} else {
		b.add(tag.PreliminaryFlag, []string{"PRELIMINARY"})
	}
	b.add(tag.ContentDate, []string{contentTime.Format("20060102")})
	b.add(tag.ContentTime, []string{contentTime.Format("150405")})
	if r.Predecessor != "" && r.Signed != nil {
		b.add(tag.PredecessorDocumentsSequence, [][]*dicom.Element{
			b.hierarchicalRef(r.StudyUID, r.ReportSeriesUID, basicTextSRClass, r.Predecessor)})
	}
	b.add(tag.PerformedProcedureCodeSequence, [][]*dicom.Element{})
	if r.SOPUID != "" && r.SeriesUID != "" && r.SOPClassUID != "" && !r.StudyUIDMade {
		b.add(tag.CurrentRequestedProcedureEvidenceSequence, [][]*dicom.Element{
			b.hierarchicalRef(r.StudyUID, r.SeriesUID, r.SOPClassUID, r.SOPUID)})
	}

	// SR Document Content: the root container and its items.
	b.add(tag.ValueType, []string{"CONTAINER"})
	b.add(tag.ConceptNameCodeSequence, b.code("18748-4", "LN", "Diagnostic Imaging Report"))
	b.add(tag.ContinuityOfContent, []string{"SEPARATE"})
	var items [][]*dicom.Element
	findings := r.Findings
	if findings == "" && r.Impression == "" {
		findings = r.Text
	}
	if findings != "" {
		items = append(items, b.section("121070", "Findings", "121071", "Finding", findings))
	}
	if r.Impression != "" {
		items = append(items, b.section("121072", "Impressions", "121073", "Impression", r.Impression))
	}
	items = append(items, b.textItem("121106", "Comment", r.srComment()))
	b.add(tag.ContentSequence, items)

	if b.err != nil {
		return nil, fmt.Errorf("build structured report: %w", b.err)
	}
	sortElements(b.elems)
	var out bytes.Buffer
	if err := dicom.Write(&out, dicom.Dataset{Elements: b.elems}); err != nil {
		return nil, fmt.Errorf("write structured report: %w", err)
	}
	return out.Bytes(), nil
}

// srComment is the status, provenance and disclaimer text of the SR.
func (r *report) srComment() string {
	var lines []string
	lines = append(lines, r.headerLabels()...)
	lines = append(lines, "Status: "+r.statusLine(), r.modelLine())
	if l := r.licenseLine(); l != "" {
		lines = append(lines, l)
	}
	if r.StudyUIDMade {
		lines = append(lines, "The image was not a DICOM file: this report's Study Instance UID was made by cxrview from the file's content hash.")
	}
	if r.Anonymized && r.Signed != nil {
		lines = append(lines, "Signed by a radiologist; the name and time are left out of this anonymised export.")
	}
	lines = append(lines, Disclaimer)
	return strings.Join(lines, "\n")
}

// sortElements puts a dataset and every nested item in tag order, which
// suyashkumar/dicom leaves to the caller.
func sortElements(elems []*dicom.Element) {
	slices.SortFunc(elems, func(x, y *dicom.Element) int {
		return cmp.Compare(uint32(x.Tag.Group)<<16|uint32(x.Tag.Element), uint32(y.Tag.Group)<<16|uint32(y.Tag.Element))
	})
	for _, e := range elems {
		if items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok {
			for _, it := range items {
				if sub, ok := it.GetValue().([]*dicom.Element); ok {
					sortElements(sub)
				}
			}
		}
	}
}

// dsBuilder collects elements, keeping the first error.
type dsBuilder struct {
	elems []*dicom.Element
	err   error
}

func (b *dsBuilder) el(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("element %v: %w", t, err)
	}
	return e
}

func (b *dsBuilder) add(t tag.Tag, v any) {
	if e := b.el(t, v); e != nil {
		b.elems = append(b.elems, e)
	}
}

func (b *dsBuilder) code(value, scheme, meaning string) [][]*dicom.Element {
	return [][]*dicom.Element{{
		b.el(tag.CodeValue, []string{value}),
		b.el(tag.CodingSchemeDesignator, []string{scheme}),
		b.el(tag.CodeMeaning, []string{meaning}),
	}}
}

func (b *dsBuilder) textItem(code, meaning, text string) []*dicom.Element {
	return []*dicom.Element{
		b.el(tag.RelationshipType, []string{"CONTAINS"}),
		b.el(tag.ValueType, []string{"TEXT"}),
		b.el(tag.ConceptNameCodeSequence, b.code(code, "DCM", meaning)),
		b.el(tag.TextValue, []string{dicomUT(text)}),
	}
}

func (b *dsBuilder) section(code, meaning, textCode, textMeaning, text string) []*dicom.Element {
	return []*dicom.Element{
		b.el(tag.RelationshipType, []string{"CONTAINS"}),
		b.el(tag.ValueType, []string{"CONTAINER"}),
		b.el(tag.ConceptNameCodeSequence, b.code(code, "DCM", meaning)),
		b.el(tag.ContinuityOfContent, []string{"SEPARATE"}),
		b.el(tag.ContentSequence, [][]*dicom.Element{b.textItem(textCode, textMeaning, text)}),
	}
}

// hierarchicalRef is one item of the Hierarchical SOP Instance Reference
// Macro: study, series, instance.
func (b *dsBuilder) hierarchicalRef(study, series, class, instance string) []*dicom.Element {
	return []*dicom.Element{
		b.el(tag.ReferencedSeriesSequence, [][]*dicom.Element{{
			b.el(tag.ReferencedSOPSequence, [][]*dicom.Element{{
				b.el(tag.ReferencedSOPClassUID, []string{class}),
				b.el(tag.ReferencedSOPInstanceUID, []string{instance}),
			}}),
			b.el(tag.SeriesInstanceUID, []string{series}),
		}}),
		b.el(tag.StudyInstanceUID, []string{study}),
	}
}

// dicomText keeps a source value within a VR's length in characters and
// without the backslash, which would split it into several values.
func dicomText(s string, maxLen int) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\`, " "))
	if r := []rune(s); len(r) > maxLen {
		s = string(r[:maxLen])
	}
	return s
}

// dicomPN writes a name as a DICOM person name. A name with component
// delimiters (from a DICOM source) is kept; a name as typed ("Dr. A.
// Reader") becomes one family-name component followed by "^", since a PN
// without any "^" is the retired ACR-NEMA form that validators flag.
func dicomPN(s string) string {
	s = dicomText(s, 64*5)
	if s == "" || strings.Contains(s, "^") {
		return s
	}
	return s + "^"
}

// dicomDA passes a date only when it is a valid DA (YYYYMMDD).
func dicomDA(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 8 && isDigits(s) {
		return s
	}
	return ""
}

// dicomTM passes a time only when it is a valid TM (HH[MM[SS[.F{1,6}]]]).
func dicomTM(s string) string {
	s = strings.TrimSpace(s)
	hms, frac, dot := strings.Cut(s, ".")
	if len(hms) < 2 || len(hms) > 6 || len(hms)%2 != 0 || !isDigits(hms) {
		return ""
	}
	if dot && (len(frac) == 0 || len(frac) > 6 || !isDigits(frac) || len(hms) != 6) {
		return hms
	}
	return s
}

func dicomSex(s string) string {
	switch s = strings.ToUpper(strings.TrimSpace(s)); s {
	case "M", "F", "O":
		return s
	}
	return ""
}

// dicomUT turns line ends into CR LF, as DICOM text expects.
func dicomUT(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	return strings.TrimRight(s, "\r\n ")
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
