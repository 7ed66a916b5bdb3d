package assets

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed prompts
var files embed.FS

// FS returns every embedded file, for code that walks them.
func FS() fs.FS { return files }

// Prompt returns the text of the prompt file prompts/<name>.txt exactly as
// stored, trailing newlines included: the templates decide what to strip,
// as the reference chat template does.
func Prompt(name string) (string, error) {
	b, err := files.ReadFile("prompts/" + name + ".txt")
	if err != nil {
		return "", fmt.Errorf("prompt %q: %w", name, err)
	}
	return string(b), nil
}

// MustPrompt is Prompt for names fixed in the source; a missing file is a
// build mistake, caught by the package's tests.
func MustPrompt(name string) string {
	s, err := Prompt(name)
	if err != nil {
		panic(err)
	}
	return s
}
