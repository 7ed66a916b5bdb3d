package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	native "github.com/sqweek/dialog"
)

// titledChooser is a FileChooser that can also say what it asks for: the
// report panel asks for two model files one after the other and for
// export folders, where "Open image" would mislead.
type titledChooser interface {
	ChooseFileTitled(parent fyne.Window, title, filter string, exts []string, startDir string, done func(string, error))
	ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error))
}

var (
	_ titledChooser = (*nativeChooser)(nil)
	_ titledChooser = fyneChooser{}
)

// ChooseFileTitled shows the native file dialog with a title and, when
// exts is set, a filter on the file name endings.
func (n *nativeChooser) ChooseFileTitled(parent fyne.Window, title, filter string, exts []string, startDir string, done func(string, error)) {
	if n.try(func() (string, error) {
		b := native.File().Title(title).SetStartDir(startDir)
		if len(exts) > 0 {
			b = b.Filter(filter, exts...)
		}
		return b.Load()
	}, done) {
		return
	}
	fyneChooser{}.ChooseFileTitled(parent, title, filter, exts, startDir, done)
}

// ChooseFolderTitled shows the native folder dialog with a title.
func (n *nativeChooser) ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error)) {
	if n.try(func() (string, error) { return native.Directory().Title(title).SetStartDir(startDir).Browse() }, done) {
		return
	}
	fyneChooser{}.ChooseFolderTitled(parent, title, startDir, done)
}

// ChooseFileTitled shows Fyne's file dialog with a title and a filter.
func (fyneChooser) ChooseFileTitled(parent fyne.Window, title, _ string, exts []string, startDir string, done func(string, error)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			done("", err)
			return
		}
		path := r.URI().Path()
		r.Close()
		done(path, nil)
	}, parent)
	d.SetTitleText(title)
	if len(exts) > 0 {
		var dotted []string
		for _, e := range exts {
			dotted = append(dotted, "."+e)
		}
		d.SetFilter(storage.NewExtensionFileFilter(dotted))
	}
	setStart(d, startDir)
	d.Resize(dialogSize(parent))
	d.Show()
}

// ChooseFolderTitled shows Fyne's folder dialog with a title.
func (fyneChooser) ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error)) {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err != nil || l == nil {
			done("", err)
			return
		}
		done(l.Path(), nil)
	}, parent)
	d.SetTitleText(title)
	d.SetConfirmText("Choose")
	setStart(d, startDir)
	d.Resize(dialogSize(parent))
	d.Show()
}

// chooseFile asks the host's chooser for a file, with a title when it
// can show one.
func (p *Panel) chooseFile(title, filter string, exts []string, start string, done func(string, error)) {
	c := p.host.Chooser()
	if tc, ok := c.(titledChooser); ok {
		tc.ChooseFileTitled(p.host.Window(), title, filter, exts, start, done)
		return
	}
	c.ChooseFile(p.host.Window(), start, done)
}

// chooseFolder asks the host's chooser for a folder.
func (p *Panel) chooseFolder(title, start string, done func(string, error)) {
	c := p.host.Chooser()
	if tc, ok := c.(titledChooser); ok {
		tc.ChooseFolderTitled(p.host.Window(), title, start, done)
		return
	}
	c.ChooseFolder(p.host.Window(), start, done)
}
