// Command cxrview is a chest X-ray viewer that drafts reports with a local
// CXR-LLaVA model. With no arguments, or with image files or folders, it
// opens the viewer; otherwise it runs one of its commands.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"

	"cxrview/app"
	"cxrview/ui"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	verbose := false
	for len(args) > 0 && (args[0] == "--verbose" || args[0] == "-v") {
		verbose = true
		args = args[1:]
	}
	if !verbose {
		// suyashkumar/dicom reports parse trouble through the standard
		// logger; cxrview reports it once, as an error naming the file.
		log.SetOutput(io.Discard)
	}
	dirs, err := app.DefaultDirs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cxrview:", err)
		return 1
	}
	env := &app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Dirs: dirs, Version: version, Verbose: verbose}
	if len(args) > 0 && app.IsCommand(args[0]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return app.Run(ctx, env, args)
	}
	return ui.Main(env, args)
}
