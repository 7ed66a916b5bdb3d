// Package cleanlocale keeps Fyne from logging an error at start-up under a
// "C.UTF-8" locale, the default of containers and CI machines. Every
// cxrview command imports Fyne (the binary is one), so without it each
// command line would print three lines of noise on stderr.
//
// Fyne's lang package reads the locale in its init: go-locale hands it the
// language "C" of "C.UTF-8" (only a bare "C" counts as no locale there),
// which Fyne cannot parse. Setting LANGUAGE, which go-locale prefers when
// the locale is not a bare "C", gives it English instead. This package must
// be initialised before Fyne's: Go initialises packages in import-path
// order once their imports are ready, and "cxrview/…" sorts before
// "fyne.io/…" while needing only os and strings, which Fyne needs too.
package cleanlocale

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		lang, _, _ := strings.Cut(v, ".")
		lang, _, _ = strings.Cut(lang, "@")
		if (lang == "C" || lang == "POSIX") && v != lang {
			// English is what the C locale shows; GNU gettext ignores
			// LANGUAGE under it, so C programs see no difference.
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
}
