package app

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cxrview/imaging"
)

// FHIR R4 DiagnosticReport, only the elements cxrview fills.
type (
	fhirCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	fhirConcept struct {
		Coding []fhirCoding `json:"coding"`
		Text   string       `json:"text,omitempty"`
	}
	fhirIdentifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value"`
	}
	fhirReference struct {
		Reference  string          `json:"reference,omitempty"`
		Identifier *fhirIdentifier `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	fhirAttachment struct {
		ContentType string `json:"contentType"`
		Language    string `json:"language,omitempty"`
		Data        string `json:"data"`
		Title       string `json:"title,omitempty"`
		Creation    string `json:"creation,omitempty"`
	}
	fhirMeta struct {
		Security []fhirCoding `json:"security,omitempty"`
	}
	fhirDiagnosticReport struct {
		ResourceType       string           `json:"resourceType"`
		ID                 string           `json:"id"`
		Meta               *fhirMeta        `json:"meta,omitempty"`
		Identifier         []fhirIdentifier `json:"identifier"`
		Status             string           `json:"status"`
		Category           []fhirConcept    `json:"category"`
		Code               fhirConcept      `json:"code"`
		Subject            *fhirReference   `json:"subject,omitempty"`
		EffectiveDateTime  string           `json:"effectiveDateTime,omitempty"`
		Issued             string           `json:"issued,omitempty"`
		Performer          []fhirReference  `json:"performer,omitempty"`
		ResultsInterpreter []fhirReference  `json:"resultsInterpreter,omitempty"`
		ImagingStudy       []fhirReference  `json:"imagingStudy,omitempty"`
		Conclusion         string           `json:"conclusion"`
		PresentedForm      []fhirAttachment `json:"presentedForm"`
	}
)

// fhir renders the FHIR R4 DiagnosticReport export.
//
//   - status: preliminary (anything unsigned, also an unsigned amendment),
//     final, or amended (signed again after a change to a final report);
//   - code: LOINC 18748-4 "Diagnostic imaging study", category RAD;
//   - identifier: the report's UID (Draft.ReportUID), stable across versions;
//   - subject: the patient ID and name as a logical reference;
//   - effectiveDateTime: the study date (a date only: DICOM times carry no
//     zone, and FHIR requires one with a time); issued: the signature time,
//     or the export time when unsigned;
//   - performer and resultsInterpreter: the reader, when signed;
//   - imagingStudy: the Study Instance UID as an identifier reference, when
//     the film has one (not for PNG or JPEG);
//   - conclusion: the impression, else the whole text, prefixed with the
//     status line and labels (as the other formats print them) while
//     unsigned;
//   - presentedForm: the plain-text export (status, labels, disclaimer
//     included), base64;
//   - meta.security: AIAST ("artificial intelligence asserted") while the
//     text is an unsigned AI draft.
//
// Anonymised: no subject, no dates, the reader replaced by "name withheld",
// UIDs replaced.
func (r *report) fhir() ([]byte, error) {
	dr := fhirDiagnosticReport{
		ResourceType: "DiagnosticReport",
		ID:           "cxrview-" + textHash(r.ReportUID)[:24],
		Identifier:   []fhirIdentifier{{System: "urn:dicom:uid", Value: "urn:oid:" + r.ReportUID}},
		Status:       r.Status.FHIR(),
		Category: []fhirConcept{{Coding: []fhirCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: "RAD", Display: "Radiology"}}}},
		Code: fhirConcept{
			Coding: []fhirCoding{{System: "http://loinc.org", Code: "18748-4", Display: "Diagnostic imaging study"}},
			Text:   "Chest radiograph report",
		},
	}
	if r.AIModel != nil && r.Signed == nil && r.Amends == nil {
		dr.Meta = &fhirMeta{Security: []fhirCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", Code: "AIAST",
			Display: "Artificial Intelligence asserted"}}}
	}
	if !r.Anonymized {
		if r.PatientID != "" || r.PatientName != "" {
			ref := &fhirReference{Display: strings.ReplaceAll(r.PatientName, "^", " ")}
			if r.PatientID != "" {
				ref.Identifier = &fhirIdentifier{Value: r.PatientID}
			}
			dr.Subject = ref
		}
		if d := imaging.FormatDA(dicomDA(r.StudyDate)); d != "" {
			dr.EffectiveDateTime = d
		}
		issued := r.Now
		if r.Signed != nil {
			issued = r.Signed.Time
		}
		dr.Issued = issued.Format(time.RFC3339)
	}
	if r.Signed != nil {
		who := fhirReference{Display: r.reader(r.Signed)}
		dr.Performer = []fhirReference{who}
		dr.ResultsInterpreter = []fhirReference{who}
	}
	if !r.StudyUIDMade && r.StudyUID != "" {
		dr.ImagingStudy = []fhirReference{{
			Identifier: &fhirIdentifier{System: "urn:dicom:uid", Value: "urn:oid:" + r.StudyUID},
			Display:    "Imaging study " + r.StudyUID,
		}}
	}
	concl := r.Impression
	if concl == "" {
		concl = strings.TrimSpace(r.Text)
	}
	if r.Signed == nil {
		// The status line and labels of the other formats: they respect
		// anonymising, where the draft's own labels name the reader.
		ls := append([]string{r.statusLine()}, r.headerLabels()...)
		concl = "[" + strings.Join(ls, "; ") + "] " + concl
	}
	dr.Conclusion = concl
	att := fhirAttachment{
		ContentType: "text/plain; charset=utf-8",
		Language:    "en",
		Data:        base64.StdEncoding.EncodeToString(r.text()),
		Title:       fmt.Sprintf("Chest radiograph report (%s)", r.Status.Report()),
	}
	if !r.Anonymized {
		att.Creation = r.Now.Format(time.RFC3339)
	}
	dr.PresentedForm = []fhirAttachment{att}
	b, err := json.MarshalIndent(dr, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode FHIR DiagnosticReport: %w", err)
	}
	return append(b, '\n'), nil
}
