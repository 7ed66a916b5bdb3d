package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

const exportUsage = "--format txt|md|pdf|sr|fhir|png[,...] [--anonymize] [--overlays] --out DIR FILE..."

// runExport writes the saved drafts of image files in the chosen formats,
// one line per file written on stdout, one line per failure on stderr.
func runExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "export", exportUsage,
		"Export the saved report drafts of the given images (as the viewer saved them) to DIR.\n"+
			"Unsigned reports are marked PRELIMINARY; TEST MODEL drafts are refused as sr and fhir.")
	formats := fs.String("format", "pdf", "`formats`: txt, md, pdf, sr, fhir, png; several separated by commas")
	anon := fs.Bool("anonymize", false, "leave out patient, reader and study identifiers; replace UIDs")
	overlays := fs.Bool("overlays", false, "png: burn patient, window and status text into the image")
	out := fs.String("out", "", "`folder` to write into (created if missing)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError("--out DIR is required")
	}
	if fs.NArg() == 0 {
		return usageError("no image files given")
	}
	var fmts []Format
	for _, s := range strings.Split(*formats, ",") {
		f, err := ParseFormat(s)
		if err != nil {
			return usageError("%v", err)
		}
		fmts = append(fmts, f)
	}
	failed := 0
	fail := func(file string, err error) {
		failed++
		fmt.Fprintf(env.Stderr, "cxrview export: %s: %v\n", file, err)
	}
	for _, file := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := OpenStudy(file)
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "cxrview export: %v\n", err) // names the file already
			continue
		}
		d, err := LoadDraft(env.Dirs, st.Key)
		if errors.Is(err, ErrNoDraft) {
			d = newDraft(st, time.Now()) // a PNG of the film needs no report
			err = nil
		}
		if err != nil {
			fail(file, err)
			continue
		}
		for _, f := range fmts {
			if f != FormatPNG && d.Status() == StatusEmpty {
				fail(file, fmt.Errorf("no report to export as %s (open it in cxrview and write or generate one first)", f))
				continue
			}
			path, err := ExportDraft(env.Dirs, f, st, d, *out, ExportOptions{Anonymize: *anon, Overlays: *overlays})
			if err != nil {
				fail(file, err)
				continue
			}
			fmt.Fprintln(env.Stdout, path)
		}
	}
	if failed > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}
