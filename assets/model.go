package assets

import (
	"embed"
	"strings"
)

//go:embed model
var modelFiles embed.FS

// ModelLicence is the licence notice of the CXR-LLaVA v2 weights and of the
// files converted from them (CC BY-NC 4.0 and the Llama 2 Community
// License), shown on import and in Help → About.
func ModelLicence() string { return mustModelText("licence.txt") }

// ModelCitation is the paper to cite for CXR-LLaVA, with its reported
// results, shown on import and in Help → About.
func ModelCitation() string { return mustModelText("citation.txt") }

// mustModelText reads a file fixed in the source; a missing file is a
// build mistake, caught by the package's tests.
func mustModelText(name string) string {
	b, err := modelFiles.ReadFile("model/" + name)
	if err != nil {
		panic(err)
	}
	return strings.TrimRight(string(b), "\n") + "\n"
}
