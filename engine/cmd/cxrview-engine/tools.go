package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"cxrview/engine/convert"
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
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cxrview dev testmodel --out DIR [--shape tiny|tiny-llava|cxr7b|llava7b] [--type f16|q8_0|q4_k_m] [--seed N]")
		fmt.Fprintln(fs.Output(), "\nWrites a random-weight model pair for tests and benchmarks. Its output is never a report.")
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
	files, err := testmodel.Generate(*out, s, ft, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxrview dev testmodel:", err)
		return 1
	}
	fmt.Println(files.Text)
	fmt.Println(files.Projector)
	return 0
}

func shapeNames() string {
	var names []string
	for _, s := range testmodel.Shapes() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
