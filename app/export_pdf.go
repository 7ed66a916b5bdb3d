package app

import (
	"bytes"
	"fmt"
	dimg "github.com/disintegration/imaging"
	"image"
	"image/png"
	"strings"

	"cxrview/imaging"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/goregular"
)

// thumbSize is the longest side, in pixels, of the image embedded in the
// PDF: 60 mm at about 200 dpi.
const thumbSize = 480

// pdf renders the PDF export: A4, the status (and TEST MODEL banner) on
// top, patient fields beside a thumbnail of the image as windowed, the
// report, who signed it, the model with its licence, and the disclaimer in
// the footer of every page. The Go fonts (embedded, subset) cover Latin,
// Greek and Cyrillic text; other scripts print as boxes.
func (r *report) pdf(st *Study) ([]byte, error) {
	thumb, err := thumbnailPNG(st, r.View)
	if err != nil {
		return nil, err
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(r.Now)
	pdf.SetModificationDate(r.Now)
	pdf.SetTitle("Chest radiograph report — "+r.Status.Report(), true)
	pdf.SetCreator("cxrview", true)
	pdf.SetProducer("cxrview", true)
	pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
	pdf.AddUTF8FontFromBytes("go", "I", goitalic.TTF)
	const margin = 15.0
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, 28)
	pageW, pageH := pdf.GetPageSize()
	textW := pageW - 2*margin
	pdf.AliasNbPages("{nb}")
	status := r.Status.Report()
	pdf.SetFooterFunc(func() {
		pdf.SetY(pageH - 24)
		pdf.SetDrawColor(160, 160, 160)
		pdf.Line(margin, pdf.GetY(), pageW-margin, pdf.GetY())
		pdf.Ln(1.5)
		pdf.SetFont("go", "I", 7.5)
		pdf.SetTextColor(70, 70, 70)
		pdf.MultiCell(textW, 3.4, Disclaimer, "", "L", false)
		pdf.SetFont("go", "", 7.5)
		foot := fmt.Sprintf("cxrview — %s", status)
		if r.TestModel {
			foot += " — " + LabelTestModel
		}
		pdf.CellFormat(textW/2, 4, foot, "", 0, "L", false, 0, "")
		pdf.CellFormat(textW/2, 4, fmt.Sprintf("page %d of {nb}", pdf.PageNo()), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	if r.TestModel {
		pdf.SetFillColor(190, 0, 0)
		pdf.SetTextColor(255, 255, 255)
		pdf.SetFont("go", "B", 18)
		pdf.CellFormat(textW, 13, LabelTestModel, "", 1, "C", true, 0, "")
		pdf.SetFont("go", "", 9)
		pdf.CellFormat(textW, 6, "This text was written by a model with random weights. It means nothing.", "", 1, "C", true, 0, "")
		pdf.Ln(3)
	}
	pdf.SetTextColor(0, 0, 0)
	pdf.SetFont("go", "B", 17)
	pdf.CellFormat(textW, 9, "Chest radiograph report", "", 1, "L", false, 0, "")
	switch {
	case r.Status == StatusFinal:
		pdf.SetTextColor(0, 110, 40)
	case r.Status == StatusAmended:
		pdf.SetTextColor(0, 70, 160)
	default:
		pdf.SetTextColor(190, 90, 0)
	}
	pdf.SetFont("go", "B", 11.5)
	pdf.MultiCell(textW, 6, r.statusLine(), "", "L", false)
	pdf.SetTextColor(170, 0, 0)
	pdf.SetFont("go", "B", 10.5)
	for _, l := range r.headerLabels() {
		if l != LabelTestModel {
			pdf.MultiCell(textW, 5.5, l, "", "L", false)
		}
	}
	pdf.SetTextColor(0, 0, 0)
	pdf.Ln(3)

	// Patient fields on the left, the thumbnail on the right.
	top := pdf.GetY()
	tw, th := 62.0, 62.0
	if info, ok := thumbInfo(thumb); ok {
		th = tw * float64(info.Dy()) / float64(info.Dx())
		if th > 80 {
			tw, th = tw*80/th, 80
		}
	}
	tx := pageW - margin - tw
	pdf.RegisterImageOptionsReader("film", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(thumb))
	pdf.ImageOptions("film", tx, top, tw, th, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetXY(tx, top+th+1)
	pdf.SetFont("go", "", 7)
	pdf.SetTextColor(70, 70, 70)
	pdf.MultiCell(tw, 3.2, "Window: "+r.ViewRecord.String(), "", "L", false)
	bottom := pdf.GetY()
	pdf.SetTextColor(0, 0, 0)

	pdf.SetXY(margin, top)
	fieldW := tx - margin - 5
	for _, kv := range r.patientFields() {
		pdf.SetX(margin)
		pdf.SetFont("go", "B", 9.5)
		pdf.CellFormat(27, 5.5, kv[0], "", 0, "L", false, 0, "")
		pdf.SetFont("go", "", 9.5)
		pdf.MultiCell(fieldW-27, 5.5, kv[1], "", "L", false)
	}
	pdf.SetY(max(pdf.GetY(), bottom) + 5)

	pdf.SetFont("go", "B", 12.5)
	pdf.CellFormat(textW, 7, "Report", "B", 1, "L", false, 0, "")
	pdf.Ln(2)
	pdf.SetFont("go", "", 11)
	pdf.MultiCell(textW, 5.6, strings.TrimSpace(r.Text), "", "L", false)
	pdf.Ln(4)

	pdf.SetFont("go", "B", 9.5)
	pdf.MultiCell(textW, 5, r.statusLine(), "", "L", false)
	pdf.SetFont("go", "", 9)
	pdf.MultiCell(textW, 4.6, r.modelLine(), "", "L", false)
	if l := r.licenseLine(); l != "" {
		pdf.SetFont("go", "", 8)
		pdf.MultiCell(textW, 4.2, l, "", "L", false)
	}
	if r.TestModel {
		pdf.Ln(3)
		pdf.SetFont("go", "B", 12)
		pdf.SetTextColor(190, 0, 0)
		pdf.MultiCell(textW, 6, LabelTestModel, "", "C", false)
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("write PDF: %w", err)
	}
	return out.Bytes(), nil
}

// thumbnailPNG renders the study through view (colour films as they are)
// and shrinks it for the PDF with disintegration/imaging's Lanczos filter;
// exactness to Pillow matters only for the model's input, not here.
func thumbnailPNG(st *Study, view imaging.View) ([]byte, error) {
	thumb := dimg.Fit(st.Image.RenderRGBA(view), thumbSize, thumbSize, dimg.Lanczos)
	var b bytes.Buffer
	if err := png.Encode(&b, thumb); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return b.Bytes(), nil
}

func thumbInfo(p []byte) (image.Rectangle, bool) {
	cfg, err := png.DecodeConfig(bytes.NewReader(p))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		return image.Rectangle{}, false
	}
	return image.Rect(0, 0, cfg.Width, cfg.Height), true
}
