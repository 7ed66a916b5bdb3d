package ui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/engine"
)

// bindings are the panel's rows of the window's binding table: they drive
// the keys, the Report menu's shortcuts and Help → Keyboard Shortcuts.
func (p *Panel) bindings() []binding {
	return []binding{
		{group: "Report", keys: "Ctrl+G", what: "Generate the AI draft (Regenerate when there is one)", short: ctrl(fyne.KeyG), action: p.Generate},
		{group: "Report", keys: "Esc", what: "Stop generating (while the model writes)", names: []fyne.KeyName{fyne.KeyEscape}, action: p.Stop, when: p.Running},
		{group: "Report", keys: "Ctrl+E", what: "Edit the report (cursor at its end)", short: ctrl(fyne.KeyE), action: p.focusEditor},
		{group: "Report", keys: "Ctrl+Shift+A", what: "Ask a follow-up question (the question field)", short: ctrlShift(fyne.KeyA), action: p.focusAsk},
		{group: "Report", keys: "Ctrl+Shift+S", what: "Sign the report", short: ctrlShift(fyne.KeyS), action: p.Sign},
		{group: "Report", keys: "Ctrl+Shift+E", what: "Export the report as PDF", short: ctrlShift(fyne.KeyE), action: func() { p.Export(app.FormatPDF, false) }},
	}
}

// menuItem makes the menu entry of the panel's binding described by what.
func (p *Panel) menuItem(label, what string) *fyne.MenuItem {
	return menuItem(p.bindings(), label, what)
}

// ReportMenu is part of ReportPanel.
func (p *Panel) ReportMenu() []*fyne.MenuItem {
	noSess := p.sess == nil
	running := p.run != nil
	status := app.StatusEmpty
	var canSign error = app.ErrEmptyReport
	signed := false
	if !noSess {
		status = p.sess.Status()
		canSign = p.sess.CanSign()
		signed = len(p.sess.Draft().Signatures) > 0
	}
	gen := p.menuItem("Generate Draft", "Generate the AI draft (Regenerate when there is one)")
	if status != app.StatusEmpty {
		gen.Label = "Regenerate Draft"
	}
	gen.Disabled = noSess || running || signed || p.model.phase == modelNone
	stop := p.menuItem("Stop", "Stop generating (while the model writes)")
	stop.Disabled = !running
	if runtime.GOOS != "darwin" {
		stop.Shortcut = displayKey("Escape")
	}

	prompt := fyne.NewMenu("")
	for _, pr := range engine.Presets() {
		it := fyne.NewMenuItem(pr.Title(), func() { p.setPreset(pr) })
		it.Checked = pr == p.preset
		prompt.Items = append(prompt.Items, it)
	}
	promptItem := fyne.NewMenuItem("Prompt", nil)
	promptItem.ChildMenu = prompt

	edit := p.menuItem("Edit Report", "Edit the report (cursor at its end)")
	edit.Disabled = noSess
	ask := p.menuItem("Ask a Follow-up Question", "Ask a follow-up question (the question field)")
	ask.Disabled = noSess || running || p.model.phase == modelNone
	sign := p.menuItem("Sign Report…", "Sign the report")
	sign.Disabled = noSess || running || canSign != nil
	discard := fyne.NewMenuItem("Discard Draft…", p.Discard)
	discard.Disabled = noSess || running || signed || status == app.StatusEmpty

	export := fyne.NewMenuItem("Export", nil)
	export.ChildMenu = fyne.NewMenu("", p.exportItems()...)
	export.Disabled = noSess
	return []*fyne.MenuItem{gen, stop, promptItem, fyne.NewMenuItemSeparator(), edit, ask, sign, discard,
		fyne.NewMenuItemSeparator(), export}
}

// exportItems are the Export submenu, shared by the Report menu and the
// panel's Export button.
func (p *Panel) exportItems() []*fyne.MenuItem {
	var items []*fyne.MenuItem
	for _, f := range app.Formats() {
		if f == app.FormatPDF {
			it := p.menuItem("PDF…", "Export the report as PDF")
			items = append(items, it)
			continue
		}
		items = append(items, fyne.NewMenuItem(f.Title()+"…", func() { p.Export(f, false) }))
		if f == app.FormatPNG {
			items = append(items, fyne.NewMenuItem("Image (PNG) with overlays…", func() { p.Export(f, true) }))
		}
	}
	anon := fyne.NewMenuItem("Anonymise", func() {
		p.anonymize = !p.anonymize
		p.refreshMenus()
	})
	anon.Checked = p.anonymize || p.teaching
	if p.teaching {
		anon.Label = "Anonymise (always, in teaching mode)"
		anon.Disabled = true
	}
	running := p.run != nil
	for _, it := range items {
		it.Disabled = p.sess == nil || running
	}
	return append(items, fyne.NewMenuItemSeparator(), anon)
}

// showExportMenu pops the Export submenu up under the Export button.
func (p *Panel) showExportMenu() {
	if p.host == nil {
		return
	}
	c := p.host.Window().Canvas()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(p.exportBtn)
	pos.Y += p.exportBtn.Size().Height
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", p.exportItems()...), c, pos)
}

// Export asks for a folder and writes the report there in format f
// (overlays: burned into a PNG). The draft is never changed by an export;
// a failure (a read-only or full folder) is shown with the draft intact.
// In teaching mode every export is anonymised and the folder dialog does
// not open in the film's folder.
func (p *Panel) Export(f app.Format, overlays bool) {
	if p.sess == nil || p.run != nil {
		return
	}
	sess := p.sess
	anonymize := p.anonymize || p.teaching
	// Teaching mode remembers its own folder: the one of an export made
	// before it may be the patient's.
	start := p.exportDir
	if p.teaching {
		start = p.teachDir
	}
	if start == "" {
		if !p.teaching && p.study != nil {
			start = filepath.Dir(p.study.Path)
		} else {
			start, _ = os.UserHomeDir()
		}
	}
	teaching := p.teaching
	view := p.host.CurrentView()
	title := fmt.Sprintf("Export %s to folder", f.Title())
	p.chooseFolder(title, start, func(dir string, err error) {
		switch {
		case err != nil:
			p.host.ShowError("Cannot show the folder dialog", err)
			return
		case dir == "":
			return
		}
		if teaching {
			p.teachDir = dir
		} else {
			p.exportDir = dir
		}
		p.say("Exporting " + f.Title() + "…")
		go func() {
			path, err := sess.Export(f, dir, app.ExportOptions{Anonymize: anonymize, Overlays: overlays, View: &view})
			p.do(func() { p.exported(f, path, err) })
		}()
	})
}

func (p *Panel) exported(f app.Format, path string, err error) {
	if err != nil {
		p.say("Export failed")
		msg := p.scrub(err).Error()
		switch {
		case errors.Is(err, app.ErrTestModel):
			msg = "A TEST MODEL draft is never written as a " + f.Title() + ": other systems would file it as a report. " +
				"Text, Markdown, PDF and PNG exports are allowed, labelled TEST MODEL."
		case errors.Is(err, app.ErrEmptyReport):
			msg = "The report is empty: there is nothing to export."
		}
		p.host.ShowError("Export failed", fmt.Errorf("%s\n\nThe draft is intact.", msg))
		return
	}
	name := filepath.Base(path)
	p.say(fmt.Sprintf("Exported %s to %s", name, filepath.Dir(path)))
}

// Sign makes the report final with the reader's name from the settings,
// asked for once when it is empty, and the time (Ctrl+Shift+S).
func (p *Panel) Sign() {
	if p.sess == nil || p.run != nil || p.signing {
		return
	}
	if err := p.sess.CanSign(); err != nil {
		p.say("Cannot sign: " + err.Error())
		return
	}
	reader := strings.TrimSpace(p.host.Settings().ReaderName)
	if reader == "" {
		p.askReaderName(func(name string) { p.confirmSign(name) })
		return
	}
	p.confirmSign(reader)
}

func (p *Panel) confirmSign(reader string) {
	sess := p.sess
	what := "final"
	if len(sess.Draft().Signatures) > 0 {
		what = "an amended version"
	}
	p.confirm("Sign the report?", fmt.Sprintf("Sign as %s. The report becomes %s with today's date and time; "+
		"later changes are amendments, signed again.", reader, what), "Sign", func() {
		if sess != p.sess || p.run != nil {
			return
		}
		// Signing writes the draft and its audit trail at once (with an
		// fsync): off the UI goroutine, with the editor read-only until
		// it is done, so that no keystroke slips into the signed text.
		p.signing = true
		p.editor.setReadOnly(true)
		p.refresh()
		go func() {
			_, err := sess.Sign(reader)
			p.do(func() { p.signed(sess, err) })
		}()
	})
}

// signed shows the result of signing sess.
func (p *Panel) signed(sess *app.Session, err error) {
	if sess != p.sess {
		// Another film is on screen: only a failure is worth a word.
		if err != nil {
			p.host.ShowError("Signing the previous report failed", p.scrub(err))
		}
		return
	}
	p.signing = false
	p.editor.setReadOnly(p.run != nil)
	var se *app.SaveError
	switch {
	case errors.As(err, &se):
		p.saveErr = err
		p.host.ShowError("Signed, not yet saved", fmt.Errorf("%v\n\nThe signed report stays in memory and is saved as soon as the disk allows.", p.scrub(err)))
	case err != nil:
		p.host.ShowError("Cannot sign", err)
	default:
		p.message = "Signed"
	}
	p.refresh()
}

// askReaderName asks for the name that signs reports and saves it in the
// settings (it is asked once).
func (p *Panel) askReaderName(then func(string)) {
	e := widget.NewEntry()
	e.SetPlaceHolder("Dr A. Reader")
	e.Validator = func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("your name signs the report")
		}
		return nil
	}
	items := []*widget.FormItem{widget.NewFormItem("Your name", e)}
	items[0].HintText = "Printed on signed reports; kept in Settings"
	d := dialog.NewForm("Reader name", "Continue", "Cancel", items, func(ok bool) {
		name := strings.TrimSpace(e.Text)
		if !ok || name == "" {
			return
		}
		p.host.UpdateSettings(func(s *app.Settings) { s.ReaderName = name })
		then(name)
	}, p.host.Window())
	d.Resize(fyne.NewSize(420, d.MinSize().Height))
	d.Show()
	p.host.Window().Canvas().Focus(e)
}

// Discard clears an unsigned draft (its text, AI draft and thread stay in
// the audit trail): how a TEST MODEL draft is left behind.
func (p *Panel) Discard() {
	if p.sess == nil || p.run != nil {
		return
	}
	sess := p.sess
	p.confirm("Discard the draft?", "The report text, the AI draft and the follow-up questions are removed from "+
		"the editor. They stay in the study's audit trail.", "Discard", func() {
		if sess != p.sess {
			return
		}
		if err := sess.Clear(); err != nil {
			p.host.ShowError("Cannot discard the draft", err)
			return
		}
		p.editor.setText("")
		p.updateChips()
		p.message = "Draft discarded"
		p.refresh()
	})
}
