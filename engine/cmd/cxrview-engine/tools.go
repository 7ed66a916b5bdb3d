package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cxrview/engine/convert"
	"cxrview/engine/cxr"
	"cxrview/engine/quant"
	"cxrview/engine/testmodel"
)

// tool runs the engine's offline tools; ok is false for unknown names.
func tool(args []string) (code int, ok bool) {
	switch args[0] {
	case "testmodel":
		return testModel(args[1:]), true
	case "convert":
		return convert.Main(args[1:], os.Stdout, os.Stderr), true
	}
	return 0, false
}

func testModel(args []string) int {
	fs := flag.NewFlagSet("testmodel", flag.ContinueOnError)
	out := fs.String("out", "", "folder to write the pair into (required)")
	shape := fs.String("shape", "tiny", "model shape: "+shapeNames())
	typ := fs.String("type", "f16", "language model type: f16, q8_0 or q4_k_m")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same files")
	ifMissing := fs.Bool("if-missing", false, "keep a pair that is already there (the same seed is assumed)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cxrview dev testmodel --out DIR [--shape tiny|tiny-llava|cxr7b|llava7b] [--type f16|q8_0|q4_k_m] [--seed N] [--if-missing]")
		fmt.Fprintln(fs.Output(), "\nWrites a random-weight model pair for tests and benchmarks and prints the two paths. Its output is never a report.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "cxrview dev testmodel: --out is required")
		return 2
	}
	s, err := testmodel.Lookup(*shape)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxrview dev testmodel:", err)
		return 2
	}
	ft, err := quant.ParseFileType(*typ)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxrview dev testmodel:", err)
		return 2
	}
	files := testmodel.Paths(*out, s, ft)
	if !*ifMissing || !exists(files.Text) || !exists(files.Projector) {
		// A 7B pair takes minutes: Ctrl-C stops it cleanly, and what an
		// earlier run that was killed left behind goes first.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		removeStaleTemps(*out, time.Now().Add(-10*time.Minute))
		start := time.Now()
		fmt.Fprintf(os.Stderr, "writing the random-weight %s model (%s) into %s…\n", s.Name, ft, *out)
		if files, err = testmodel.GenerateContext(ctx, *out, s, ft, *seed); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(os.Stderr, "cxrview dev testmodel: interrupted; no partial file was kept")
				return 130
			}
			fmt.Fprintln(os.Stderr, "cxrview dev testmodel:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "written in %v\n", time.Since(start).Round(time.Second))
	}
	fmt.Println(files.Text)
	fmt.Println(files.Projector)
	return 0
}

// removeStaleTemps removes the temporary files of writes that were killed
// (not merely interrupted) in dir: those not modified since before.
// Younger ones may belong to a write still running.
func removeStaleTemps(dir string, before time.Time) {
	names, _ := filepath.Glob(filepath.Join(dir, cxr.TempPattern))
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && st.Mode().IsRegular() && st.ModTime().Before(before) {
			os.Remove(n)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func shapeNames() string {
	var names []string
	for _, s := range testmodel.Shapes() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
