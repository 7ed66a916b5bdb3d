// Command cxrview-engine is cxrview's inference engine: the runner process
// that owns llama.cpp, and the tools that need ggml's native code (model
// conversion, quantization, test models). The viewer starts it; users call
// it through `cxrview`.
//
// It is a separate binary so that the viewer never links llama.cpp and the
// engine never links GTK or needs a display: a headless server or a CI
// machine runs it as is.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"cxrview/engine/llm"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	level := slog.LevelWarn
	if os.Getenv("CXRVIEW_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	// llama.cpp's log goes through the default slog level.
	slog.SetLogLoggerLevel(level)
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: cxrview-engine runner|version [--json]|testmodel|convert ... (normally started by cxrview)")
		return 2
	}
	switch args[0] {
	case "runner":
		return llm.Main()
	case "version":
		return version(args[1:])
	}
	if code, ok := tool(args); ok {
		return code
	}
	fmt.Fprintf(os.Stderr, "cxrview-engine: unknown command %q\n", args[0])
	return 2
}
