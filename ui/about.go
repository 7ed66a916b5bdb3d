package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cxrview/assets"
)

// aboutLimitations states plainly what the model can and cannot do, with
// the paper's own numbers (assets/model/citation.txt holds the source).
const aboutLimitations = "CXR-LLaVA reads one frontal chest film at 512 × 512 pixels: no lateral view, " +
	"no prior studies, no clinical history. In its paper it reached an average F1 of 0.81 for six major " +
	"findings on the MIMIC-CXR test set and less on external data (0.56 to 0.62), and radiologists judged " +
	"72.7% of its reports acceptable for autonomous reporting, against 84.0% of reports written by " +
	"radiologists. It can miss findings and describe findings that are not there."

// aboutNotDevice is the regulatory statement.
const aboutNotDevice = "cxrview is research and teaching software. It is not a medical device and is " +
	"not approved for diagnosis. Every AI text is labelled as an AI draft until a radiologist has " +
	"reviewed, corrected and signed it."

// aboutSections are the parts of Help → About: version, limitations, the
// model's licence and the paper to cite. model describes the model in use,
// "" when none is loaded.
func aboutSections(version, model string) [][2]string {
	if version == "" {
		version = "dev"
	}
	intro := fmt.Sprintf("cxrview %s\n\nA chest X-ray viewer that drafts reports with the CXR-LLaVA model "+
		"running on this computer (or on a department's Ollama server).", version)
	if model != "" {
		intro += "\n\nModel in use: " + model
	}
	return [][2]string{
		{"", intro},
		{"Not a medical device", aboutNotDevice},
		{"Limitations", aboutLimitations},
		{"Model licence", strings.TrimSpace(assets.ModelLicence())},
		{"Citation", strings.TrimSpace(assets.ModelCitation())},
	}
}

// aboutModel is implemented by a report panel that can name its model.
type aboutModel interface {
	modelAbout() string
}

func (v *Viewer) showAbout() {
	model := ""
	if m, ok := v.report.(aboutModel); ok {
		model = m.modelAbout()
	}
	box := container.NewVBox()
	for _, s := range aboutSections(v.env.Version, model) {
		if s[0] != "" {
			h := widget.NewLabelWithStyle(s[0], fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			h.SizeName = theme.SizeNameSubHeadingText
			box.Add(h)
		}
		l := widget.NewLabel(s[1])
		l.Wrapping = fyne.TextWrapWord
		box.Add(l)
	}
	d := dialog.NewCustom("About cxrview", "Close", container.NewVScroll(box), v.win)
	s := v.win.Canvas().Size()
	d.Resize(fyne.NewSize(min(680, s.Width*0.9), min(640, s.Height*0.9)))
	d.Show()
}
