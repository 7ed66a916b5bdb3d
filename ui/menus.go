package ui

import (
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
)

// buildMenus (re)builds the menu bar: File, View, Report, Model, Help. It
// runs again whenever a check mark, the presets or the recent files change.
func (v *Viewer) buildMenus() {
	bs := v.bindings()
	item := func(label, what string) *fyne.MenuItem { return menuItem(bs, label, what) }
	check := func(it *fyne.MenuItem, on bool) *fyne.MenuItem { it.Checked = on; return it }
	noImage := v.vp.Image() == nil
	disable := func(it *fyne.MenuItem) *fyne.MenuItem { it.Disabled = noImage; return it }

	recent := fyne.NewMenu("")
	switch {
	case v.teaching:
		it := fyne.NewMenuItem("Hidden in teaching mode", nil)
		it.Disabled = true
		recent.Items = append(recent.Items, it)
	case len(v.settings.RecentFiles) == 0:
		it := fyne.NewMenuItem("No recent files", nil)
		it.Disabled = true
		recent.Items = append(recent.Items, it)
	default:
		for _, p := range v.settings.RecentFiles {
			label := fmt.Sprintf("%s  —  %s", filepath.Base(p), filepath.Dir(p))
			recent.Items = append(recent.Items, fyne.NewMenuItem(label, func() { v.openRecent(p) }))
		}
	}
	openRecent := fyne.NewMenuItem("Open Recent", nil)
	openRecent.ChildMenu = recent

	quit := item("Quit", "Quit")
	quit.IsQuit = true
	file := fyne.NewMenu("File",
		item("Open…", "Open an image"),
		item("Open Folder…", "Open a folder of images"),
		openRecent,
		fyne.NewMenuItemSeparator(),
		item("Next Image", "Next image in the folder"),
		item("Previous Image", "Previous image in the folder"),
		fyne.NewMenuItemSeparator(),
		item("Settings…", "Settings"),
		fyne.NewMenuItemSeparator(),
		quit,
	)
	for _, it := range file.Items[4:6] {
		it.Disabled = len(v.list) < 2
	}

	presets := fyne.NewMenu("")
	for i, w := range v.vp.Presets() {
		label := fmt.Sprintf("%s  (C %s  W %s)", w.Name, trimFloat(w.Center, 1), trimFloat(w.Width, 1))
		if i < 9 {
			label = fmt.Sprintf("%d  %s", i+1, label)
		}
		it := fyne.NewMenuItem(label, func() { v.vp.SetPreset(i) })
		it.Checked = i == v.vp.Preset()
		presets.Items = append(presets.Items, it)
	}
	windowItem := disable(fyne.NewMenuItem("Window Presets", nil))
	windowItem.ChildMenu = presets

	_, isPan := v.vp.Tool().(panTool)
	_, isWL := v.vp.Tool().(windowTool)
	_, isDist := v.vp.Tool().(distanceTool)
	view := fyne.NewMenu("View",
		disable(item("Fit to Window", "Fit the image to the window")),
		disable(item("Actual Pixels (1:1)", "Actual pixels (1:1)")),
		disable(item("Zoom In", "Zoom in")),
		disable(item("Zoom Out", "Zoom out")),
		disable(item("Reset View", "Reset the view (fit, file's window, no rotation)")),
		fyne.NewMenuItemSeparator(),
		windowItem,
		disable(check(item("Invert", "Invert"), v.vp.View().Invert)),
		fyne.NewMenuItemSeparator(),
		disable(item("Rotate Right", "Rotate 90° clockwise")),
		disable(item("Rotate Left", "Rotate 90° counter-clockwise")),
		disable(item("Flip Horizontal", "Flip horizontally")),
		disable(item("Flip Vertical", "Flip vertically")),
		fyne.NewMenuItemSeparator(),
		check(item("Pan Tool", "Pan tool (left drag moves the image)"), isPan),
		check(item("Window/Level Tool", "Window/level tool (left drag sets the window)"), isWL),
		check(item("Distance Tool", "Distance tool (left drag measures, in mm from the pixel spacing)"), isDist),
		disable(item("Clear Measurements", "Clear the measurements")),
		fyne.NewMenuItemSeparator(),
		check(item("Overlays", "Corner overlays and orientation markers on/off"), v.vp.Overlays()),
		check(item("Teaching Mode", "Teaching mode: hide everything that identifies the patient"), v.teaching),
		item("Full Screen", "Full screen"),
	)

	report := fyne.NewMenu("Report", v.report.ReportMenu()...)
	model := fyne.NewMenu("Model", v.report.ModelMenu()...)
	help := fyne.NewMenu("Help",
		item("Keyboard Shortcuts", "This list of shortcuts"),
		fyne.NewMenuItem("About cxrview", v.showAbout),
	)
	v.win.SetMainMenu(fyne.NewMainMenu(file, view, report, model, help))
	v.menuKey = v.menuState()
}

// displayKey is a shortcut that the menu shows but never fires: keys
// without Ctrl go through the window's key handler.
func displayKey(keys string) *desktop.CustomShortcut {
	var mod fyne.KeyModifier
	if k, ok := strings.CutPrefix(keys, "Shift+"); ok {
		mod, keys = fyne.KeyModifierShift, k
	}
	return &desktop.CustomShortcut{KeyName: fyne.KeyName(keys), Modifier: mod}
}

// showSettings edits the theme, the reader's name and the display defaults.
func (v *Viewer) showSettings() {
	s := v.settings
	themeSel := widget.NewRadioGroup([]string{"Dark", "Light"}, nil)
	themeSel.Horizontal = true
	themeSel.SetSelected("Dark")
	if s.Theme == "light" {
		themeSel.SetSelected("Light")
	}
	reader := widget.NewEntry()
	reader.SetText(s.ReaderName)
	reader.SetPlaceHolder("Dr A. Reader (signs reports)")
	overlays := widget.NewCheck("Show corner overlays", nil)
	overlays.SetChecked(s.Overlays)
	teaching := widget.NewCheck("Teaching mode (hide identifying text)", nil)
	teaching.SetChecked(v.teaching)
	items := []*widget.FormItem{
		widget.NewFormItem("Theme", themeSel),
		widget.NewFormItem("Reader name", reader),
		widget.NewFormItem("Display", container.NewVBox(overlays, teaching)),
	}
	d := dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		v.applySettings(func(s *app.Settings) {
			s.Theme = "dark"
			if themeSel.Selected == "Light" {
				s.Theme = "light"
			}
			s.ReaderName = reader.Text
			s.Overlays = overlays.Checked
			s.TeachingMode = teaching.Checked
		})
	}, v.win)
	d.Resize(fyne.NewSize(480, d.MinSize().Height))
	d.Show()
}

// applySettings saves a change made in the Settings dialog and applies it.
func (v *Viewer) applySettings(change func(*app.Settings)) {
	v.UpdateSettings(change)
	v.app.Settings().SetTheme(themeFor(v.settings.Theme))
	v.vp.SetOverlays(v.settings.Overlays)
	if v.settings.TeachingMode != v.teaching {
		v.setTeaching(v.settings.TeachingMode)
	}
	v.buildMenus()
}
