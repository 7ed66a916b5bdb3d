package ui

import (
	"fyne.io/fyne/v2"

	"cxrview/app"
	"cxrview/imaging"
)

// ReportPanel is the right-hand side of the main window, where the AI
// draft is made, edited and signed. The viewer knows nothing of drafts or
// models: it hands the panel the image on screen and a Host to call back.
// The application's is NewPanel's.
type ReportPanel interface {
	// Object is the panel's widget tree.
	Object() fyne.CanvasObject
	// Attach is called once, on the UI goroutine, before the window shows.
	Attach(h Host)
	// ImageChanged is called on the UI goroutine after a new image is
	// shown; s is nil when none is.
	ImageChanged(s *Study)
	// SetTeaching hides (on) or shows again what identifies the patient.
	SetTeaching(on bool)
	// ReportMenu and ModelMenu are the items of the Report and Model menus;
	// they are asked for again after Host.RefreshMenus.
	ReportMenu() []*fyne.MenuItem
	ModelMenu() []*fyne.MenuItem
}

// Study is the image on screen as the report panel sees it.
type Study struct {
	Path  string
	Image *imaging.Image
}

// Host is what the main window offers the report panel. Methods run on the
// UI goroutine unless they say otherwise.
type Host interface {
	Window() fyne.Window
	Env() *app.Env
	Settings() app.Settings
	// UpdateSettings applies change to the window's settings at once and
	// saves it off the UI goroutine, on top of what the file holds then
	// (edits from elsewhere are not overwritten); a failure to save is
	// shown in a dialog.
	UpdateSettings(change func(*app.Settings))
	// SetEngineStatus shows text in the status bar; safe from any goroutine.
	SetEngineStatus(text string)
	// CurrentView is the window and inversion the radiologist reads with.
	CurrentView() imaging.View
	// ShowError shows err in a dialog titled title.
	ShowError(title string, err error)
	// RefreshMenus rebuilds the Report and Model menus.
	RefreshMenus()
	// Teaching reports whether teaching mode is on.
	Teaching() bool
	// Chooser asks for files and folders (native dialogs, Fyne's as the
	// fallback; tests replace it).
	Chooser() FileChooser
}
