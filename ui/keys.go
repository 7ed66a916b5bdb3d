package ui

import (
	"fmt"
	"runtime"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"
)

// binding is one keyboard or mouse binding. The same table drives the key
// dispatch, the menus' shortcut labels and Help → Keyboard Shortcuts, so the
// help cannot miss a binding.
type binding struct {
	group  string
	keys   string // as the help shows it
	what   string
	runes  []rune                  // typed characters
	names  []fyne.KeyName          // keys without a character
	short  *desktop.CustomShortcut // Ctrl (Cmd on macOS) shortcuts, fired through the menu
	action func()                  // nil for mouse bindings, which the viewport handles
	// when, if set, says whether the binding applies now; a key whose
	// bindings do not apply goes to the next binding of the same key
	// (Esc stops a running generation, else returns to the pan tool).
	when func() bool
}

// menuItem makes the menu entry labelled label of the binding described by
// what in bs, so that the menu and the keyboard run the same action.
// Ctrl shortcuts fire through the menu; plain keys are only shown beside
// the item: macOS would turn them into key equivalents and run the action
// twice with the key handler, so they go without there. A what that is
// not in bs is a typo in this package, caught by its tests.
func menuItem(bs []binding, label, what string) *fyne.MenuItem {
	for _, b := range bs {
		if b.what != what || b.group == "" {
			continue
		}
		it := fyne.NewMenuItem(label, b.action)
		switch {
		case b.short != nil:
			it.Shortcut = b.short
		case runtime.GOOS != "darwin":
			it.Shortcut = displayKey(b.keys)
		}
		return it
	}
	panic("ui: no binding " + what)
}

// panelBindings is implemented by a report panel that adds its own
// bindings (Generate, Stop...) to the window's table.
type panelBindings interface {
	bindings() []binding
}

func ctrl(k fyne.KeyName) *desktop.CustomShortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault}
}

func ctrlShift(k fyne.KeyName) *desktop.CustomShortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
}

// bindings lists every binding of the main window.
func (v *Viewer) bindings() []binding {
	vp := v.vp
	preset := func(i int) func() { return func() { vp.SetPreset(i) } }
	var panel []binding
	if pb, ok := v.report.(panelBindings); ok {
		panel = pb.bindings()
	}
	bs := []binding{
		{group: "File", keys: "Ctrl+O", what: "Open an image", short: ctrl(fyne.KeyO), action: v.chooseFile},
		{group: "File", keys: "Ctrl+Shift+O", what: "Open a folder of images", short: ctrlShift(fyne.KeyO), action: v.chooseFolder},
		{group: "File", keys: "Page Down", what: "Next image in the folder", names: []fyne.KeyName{fyne.KeyPageDown}, action: v.Next},
		{group: "File", keys: "Page Up", what: "Previous image in the folder", names: []fyne.KeyName{fyne.KeyPageUp}, action: v.Prev},
		{group: "File", keys: "Ctrl+,", what: "Settings", short: ctrl(fyne.KeyComma), action: v.showSettings},
		{group: "File", keys: "Ctrl+Q", what: "Quit", short: ctrl(fyne.KeyQ), action: v.quit},

		{group: "View", keys: "F", what: "Fit the image to the window", runes: []rune{'f', 'F'}, action: vp.Fit},
		{group: "View", keys: "Z", what: "Actual pixels (1:1)", runes: []rune{'z', 'Z'}, action: vp.OneToOne},
		{group: "View", keys: "+", what: "Zoom in", runes: []rune{'+', '='}, action: func() { vp.Zoom(1.25) }},
		{group: "View", keys: "−", what: "Zoom out", runes: []rune{'-', '_'}, action: func() { vp.Zoom(0.8) }},
		{group: "View", keys: "Arrow keys", what: "Pan", names: []fyne.KeyName{fyne.KeyLeft, fyne.KeyRight, fyne.KeyUp, fyne.KeyDown}},
		{group: "View", keys: "Home", what: "Reset the view (fit, file's window, no rotation)", names: []fyne.KeyName{fyne.KeyHome}, action: vp.Reset},
		{group: "View", keys: "R", what: "Rotate 90° clockwise", runes: []rune{'r'}, action: func() { vp.Rotate(1) }},
		{group: "View", keys: "Shift+R", what: "Rotate 90° counter-clockwise", runes: []rune{'R'}, action: func() { vp.Rotate(-1) }},
		{group: "View", keys: "H", what: "Flip horizontally", runes: []rune{'h', 'H'}, action: vp.FlipH},
		{group: "View", keys: "V", what: "Flip vertically", runes: []rune{'v', 'V'}, action: vp.FlipV},
		{group: "View", keys: "O", what: "Corner overlays and orientation markers on/off", runes: []rune{'o', 'O'}, action: v.toggleOverlays},
		{group: "View", keys: "T", what: "Teaching mode: hide everything that identifies the patient", runes: []rune{'t', 'T'}, action: v.toggleTeaching},
		{group: "View", keys: "F11", what: "Full screen", names: []fyne.KeyName{fyne.KeyF11}, action: v.toggleFullScreen},

		{group: "Window", keys: "1 – 9", what: "Window presets: the file's own windows, then Lung, Mediastinum, Bone, Auto"},
		{group: "Window", keys: "I", what: "Invert", runes: []rune{'i', 'I'}, action: vp.Invert},

		{group: "Tools", keys: "P", what: "Pan tool (left drag moves the image)", runes: []rune{'p', 'P'}, action: func() { vp.SetTool(panTool{}) }},
		{group: "Tools", keys: "W", what: "Window/level tool (left drag sets the window)", runes: []rune{'w', 'W'}, action: func() { vp.SetTool(windowTool{}) }},
		{group: "Tools", keys: "M", what: "Distance tool (left drag measures, in mm from the pixel spacing)", runes: []rune{'m', 'M'}, action: func() { vp.SetTool(distanceTool{}) }},
		{group: "Tools", keys: "Delete", what: "Clear the measurements", names: []fyne.KeyName{fyne.KeyDelete, fyne.KeyBackspace}, action: vp.ClearMeasurements},
		{group: "Tools", keys: "Esc", what: "Back to the pan tool", names: []fyne.KeyName{fyne.KeyEscape}, action: func() { vp.SetTool(panTool{}) }},
	}
	// The report panel's bindings come after the viewer's own tools and
	// before Help; conditional ones take precedence for the same key.
	bs = append(bs, panel...)
	bs = append(bs, []binding{
		{group: "Help", keys: "F1", what: "This list of shortcuts", names: []fyne.KeyName{fyne.KeyF1}, runes: []rune{'?'}, action: v.showShortcuts},

		{group: "Mouse", keys: "Wheel", what: "Zoom about the pointer"},
		{group: "Mouse", keys: "Left drag", what: "Use the tool: pan (default), window/level or distance"},
		{group: "Mouse", keys: "Right drag", what: "Window/level: right widens the window, down raises the centre"},
		{group: "Mouse", keys: "Double-click", what: "Fit the image to the window"},
		{group: "Mouse", keys: "Drop files", what: "Open the images or folders dropped on the window"},
	}...)
	// The presets are keys 1–9, one binding each, listed as one line.
	for i := range 9 {
		bs = append(bs, binding{group: "", keys: fmt.Sprint(i + 1), runes: []rune{rune('1' + i)}, action: preset(i)})
	}
	pan := func(dx, dy float64) func() {
		return func() { vp.Pan(dx*vp.tf.W/10, dy*vp.tf.H/10) }
	}
	for i, k := range []fyne.KeyName{fyne.KeyLeft, fyne.KeyRight, fyne.KeyUp, fyne.KeyDown} {
		d := [][2]float64{{1, 0}, {-1, 0}, {0, 1}, {0, -1}}[i]
		bs = append(bs, binding{names: []fyne.KeyName{k}, action: pan(d[0], d[1])})
	}
	return bs
}

// installKeys routes typed characters and keys to the bindings. Keys typed
// into a focused widget (the report editor) never reach these handlers.
func (v *Viewer) installKeys() {
	// Each key has its conditional bindings, tried in order, and one
	// unconditional fallback (the last one listed wins, as before).
	type keyActions struct {
		cond     []binding
		fallback func()
	}
	runes := map[rune]*keyActions{}
	names := map[fyne.KeyName]*keyActions{}
	add := func(k *keyActions, b binding) *keyActions {
		if k == nil {
			k = &keyActions{}
		}
		if b.when != nil {
			k.cond = append(k.cond, b)
		} else {
			k.fallback = b.action
		}
		return k
	}
	for _, b := range v.bindings() {
		if b.action == nil {
			continue
		}
		for _, r := range b.runes {
			runes[r] = add(runes[r], b)
		}
		for _, n := range b.names {
			names[n] = add(names[n], b)
		}
	}
	run := func(k *keyActions) {
		if k == nil {
			return
		}
		for _, b := range k.cond {
			if b.when() {
				b.action()
				return
			}
		}
		if k.fallback != nil {
			k.fallback()
		}
	}
	c := v.win.Canvas()
	c.SetOnTypedRune(func(r rune) { run(runes[r]) })
	c.SetOnTypedKey(func(e *fyne.KeyEvent) { run(names[e.Name]) })
}

// shortcutRows is the help text: one row per binding, grouped, with a
// heading row (empty key) before each group.
func (v *Viewer) shortcutRows() [][2]string {
	var rows [][2]string
	group := ""
	for _, b := range v.bindings() {
		if b.group == "" {
			continue // the per-key entries behind a listed range
		}
		if b.group != group {
			group = b.group
			rows = append(rows, [2]string{"", strings.ToUpper(group)})
		}
		rows = append(rows, [2]string{b.keys, b.what})
	}
	return rows
}

func (v *Viewer) showShortcuts() {
	grid := container.New(layout.NewFormLayout())
	for _, r := range v.shortcutRows() {
		k := widget.NewLabelWithStyle(r[0], fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
		w := widget.NewLabel(r[1])
		if r[0] == "" {
			w.TextStyle.Bold = true
		}
		grid.Add(k)
		grid.Add(w)
	}
	body := container.NewBorder(nil, nil, nil, nil, container.NewVScroll(grid))
	d := dialog.NewCustom("Keyboard Shortcuts", "Close", body, v.win)
	s := v.win.Canvas().Size()
	d.Resize(fyne.NewSize(min(760, s.Width*0.9), min(720, s.Height*0.9)))
	d.Show()
}
