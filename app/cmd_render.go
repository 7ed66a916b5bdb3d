package app

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cxrview/imaging"
)

func runRender(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "render", "[--window C,W | --voi N] [--invert] [--frame N] IN OUT.png",
		"Render an image through its display pipeline to a PNG at full resolution. Without --window or --voi\n"+
			"the file's first window is used, else a window over the 1st to 99th percentile of its values.")
	window := fs.String("window", "", "window `C,W`: center and width in modality units (HU for CT)")
	voi := fs.Int("voi", 0, "use the file's `N`th window or VOI LUT (from 1, as `cxrview info` lists them)")
	invert := fs.Bool("invert", false, "invert the gray scale (on top of MONOCHROME1 handling)")
	frame := fs.Int("frame", 0, "frame to render, from 0")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError("want IN and OUT.png, got %d arguments", fs.NArg())
	}
	if *window != "" && *voi != 0 {
		return usageError("--window and --voi exclude each other")
	}
	var win *imaging.Window
	if *window != "" {
		w, err := parseWindow(*window)
		if err != nil {
			return usageError("--window %q: %v", *window, err)
		}
		win = &w
	}
	in, out := fs.Arg(0), fs.Arg(1)
	im, err := imaging.Open(in, imaging.Options{Frame: *frame})
	if err != nil {
		return oneLine(err)
	}
	v := imaging.View{Window: im.DefaultWindow(), Invert: *invert}
	switch {
	case win != nil:
		v.Window = *win
	case *voi != 0:
		ws := im.Windows()
		if *voi < 1 || *voi > len(ws) {
			return fmt.Errorf("%s: --voi %d: the file has %d window(s)", in, *voi, len(ws))
		}
		v.Window = ws[*voi-1]
	}
	if sameTarget(out, in) {
		return fmt.Errorf("%s: would overwrite the image itself", out)
	}
	if _, err := os.Stat(filepath.Dir(out)); err != nil {
		return fmt.Errorf("write %s: %w", out, rootCause(err)) // no folders made for a typo
	}
	var img image.Image
	if im.Samples == 3 {
		img = im.RenderRGBA(v)
	} else {
		img = im.Render(v)
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	// Temporary file, fsync, rename: a failed render never leaves a
	// partial PNG under the requested name.
	if err := WriteFileAtomic(out, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, rootCause(err))
	}
	if env.Verbose {
		fmt.Fprintf(env.Stderr, "%s: %d × %d, window %g/%g %s\n", out, im.Width, im.Height, v.Window.Center, v.Window.Width, v.Window.Function)
	}
	return nil
}

// parseWindow reads "C,W" (a comma or a slash between the numbers).
func parseWindow(s string) (imaging.Window, error) {
	c, w, ok := strings.Cut(s, ",")
	if !ok {
		c, w, ok = strings.Cut(s, "/")
	}
	if !ok {
		return imaging.Window{}, fmt.Errorf("want center,width")
	}
	center, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
	if err != nil {
		return imaging.Window{}, fmt.Errorf("center: %v", err)
	}
	width, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
	if err != nil {
		return imaging.Window{}, fmt.Errorf("width: %v", err)
	}
	if !(width >= 1) {
		return imaging.Window{}, fmt.Errorf("width %g: must be at least 1", width)
	}
	return imaging.Window{Center: center, Width: width, Function: imaging.Linear, Name: "Custom"}, nil
}
