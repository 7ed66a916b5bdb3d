package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"cxrview/imaging"
)

// infoJSON is what `cxrview info --json` prints.
type infoJSON struct {
	File       string           `json:"file"`
	Format     imaging.Format   `json:"format"`
	Width      int              `json:"width"`
	Height     int              `json:"height"`
	Frames     int              `json:"frames"`
	Frame      int              `json:"frame"`
	Samples    int              `json:"samples"`
	BitsStored int              `json:"bitsStored"`
	Signed     bool             `json:"signed"`
	Inverse    bool             `json:"inverse"`
	Rescale    rescaleJSON      `json:"rescale"`
	Windows    []imaging.Window `json:"windows"`
	Default    imaging.Window   `json:"defaultWindow"`
	Key        string           `json:"key"`
	Meta       imaging.Meta     `json:"meta"`
}

type rescaleJSON struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Type      string  `json:"type,omitempty"`
	LUT       int     `json:"lutEntries,omitempty"`
}

func runInfo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "info", "[--json] [--frame N] FILE", "Print what cxrview reads from an image file: patient, study, image and display attributes.")
	asJSON := fs.Bool("json", false, "print JSON")
	frame := fs.Int("frame", 0, "frame to read, from 0")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("want one FILE, got %d arguments", fs.NArg())
	}
	im, err := imaging.Open(fs.Arg(0), imaging.Options{Frame: *frame})
	if err != nil {
		return oneLine(err)
	}
	if *asJSON {
		out := infoJSON{
			File: fs.Arg(0), Format: im.Format, Width: im.Width, Height: im.Height, Frames: im.Frames, Frame: im.Frame,
			Samples: im.Samples, BitsStored: im.BitsStored, Signed: im.Signed, Inverse: im.Inverse,
			Rescale: rescaleJSON{Slope: im.Rescale.Slope, Intercept: im.Rescale.Intercept, Type: im.Rescale.Type, LUT: len(im.Rescale.Table)},
			Windows: im.Windows(), Default: im.DefaultWindow(), Key: im.Meta.Key(), Meta: im.Meta,
		}
		for i := range out.Windows {
			out.Windows[i].LUT = nil // its entries are not for reading
		}
		out.Default.LUT = nil
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printInfo(env.Stdout, fs.Arg(0), im)
	return nil
}

// oneLine keeps an error to a single line, as the CLI promises.
func oneLine(err error) error {
	s := err.Error()
	if !strings.ContainsAny(s, "\r\n") {
		return err
	}
	return fmt.Errorf("%s", strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " "))
}

func printInfo(w io.Writer, path string, im *imaging.Image) {
	m := im.Meta
	or := func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	}
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%-14s %s\n", k, fmt.Sprintf(format, a...)) }
	row("File", "%s", path)
	kind := "gray"
	if im.Samples == 3 {
		kind = "colour"
	}
	row("Image", "%s %d × %d, %s, %d bits stored%s, frame %d of %d", im.Format, im.Width, im.Height, kind, im.BitsStored,
		map[bool]string{true: " signed", false: ""}[im.Signed], im.Frame+1, im.Frames)
	if im.Format != imaging.FormatDICOM {
		row("Key", "%s", m.Key())
		for _, warn := range m.Warnings {
			row("Warning", "%s", warn)
		}
		return
	}
	row("Patient", "%s", or(imaging.FormatPN(m.PatientName)))
	row("Patient ID", "%s", or(m.PatientID))
	row("Sex / age", "%s / %s", or(m.PatientSex), or(m.PatientAge))
	row("Birth date", "%s", or(imaging.FormatDA(m.PatientBirthDate)))
	row("Study", "%s %s  %s", or(imaging.FormatDA(m.StudyDate)), imaging.FormatTM(m.StudyTime, true), or(m.StudyDescription))
	row("Accession", "%s", or(m.AccessionNumber))
	row("Modality", "%s", or(m.Modality))
	row("View", "%s", or(m.ViewPosition))
	row("Body part", "%s", or(m.BodyPart))
	row("Manufacturer", "%s", or(m.Manufacturer))
	row("Photometric", "%s", or(m.Photometric))
	if m.SpacingSource != "" {
		row("Pixel spacing", "%g × %g mm (%s)", m.PixelSpacing[0], m.PixelSpacing[1], m.SpacingSource)
	} else {
		row("Pixel spacing", "unknown")
	}
	row("Transfer", "%s", m.TransferSyntax)
	if im.Rescale.Table != nil {
		row("Modality LUT", "%d entries from %d %s", len(im.Rescale.Table), im.Rescale.First, im.Rescale.Type)
	} else {
		unit := ""
		if im.Rescale.Type != "" {
			unit = " (type " + im.Rescale.Type + ")"
		}
		row("Rescale", "slope %g, intercept %g%s", im.Rescale.Slope, im.Rescale.Intercept, unit)
	}
	for i, win := range im.Windows() {
		desc := fmt.Sprintf("center %g, width %g, %s", win.Center, win.Width, win.Function)
		if win.LUT != nil {
			desc = fmt.Sprintf("VOI LUT of %d entries from %d", len(win.LUT.Data), win.LUT.First)
		}
		if win.Explanation != "" {
			desc += " (" + win.Explanation + ")"
		}
		row(fmt.Sprintf("Window %d", i+1), "%s", desc)
	}
	if im.Samples == 1 && len(im.Windows()) == 0 {
		a := im.AutoWindow()
		row("Window", "none in the file; Auto: center %g, width %g (%s)", a.Center, a.Width, a.Explanation)
	}
	if im.Inverse {
		row("Display", "inverted (MONOCHROME1 or Presentation LUT Shape INVERSE)")
	}
	row("Study UID", "%s", or(m.StudyInstanceUID))
	row("Series UID", "%s", or(m.SeriesInstanceUID))
	row("Instance UID", "%s", or(m.SOPInstanceUID))
	row("SOP class", "%s", or(m.SOPClassUID))
	row("SHA-256", "%s", m.ContentHash)
	for _, warn := range m.Warnings {
		row("Warning", "%s", warn)
	}
}
