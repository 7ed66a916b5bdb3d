package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Env is what a command may touch: its streams, the user's directories and
// facts about the running binary. Tests build their own Env.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Dirs           Dirs
	Version        string // cxrview's own version, set by main
	Verbose        bool
}

// Command is one subcommand of the cxrview binary.
type Command struct {
	Name    string
	Usage   string // the argument synopsis after the name
	Summary string // one line for the command list
	Hidden  bool   // developer commands are left out of the list
	Run     func(ctx context.Context, env *Env, args []string) error
}

// ErrUsage marks errors caused by a wrong command line: they exit with 2.
var ErrUsage = errors.New("usage")

// usageError wraps msg so that errors.Is(err, ErrUsage) holds.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Commands lists every subcommand, in the order of the help text.
func Commands() []Command {
	return []Command{
		{Name: "report", Usage: "(--model NAME | --text T.gguf --mmproj M.gguf) [flags] FILE|FOLDER...", Summary: "draft reports for films or folders of films from the command line", Run: runReport},
		{Name: "export", Usage: exportUsage, Summary: "export saved report drafts as text, Markdown, PDF, DICOM SR, FHIR or PNG", Run: runExport},
		{Name: "model", Usage: modelUsage, Summary: "convert, import, list, verify, remove and export models", Run: runModel},
		{Name: "info", Usage: "[--json] [--frame N] FILE", Summary: "show what cxrview reads from an image file", Run: runInfo},
		{Name: "render", Usage: "[--window C,W | --voi N] [--invert] [--frame N] IN OUT.png", Summary: "render an image to a PNG through its display pipeline", Run: runRender},
		{Name: "label", Usage: "[--json] [--sections auto|all|impression] [FILE...]", Summary: "label report text for the 14 CheXpert findings", Run: runLabel},
		{Name: "eval", Usage: "--reports generated.jsonl --truth truth.csv [--findings mimic6|external7|all14] [--out DIR] [--seed N]", Summary: "score generated reports against references the way the CXR-LLaVA paper did", Run: runEval},
		{Name: "bench", Usage: "[--shape cxr7b] [--type q4_k_m] [--gpu-layers N]", Summary: "measure inference speed on models of the real shapes", Run: runBench},
		{Name: "version", Usage: "[--json]", Summary: "print versions and the compute backends that load", Run: runVersion},
		{Name: "runner", Usage: "", Summary: "the inference runner (started by cxrview itself)", Hidden: true, Run: runRunner},
		{Name: "dev", Usage: "testmodel --out DIR [--shape S] [--type T] [--if-missing]", Summary: "developer tools: random-weight test models", Hidden: true, Run: runDev},
	}
}

// IsCommand reports whether name is a subcommand (or a request for help),
// so that main can tell a command line from a list of files to open.
func IsCommand(name string) bool {
	switch name {
	case "help", "-h", "-help", "--help":
		return true
	}
	for _, c := range Commands() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Run executes the subcommand named by args[0] and returns the process exit
// code: 0 on success, 2 for a wrong command line, 1 for any other failure.
// Errors are printed once, here, as one line naming the command.
func Run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || IsHelp(args[0]) {
		if len(args) > 1 {
			if c, ok := lookup(args[1]); ok {
				return Run(ctx, env, []string{c.Name, "--help"})
			}
		}
		PrintUsage(env.Stdout)
		return 0
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "cxrview: unknown command %q (see cxrview --help)\n", args[0])
		return 2
	}
	err := c.Run(ctx, env, args[1:])
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(env.Stderr, "cxrview %s: %v\n", c.Name, strings.TrimPrefix(err.Error(), ErrUsage.Error()+": "))
		fmt.Fprintf(env.Stderr, "usage: cxrview %s %s\n", c.Name, c.Usage)
		return 2
	default:
		var ee *ExitError
		if errors.As(err, &ee) {
			if ee.Err != nil {
				fmt.Fprintf(env.Stderr, "cxrview %s: %v\n", c.Name, ee.Err)
			}
			return ee.Code
		}
		fmt.Fprintf(env.Stderr, "cxrview %s: %v\n", c.Name, err)
		return 1
	}
}

// ExitError lets a command choose its exit code (for example, a child
// process's code passed through).
type ExitError struct {
	Code int
	Err  error // printed if not nil
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// IsHelp reports whether arg asks for help.
func IsHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func lookup(name string) (Command, bool) {
	for _, c := range Commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// PrintUsage writes the overall help text.
func PrintUsage(w io.Writer) {
	fmt.Fprint(w, `cxrview: read chest X-rays and draft reports with a local CXR-LLaVA model.

usage:
  cxrview [FILE|FOLDER...]        open the viewer (with the images given)
  cxrview COMMAND [ARGS...]       run a command without a window
  cxrview COMMAND --help          help for one command

commands:
`)
	cmds := Commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name))
	}
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprint(w, `
global flags (before the command):
  --verbose    show the inference engine's own log on stderr
`)
}

// newFlags returns a flag set whose --help prints the command's usage to
// stdout and whose errors are returned, not fatal.
func newFlags(env *Env, c string, usage, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(c, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: cxrview %s %s\n\n%s\n", c, usage, summary)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nflags:")
			printDefaults(out, fs)
		}
	}
	return fs
}

// parseFlags parses args; --help prints usage to stdout and returns
// flag.ErrHelp, other mistakes come back as usage errors.
func parseFlags(env *Env, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// interleave moves flags that follow positional arguments in front of them,
// so that "cxrview render in.dcm out.png --invert" works as users expect.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// stdinIsTerminal reports whether r is an interactive terminal, so commands
// that read stdin can print a hint instead of waiting silently.
func stdinIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printDefaults is flag.PrintDefaults with the double-dash spelling the help
// texts use.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n      " + strings.ReplaceAll(usage, "\n", "\n      ")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}
