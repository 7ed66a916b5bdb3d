package ui

import (
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// reportEditor is the multi-line editor of the report. While the model
// streams a draft into it, it is read-only without looking disabled (the
// text must stay readable); Esc inside it stops the generation, as it does
// anywhere else in the window.
type reportEditor struct {
	widget.Entry

	readOnly bool
	// onEscape runs when Esc is typed into the editor; it reports whether
	// it used the key.
	onEscape func() bool
	// onEdit runs after each change the user makes (not after setText).
	onEdit func(text string)
	// setting is true while the program replaces the text, so that the
	// change is not taken for an edit.
	setting bool
}

func newReportEditor() *reportEditor {
	e := &reportEditor{}
	e.MultiLine = true
	e.Wrapping = fyne.TextWrapWord
	e.ExtendBaseWidget(e)
	e.OnChanged = func(s string) {
		if !e.setting && e.onEdit != nil {
			e.onEdit(s)
		}
	}
	return e
}

// setText replaces the text without counting it as an edit.
func (e *reportEditor) setText(s string) {
	if s == e.Text {
		return
	}
	e.setting = true
	e.SetText(s)
	e.setting = false
}

// setReadOnly makes the editor refuse (on) or accept edits again.
func (e *reportEditor) setReadOnly(on bool) { e.readOnly = on }

// TypedRune implements fyne.Focusable; typing is ignored while read-only.
func (e *reportEditor) TypedRune(r rune) {
	if e.readOnly {
		return
	}
	e.Entry.TypedRune(r)
}

// TypedKey implements fyne.Focusable: Esc goes to onEscape; while
// read-only only the keys that move the cursor work.
func (e *reportEditor) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape {
		if e.onEscape != nil && e.onEscape() {
			return
		}
	}
	if e.readOnly {
		switch k.Name {
		case fyne.KeyUp, fyne.KeyDown, fyne.KeyLeft, fyne.KeyRight, fyne.KeyHome, fyne.KeyEnd,
			fyne.KeyPageUp, fyne.KeyPageDown:
		default:
			return
		}
	}
	e.Entry.TypedKey(k)
}

// TypedShortcut implements fyne.Shortcutable: while read-only only copy
// and select-all work.
func (e *reportEditor) TypedShortcut(s fyne.Shortcut) {
	if e.readOnly {
		switch s.(type) {
		case *fyne.ShortcutCopy, *fyne.ShortcutSelectAll:
		default:
			return
		}
	}
	e.Entry.TypedShortcut(s)
}

// moveToEnd puts the cursor after the last character.
func (e *reportEditor) moveToEnd() {
	e.setCursorOffset(utf8.RuneCountInString(e.Text))
	e.Refresh()
}

// selectRunes selects the runes [start, end) of the text, as a user would
// with Shift and the arrow keys (Entry has no API to set a selection).
func (e *reportEditor) selectRunes(start, end int) {
	n := utf8.RuneCountInString(e.Text)
	start, end = max(0, min(start, n)), max(0, min(end, n))
	if end <= start {
		e.setCursorOffset(start)
		e.Refresh()
		return
	}
	ro := e.readOnly
	e.readOnly = false // the selection keys below must pass
	shift := &fyne.KeyEvent{Name: desktop.KeyShiftLeft}
	e.setCursorOffset(start)
	e.KeyUp(shift)
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyHome}) // drop any old selection
	e.setCursorOffset(start)
	e.KeyDown(shift)
	e.setCursorOffset(end - 1)
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyRight})
	e.KeyUp(shift)
	e.readOnly = ro
	e.Refresh()
}

// setCursorOffset moves the cursor to rune offset pos. The editor's rows
// are its wrapped lines, so the row is found by asking the entry where
// each row begins.
func (e *reportEditor) setCursorOffset(pos int) {
	row := 0
	for r := 1; ; r++ {
		e.CursorRow, e.CursorColumn = r, 0
		begin := e.CursorTextOffset()
		if begin == 0 || begin > pos {
			break // past the last row, or past pos
		}
		row = r
	}
	e.CursorRow = row
	e.CursorColumn = 0
	e.CursorColumn = pos - e.CursorTextOffset()
}

// runeOffset converts a byte offset of s into a rune offset.
func runeOffset(s string, b int) int {
	b = max(0, min(b, len(s)))
	return utf8.RuneCountInString(s[:b])
}
