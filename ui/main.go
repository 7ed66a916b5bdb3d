package ui

import (
	"fmt"
	"os"
	"strings"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"cxrview/app"
	"cxrview/assets"
)

// AppID is the application's identifier for the desktop (and FyneApp.toml).
const AppID = "org.cxrview.viewer"

// Main opens the viewer on the files and folders in args and returns the
// process exit code when the window closes.
func Main(env *app.Env, args []string) int {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			if _, err := os.Stat(a); err != nil {
				fmt.Fprintf(env.Stderr, "cxrview: unknown flag %s (see cxrview --help)\n", a)
				return 2
			}
		}
	}
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(fyne.NewStaticResource("cxrview.png", assets.AppIcon()))
	settings, err := app.LoadSettings(env.Dirs)
	v := NewViewer(a, env, settings, Options{Report: NewPanel(PanelOptions{})})
	v.Window().Resize(fyne.NewSize(1360, 860))
	if err != nil {
		// A damaged settings file: say so, go on with the defaults.
		v.ShowError("Settings", err)
	}
	v.OpenPaths(args)
	v.Window().ShowAndRun()
	v.flushSettings()
	return 0
}
