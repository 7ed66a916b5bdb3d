package ui

import (
	"errors"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	native "github.com/sqweek/dialog"
)

// FileChooser asks the user for a file or a folder to open. done runs on
// the UI goroutine with the path, or "" when the user cancelled.
type FileChooser interface {
	ChooseFile(parent fyne.Window, startDir string, done func(path string, err error))
	ChooseFolder(parent fyne.Window, startDir string, done func(path string, err error))
}

// titledChooser is a FileChooser that can also say what it asks for: the
// report panel asks for two model files one after the other and for
// export folders, where "Open image" would mislead. exts, when set,
// filters the file names by their ending (without the dot).
type titledChooser interface {
	ChooseFileTitled(parent fyne.Window, title, filter string, exts []string, startDir string, done func(string, error))
	ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error))
}

var (
	_ titledChooser = (*nativeChooser)(nil)
	_ titledChooser = fyneChooser{}
)

// chooseFile asks c for a file, with a title when c can show one.
func chooseFile(c FileChooser, parent fyne.Window, title, filter string, exts []string, start string, done func(string, error)) {
	if tc, ok := c.(titledChooser); ok {
		tc.ChooseFileTitled(parent, title, filter, exts, start, done)
		return
	}
	c.ChooseFile(parent, start, done)
}

// chooseFolder asks c for a folder, with a title when c can show one.
func chooseFolder(c FileChooser, parent fyne.Window, title, start string, done func(string, error)) {
	if tc, ok := c.(titledChooser); ok {
		tc.ChooseFolderTitled(parent, title, start, done)
		return
	}
	c.ChooseFolder(parent, start, done)
}

// nativeChooser uses the platform's dialogs (GTK, Cocoa, Windows) through
// sqweek/dialog and falls back to another chooser (Fyne's dialogs) when
// they fail: no GTK display (sqweek panics then), or any error other than
// a cancel. After one failure it stops trying for the rest of the session.
//
// sqweek's dialogs block and must run on the main thread; Fyne runs menu
// and shortcut callbacks there, which is where the viewer calls this.
// While one is open the window does not redraw: GTK is not thread-safe,
// so the dialog cannot move to another goroutine.
type nativeChooser struct {
	fallback FileChooser
	// file and folder show the native dialogs; tests replace them.
	file   func(title, filter string, exts []string, startDir string) (string, error)
	folder func(title, startDir string) (string, error)
	broken bool
}

func newNativeChooser() *nativeChooser {
	return &nativeChooser{
		fallback: fyneChooser{},
		file: func(title, filter string, exts []string, dir string) (string, error) {
			b := native.File().Title(title).SetStartDir(dir)
			if len(exts) > 0 {
				b = b.Filter(filter, exts...)
			}
			return b.Load()
		},
		folder: func(title, dir string) (string, error) {
			return native.Directory().Title(title).SetStartDir(dir).Browse()
		},
	}
}

// ChooseFile asks for an image. No filter: DICOM files from PACS exports
// often have no extension.
func (n *nativeChooser) ChooseFile(parent fyne.Window, startDir string, done func(string, error)) {
	n.ChooseFileTitled(parent, "Open image", "", nil, startDir, done)
}

// ChooseFolder asks for a folder of images.
func (n *nativeChooser) ChooseFolder(parent fyne.Window, startDir string, done func(string, error)) {
	n.ChooseFolderTitled(parent, "Open folder", startDir, done)
}

// ChooseFileTitled shows the native file dialog with a title and, when
// exts is set, a filter on the file name endings.
func (n *nativeChooser) ChooseFileTitled(parent fyne.Window, title, filter string, exts []string, startDir string, done func(string, error)) {
	if n.try(func() (string, error) { return n.file(title, filter, exts, startDir) }, done) {
		return
	}
	chooseFile(n.fallback, parent, title, filter, exts, startDir, done)
}

// ChooseFolderTitled shows the native folder dialog with a title.
func (n *nativeChooser) ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error)) {
	if n.try(func() (string, error) { return n.folder(title, startDir) }, done) {
		return
	}
	chooseFolder(n.fallback, parent, title, startDir, done)
}

// try runs a native dialog; it returns false when the fallback must be used.
func (n *nativeChooser) try(run func() (string, error), done func(string, error)) bool {
	if n.broken {
		return false
	}
	path, err := safeDialog(run)
	switch {
	case err == nil:
		done(path, nil)
		return true
	case errors.Is(err, native.ErrCancelled):
		done("", nil)
		return true
	}
	n.broken = true
	fyne.LogError("native file dialog unavailable; using Fyne's", err)
	return false
}

func safeDialog(run func() (string, error)) (path string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("native dialog: %v", r)
		}
	}()
	return run()
}

// fyneChooser uses Fyne's dialogs, drawn inside the window.
type fyneChooser struct{}

// ChooseFile shows Fyne's file dialog.
func (f fyneChooser) ChooseFile(parent fyne.Window, startDir string, done func(string, error)) {
	f.ChooseFileTitled(parent, "", "", nil, startDir, done)
}

// ChooseFolder shows Fyne's folder dialog.
func (f fyneChooser) ChooseFolder(parent fyne.Window, startDir string, done func(string, error)) {
	f.ChooseFolderTitled(parent, "", startDir, done)
}

// ChooseFileTitled shows Fyne's file dialog; title "" keeps Fyne's.
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
	if title != "" {
		d.SetTitleText(title)
	}
	if len(exts) > 0 {
		var dotted []string
		for _, e := range exts {
			dotted = append(dotted, "."+e)
		}
		d.SetFilter(storage.NewExtensionFileFilter(dotted))
	}
	showAt(d, parent, startDir)
}

// ChooseFolderTitled shows Fyne's folder dialog; with a title, its
// button says Choose (the panel asks for folders to write into).
func (fyneChooser) ChooseFolderTitled(parent fyne.Window, title, startDir string, done func(string, error)) {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err != nil || l == nil {
			done("", err)
			return
		}
		done(l.Path(), nil)
	}, parent)
	if title != "" {
		d.SetTitleText(title)
		d.SetConfirmText("Choose")
	}
	showAt(d, parent, startDir)
}

// showAt shows d in dir, sized to the window.
func showAt(d *dialog.FileDialog, parent fyne.Window, dir string) {
	if dir != "" {
		if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
			d.SetLocation(l)
		}
	}
	s := parent.Canvas().Size()
	d.Resize(fyne.NewSize(max(600, s.Width*0.7), max(420, s.Height*0.75)))
	d.Show()
}
