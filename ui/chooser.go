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

// nativeChooser uses the platform's dialogs (GTK, Cocoa, Windows) through
// sqweek/dialog and falls back to Fyne's own dialogs when they fail: no
// GTK display (sqweek panics then), or any error other than a cancel. After
// one failure it stops trying for the rest of the session.
//
// sqweek's dialogs block and must run on the main thread; Fyne runs menu
// and shortcut callbacks there, which is where the viewer calls this.
type nativeChooser struct {
	fallback FileChooser
	// file and folder show the native dialogs; tests replace them.
	file, folder func(startDir string) (string, error)
	broken       bool
}

func newNativeChooser() *nativeChooser {
	return &nativeChooser{
		fallback: fyneChooser{},
		// No filter: DICOM files from PACS exports often have no extension.
		file: func(dir string) (string, error) {
			return native.File().Title("Open image").SetStartDir(dir).Load()
		},
		folder: func(dir string) (string, error) {
			return native.Directory().Title("Open folder").SetStartDir(dir).Browse()
		},
	}
}

func (n *nativeChooser) ChooseFile(parent fyne.Window, startDir string, done func(string, error)) {
	if n.try(func() (string, error) { return n.file(startDir) }, done) {
		return
	}
	n.fallback.ChooseFile(parent, startDir, done)
}

func (n *nativeChooser) ChooseFolder(parent fyne.Window, startDir string, done func(string, error)) {
	if n.try(func() (string, error) { return n.folder(startDir) }, done) {
		return
	}
	n.fallback.ChooseFolder(parent, startDir, done)
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

func (fyneChooser) ChooseFile(parent fyne.Window, startDir string, done func(string, error)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			done("", err)
			return
		}
		path := r.URI().Path()
		r.Close()
		done(path, nil)
	}, parent)
	setStart(d, startDir)
	d.Resize(dialogSize(parent))
	d.Show()
}

func (fyneChooser) ChooseFolder(parent fyne.Window, startDir string, done func(string, error)) {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err != nil || l == nil {
			done("", err)
			return
		}
		done(l.Path(), nil)
	}, parent)
	setStart(d, startDir)
	d.Resize(dialogSize(parent))
	d.Show()
}

func setStart(d *dialog.FileDialog, dir string) {
	if dir == "" {
		return
	}
	if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
		d.SetLocation(l)
	}
}

func dialogSize(w fyne.Window) fyne.Size {
	s := w.Canvas().Size()
	return fyne.NewSize(max(600, s.Width*0.7), max(420, s.Height*0.75))
}
