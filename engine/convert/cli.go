package convert

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"cxrview/engine/quant"
)

// Main is the command line of the converter: `cxrview model convert`, run
// by the engine binary (it links ggml's quantizer). It returns the exit
// code: 0 done, 1 failed, 2 wrong usage, 130 interrupted.
func Main(args []string, stdout, stderr io.Writer) int {
	const name = "cxrview model convert"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "folder with the Hugging Face repository ECOFRI/CXR-LLAVA-v2 (required)")
	out := fs.String("out", "", "folder for the GGUF files (required; created if needed)")
	typ := fs.String("type", string(quant.Q4_K_M), "language model type: q4_k_m, q8_0 or f16")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s --from DIR --out DIR [--type q4_k_m|q8_0|f16]\n\n", name)
		fmt.Fprintln(w, "Converts the CXR-LLaVA v2 checkpoint (safetensors) into a GGUF language model and an")
		fmt.Fprintln(w, "F16 vision projector, then `cxrview model import` adds them to the model store.")
		fmt.Fprintln(w, "q4_k_m: 4.1 GB, q8_0: 7.2 GB, f16: 13.5 GB, plus the 0.6 GB projector (docs/model.md).")
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		fmt.Fprintf(stderr, "usage: %s --from DIR --out DIR [--type q4_k_m|q8_0|f16]\n", name)
		return 2
	}
	if *from == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: --from and --out are required, and nothing else\n", name)
		fmt.Fprintf(stderr, "usage: %s --from DIR --out DIR [--type q4_k_m|q8_0|f16]\n", name)
		return 2
	}
	ft, err := quant.ParseFileType(*typ)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --type: %v\n", name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := Options{From: *from, Out: *out, Type: ft}
	if !*quiet {
		o.Progress = stderr
	}
	res, err := Convert(ctx, o)
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "%s: note: %s\n", name, n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	fmt.Fprintf(stdout, "language model  %s  (%s)\n", res.Text, humanBytes(res.TextBytes))
	fmt.Fprintf(stdout, "projector       %s  (%s)\n", res.Projector, humanBytes(res.ProjectorBytes))
	fmt.Fprintf(stdout, "checksums       %s\n", res.Manifest)
	fmt.Fprintf(stdout, "took %s for %s of weights\n", res.Elapsed.Round(100_000_000), humanBytes(res.SourceBytes))
	fmt.Fprintf(stdout, "next: cxrview model import %q %q\n", res.Text, res.Projector)
	return 0
}
