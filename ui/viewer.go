package ui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"cxrview/app"
	"cxrview/imaging"
)

// maxViewPixels bounds the images the viewer keeps: with its display
// pyramid a 100-megapixel frame takes about 270 MB. No radiograph comes
// near it (a large DR detector is about 18 megapixels).
const maxViewPixels = 100 << 20

// Options configure the main window.
type Options struct {
	// Report is the right-hand panel; nil: NewPanel(PanelOptions{}).
	Report ReportPanel
	// Chooser asks for files and folders; nil uses the native dialogs
	// with Fyne's as the fallback.
	Chooser FileChooser
}

// Viewer is the main window: the viewport beside the report panel, the
// filmstrip of a folder under the viewport, menus and a status bar.
type Viewer struct {
	app      fyne.App
	win      fyne.Window
	env      *app.Env
	settings app.Settings
	// settingsW writes the settings file; settingsSeq counts the changes
	// handed to it, so that a write that holds them all can bring in
	// edits made to the file from elsewhere.
	settingsW   *settingsWriter
	settingsSeq uint64
	chooser     FileChooser
	report      ReportPanel

	vp     *Viewport
	status *statusBar
	strip  *filmstrip
	split  *container.Split
	stripC *fyne.Container
	left   *fyne.Container // the viewport over the filmstrip

	// do runs f on the UI goroutine (fyne.Do); tests replace it to run
	// the posted work on the test goroutine.
	do func(f func())

	path     string // the image on screen, "" when none
	list     []listEntry
	cur      int    // index into list of the image on screen, -1 if not from the list
	listDir  string // folder the list came from, "" for files opened together
	teaching bool

	// gen numbers open requests; a result is shown only if no newer
	// request came since. pending counts decodes not yet shown.
	gen     atomic.Uint64
	pending atomic.Int32
	// decodes lets one image decode at a time, which bounds memory to
	// the image on screen, the one being decoded and its pyramid.
	decodes chan struct{}
	// stopThumbs cancels the thumbnail goroutine of the current list.
	stopThumbs context.CancelFunc
	lastDir    string
	recentDir  string // the first recent file's folder that exists, found off the UI goroutine
	menuKey    string // what the menus showed when last built
}

type listEntry struct {
	path string
	bad  error // set once opening it failed
}

// NewViewer builds the main window of a (the Fyne app) for the user
// described by env, with settings already loaded.
func NewViewer(a fyne.App, env *app.Env, settings app.Settings, opt Options) *Viewer {
	v := &Viewer{
		app: a, env: env, settings: settings, chooser: opt.Chooser, report: opt.Report,
		do: fyne.Do, cur: -1, decodes: make(chan struct{}, 1),
	}
	v.settingsW = &settingsWriter{dirs: env.Dirs, written: func(s app.Settings, n uint64, err error) {
		v.do(func() {
			switch {
			case err != nil:
				v.ShowError("Cannot save the settings", err)
			case n == v.settingsSeq:
				v.settings = s
				v.refreshMenus()
			}
		})
	}}
	if v.chooser == nil {
		v.chooser = newNativeChooser()
	}
	if v.report == nil {
		v.report = NewPanel(PanelOptions{})
	}
	a.Settings().SetTheme(themeFor(settings.Theme))
	v.win = a.NewWindow("cxrview")
	v.vp = NewViewport()
	v.vp.overlays = settings.Overlays
	v.status = newStatusBar()
	v.status.engine.SetText("Engine: no model loaded")
	v.vp.OnHover = v.status.setPixel
	v.vp.OnChange = v.viewChanged
	v.strip = newFilmstrip(v.openIndex)
	v.stripC = container.NewStack(v.strip.obj)
	v.stripC.Hide()

	v.left = container.NewBorder(nil, v.stripC, nil, nil, v.vp)
	v.split = container.NewHSplit(v.left, v.report.Object())
	v.split.Offset = 0.72
	content := container.NewBorder(nil, container.NewVBox(widget.NewSeparator(), v.status.obj), nil, nil, v.split)
	v.win.SetContent(content)
	v.win.SetOnDropped(v.dropped)
	v.win.SetOnClosed(func() {
		if v.stopThumbs != nil {
			v.stopThumbs()
		}
	})
	v.report.Attach(v)
	v.findRecentDir()
	v.setTeaching(settings.TeachingMode)
	v.buildMenus()
	v.installKeys()
	v.viewChanged()
	return v
}

// Window returns the main window; part of Host.
func (v *Viewer) Window() fyne.Window { return v.win }

// Env is part of Host.
func (v *Viewer) Env() *app.Env { return v.env }

// Settings is part of Host.
func (v *Viewer) Settings() app.Settings { return v.settings }

// UpdateSettings is part of Host.
func (v *Viewer) UpdateSettings(change func(*app.Settings)) {
	change(&v.settings)
	v.settingsSeq = v.settingsW.add(change, v.settings)
}

// flushSettings returns once the settings changes made so far are on disk
// (or failed); Main calls it before the process ends.
func (v *Viewer) flushSettings() { v.settingsW.wait() }

// SetEngineStatus is part of Host; safe from any goroutine.
func (v *Viewer) SetEngineStatus(text string) {
	v.do(func() { v.status.engine.SetText(text) })
}

// CurrentView is part of Host.
func (v *Viewer) CurrentView() imaging.View { return v.vp.View() }

// ShowError is part of Host.
func (v *Viewer) ShowError(title string, err error) {
	d := dialog.NewCustom(title, "OK", messageLabel(err.Error()), v.win)
	d.Show()
}

// Teaching is part of Host.
func (v *Viewer) Teaching() bool { return v.teaching }

// RefreshMenus is part of Host.
func (v *Viewer) RefreshMenus() { v.buildMenus() }

// Chooser is part of Host.
func (v *Viewer) Chooser() FileChooser { return v.chooser }

// Viewport returns the image viewport.
func (v *Viewer) Viewport() *Viewport { return v.vp }

// messageLabel wraps s at a readable width for a dialog.
func messageLabel(s string) fyne.CanvasObject {
	const width = 480
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	l.Resize(fyne.NewSize(width, 0))
	return container.NewGridWrap(fyne.NewSize(width, l.MinSize().Height), l)
}

// OpenPaths opens what the command line or a drop named: one file, one
// folder (its images in the filmstrip), or several of either (all their
// images in the filmstrip).
func (v *Viewer) OpenPaths(paths []string) {
	switch len(paths) {
	case 0:
		return
	case 1:
		// A file or a folder: stat can hang on a dead network share, so
		// it runs off the UI goroutine.
		p := paths[0]
		v.status.busy("Opening " + v.displayName(p, -1) + "…")
		v.pending.Add(1)
		go func() {
			st, err := os.Stat(p)
			v.do(func() {
				v.pending.Add(-1)
				switch {
				case err != nil:
					v.status.busy("")
					v.status.message.SetText(v.statusMessage())
					v.showOpenError(p, -1, err)
				case st.IsDir():
					v.OpenFolder(p)
				default:
					v.OpenFile(p)
				}
			})
		}()
		return
	}
	v.status.busy("Listing images…")
	v.pending.Add(1)
	go func() {
		var files []string
		var errs []pathError
		for i, p := range paths {
			st, err := os.Stat(p)
			switch {
			case err != nil:
				errs = append(errs, pathError{i, p, err})
			case st.IsDir():
				imgs, _, err := listFolder(p)
				if err != nil {
					errs = append(errs, pathError{i, p, err})
				}
				files = append(files, imgs...)
			default:
				files = append(files, p)
			}
		}
		v.do(func() {
			v.pending.Add(-1)
			v.status.busy("")
			if len(errs) > 0 {
				lines := make([]string, len(errs))
				for i, e := range errs {
					lines[i] = v.itemProblem(e)
				}
				v.ShowError("Some items cannot be opened", errors.New(strings.Join(lines, "\n")))
			}
			if len(files) == 0 {
				v.status.message.SetText(v.statusMessage())
				return
			}
			v.setList("", files)
			v.openIndex(0)
		})
	}()
}

// pathError is why item index of a list of paths could not be opened.
type pathError struct {
	index int
	path  string
	err   error
}

// itemProblem is one line of the error of a multi-item open: the path and
// the reason, or in teaching mode the item's number and a reason that
// names no path.
func (v *Viewer) itemProblem(e pathError) string {
	reason := reasonFor(e.path, e.err)
	if v.teaching {
		return fmt.Sprintf("Item %d: %s", e.index+1, strings.ReplaceAll(reason, e.path, "it"))
	}
	return e.path + ": " + reason
}

// OpenFile opens one image on its own (the filmstrip is cleared).
func (v *Viewer) OpenFile(path string) {
	v.load(path, -1, true)
}

// OpenFolder lists the images of dir into the filmstrip and opens the
// first. A folder without images gets a message and changes nothing.
func (v *Viewer) OpenFolder(dir string) {
	if v.teaching {
		v.status.busy("Reading the folder…")
	} else {
		v.status.busy("Reading folder " + filepath.Base(dir) + "…")
	}
	v.pending.Add(1)
	go func() {
		imgs, files, err := listFolder(dir)
		v.do(func() {
			v.pending.Add(-1)
			v.status.busy("")
			v.status.message.SetText(v.statusMessage())
			switch {
			case err != nil:
				v.showFolderError(dir, reasonFor(dir, err))
				return
			case len(imgs) == 0 && files == 0:
				v.showFolderError(dir, "the folder has no files")
				return
			case len(imgs) == 0:
				v.showFolderError(dir, fmt.Sprintf("none of its %d files is a DICOM, PNG or JPEG image", files))
				return
			}
			v.setList(dir, imgs)
			v.addRecent(dir)
			v.openIndex(0)
		})
	}()
}

// setList replaces the filmstrip and starts making its thumbnails.
func (v *Viewer) setList(dir string, paths []string) {
	if v.stopThumbs != nil {
		v.stopThumbs()
	}
	v.list = make([]listEntry, len(paths))
	for i, p := range paths {
		v.list[i] = listEntry{path: p}
	}
	v.listDir, v.cur = dir, -1
	v.strip.set(paths, v.teaching)
	v.showStrip(len(paths) > 1)
	ctx, cancel := context.WithCancel(context.Background())
	v.stopThumbs = cancel
	wake := make(chan struct{}, 1)
	v.strip.onView = func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go v.makeThumbs(ctx, paths, wake)
}

// showStrip shows or hides the filmstrip and lays the viewport out again:
// Fyne lays a container out when its own size changes, not when a child
// appears, and the filmstrip sizes its thumbnails by what is in view.
func (v *Viewer) showStrip(on bool) {
	if on == v.stripC.Visible() {
		return
	}
	if on {
		v.stripC.Show()
	} else {
		v.stripC.Hide()
	}
	v.left.Refresh()
}

// openIndex opens entry i of the list.
func (v *Viewer) openIndex(i int) {
	if i < 0 || i >= len(v.list) {
		return
	}
	v.load(v.list[i].path, i, false)
}

// Next opens the next readable image of the list.
func (v *Viewer) Next() { v.step(1) }

// Prev opens the previous readable image of the list.
func (v *Viewer) Prev() { v.step(-1) }

func (v *Viewer) step(d int) {
	if len(v.list) == 0 {
		return
	}
	i := v.cur
	if i < 0 { // not in the list yet: start before the first or after the last
		i = -1
		if d < 0 {
			i = len(v.list)
		}
	}
	for i += d; i >= 0 && i < len(v.list); i += d {
		if v.list[i].bad == nil {
			v.openIndex(i)
			return
		}
	}
	if d > 0 {
		v.status.message.SetText(v.statusMessage() + " — last image")
	} else {
		v.status.message.SetText(v.statusMessage() + " — first image")
	}
}

// load decodes path off the UI goroutine and shows it. index is its
// place in the list (-1 for a file opened on its own); user marks files
// the user chose, which go into the recent files.
func (v *Viewer) load(path string, index int, user bool) {
	gen := v.gen.Add(1)
	v.pending.Add(1)
	v.status.busy("Opening " + v.displayName(path, index) + "…")
	go func() {
		v.decodes <- struct{}{}
		var (
			src *source
			err error
		)
		if v.gen.Load() == gen {
			src, err = decode(path)
		}
		<-v.decodes
		v.do(func() { v.loaded(gen, path, index, user, src, err) })
	}()
}

// decode opens and prepares an image; a panic in a decoder becomes an
// error so that a hostile file cannot take the viewer down.
func decode(path string) (src *source, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, fmt.Errorf("%s: the decoder failed: %v", path, r)
		}
	}()
	im, err := imaging.Open(path)
	if err != nil {
		return nil, err
	}
	if im.Width <= 0 || im.Height <= 0 {
		return nil, fmt.Errorf("%s: the image has no pixels", path)
	}
	if im.Width*im.Height > maxViewPixels {
		return nil, fmt.Errorf("%s: %d × %d pixels is more than the viewer's limit of %d megapixels",
			path, im.Width, im.Height, maxViewPixels>>20)
	}
	return newSource(im), nil
}

// loaded shows the result of load on the UI goroutine, unless a newer
// request has come since.
func (v *Viewer) loaded(gen uint64, path string, index int, user bool, src *source, err error) {
	v.pending.Add(-1)
	if gen != v.gen.Load() {
		return
	}
	v.status.busy("")
	if err != nil {
		if index >= 0 && index < len(v.list) {
			v.list[index].bad = err
			v.strip.setBad(index)
		}
		v.status.message.SetText(v.statusMessage())
		v.showOpenError(path, index, err)
		return
	}
	if src == nil {
		return
	}
	if index < 0 && len(v.list) > 0 {
		// A file opened on its own leaves the folder.
		if v.stopThumbs != nil {
			v.stopThumbs()
		}
		v.list, v.listDir = nil, ""
		v.strip.set(nil, v.teaching)
		v.showStrip(false)
	}
	v.path, v.cur = path, index
	v.lastDir = filepath.Dir(path)
	v.vp.setSource(src)
	v.strip.setCurrent(index)
	if user {
		v.addRecent(path)
	}
	v.updateIdentity()
	v.report.ImageChanged(&Study{Path: path, Image: src.im})
}

// showOpenError names the file and the reason; the image on screen stays.
// In teaching mode the file is named by its case number only.
func (v *Viewer) showOpenError(path string, index int, err error) {
	reason := reasonFor(path, err)
	text := fmt.Sprintf("File: %s\nFolder: %s\n\nReason: %s", filepath.Base(path), filepath.Dir(path), reason)
	if v.teaching {
		text = fmt.Sprintf("File: %s\n\nReason: %s", v.displayName(path, index), strings.ReplaceAll(reason, path, "the file"))
	}
	if v.path != "" {
		text += "\n\nThe image on screen is unchanged."
	}
	dialog.NewCustom("Cannot open image", "OK", messageLabel(text), v.win).Show()
}

// reasonFor is err without the path it starts with: imaging and os errors
// name the file, and the dialog names it once, on its own line.
func reasonFor(path string, err error) string {
	reason := err.Error()
	for _, op := range []string{"", "open ", "stat ", "read folder ", "readdirent "} {
		reason = strings.TrimPrefix(reason, op+path+": ")
	}
	return reason
}

// showFolderError names the folder and the reason; in teaching mode the
// reason only, with the folder's path taken out (folder names are often
// patient names).
func (v *Viewer) showFolderError(dir, reason string) {
	text := fmt.Sprintf("Folder: %s\n\nReason: %s", dir, reason)
	if v.teaching {
		text = "Reason: " + strings.ReplaceAll(reason, dir, "the folder")
	}
	dialog.NewCustom("No images to show", "OK", messageLabel(text), v.win).Show()
}

// makeThumbs decodes, one at a time and after any image the user asked
// for, the thumbnails the filmstrip wants (those in and near view), and
// hands them over; it waits for wake when none is wanted.
func (v *Viewer) makeThumbs(ctx context.Context, paths []string, wake <-chan struct{}) {
	next := make(chan int, 1)
	for {
		for v.pending.Load() > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		// The filmstrip's widgets belong to the UI goroutine: ask there.
		v.do(func() {
			i := -1
			if ctx.Err() == nil {
				i = v.strip.wanted()
			}
			next <- i
		})
		var i int
		select {
		case <-ctx.Done():
			return
		case i = <-next:
		}
		if i < 0 || i >= len(paths) {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case v.decodes <- struct{}{}:
		}
		img, err := thumbnail(paths[i])
		<-v.decodes
		v.do(func() {
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if i < len(v.list) && v.list[i].bad == nil {
					v.list[i].bad = err
				}
				v.strip.setBad(i)
				return
			}
			v.strip.setThumb(i, img)
		})
	}
}

// thumbnail renders path fitted into a square of thumbSide·2 pixels (sharp
// on high-density screens) with its default window.
func thumbnail(path string) (image.Image, error) {
	src, err := decode(path)
	if err != nil {
		return nil, err
	}
	const side = 2 * thumbSide
	tf := transform{W: side, H: side}.fit(src.w, src.h)
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	src.render(jobFor(tf, dst), src.lut(imaging.View{Window: src.im.DefaultWindow()}, nil))
	return dst, nil
}

// dropped opens the files and folders dropped on the window.
func (v *Viewer) dropped(_ fyne.Position, uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	v.OpenPaths(paths)
}

func (v *Viewer) chooseFile() {
	v.chooser.ChooseFile(v.win, v.startDir(), func(p string, err error) {
		switch {
		case err != nil:
			v.ShowError("Cannot show the file dialog", err)
		case p != "":
			v.OpenFile(p)
		}
	})
}

func (v *Viewer) chooseFolder() {
	v.chooser.ChooseFolder(v.win, v.startDir(), func(p string, err error) {
		switch {
		case err != nil:
			v.ShowError("Cannot show the folder dialog", err)
		case p != "":
			v.OpenFolder(p)
		}
	})
}

// startDir is where the file dialogs start: the folder of the image on
// screen, else of the newest recent file that exists, else home. It does
// not touch the disk: a recent file on a network share that went away
// would hang the dialog's key (findRecentDir looks for one beforehand).
func (v *Viewer) startDir() string {
	if v.lastDir != "" {
		return v.lastDir
	}
	if v.recentDir != "" {
		return v.recentDir
	}
	home, _ := os.UserHomeDir()
	return home
}

// findRecentDir looks, off the UI goroutine, for the folder of the newest
// recent file or folder that still exists, for startDir.
func (v *Viewer) findRecentDir() {
	recent := append([]string(nil), v.settings.RecentFiles...)
	go func() {
		dir := ""
		for _, r := range recent {
			if st, err := os.Stat(r); err == nil {
				dir = r
				if !st.IsDir() {
					dir = filepath.Dir(r)
				}
				break
			}
		}
		v.do(func() { v.recentDir = dir })
	}()
}

// openRecent opens a recent file or folder; whether it is still there is
// asked off the UI goroutine.
func (v *Viewer) openRecent(p string) {
	v.OpenPaths([]string{p})
}

func (v *Viewer) addRecent(p string) {
	v.UpdateSettings(func(s *app.Settings) { s.AddRecent(p) })
	v.buildMenus()
}

// --- identity: title, overlays, status, filmstrip captions ---

func caseLabel(i int) string { return fmt.Sprintf("Case %d", i+1) }

// displayName is what the UI calls a file (index is its place in the
// list, -1 if none): its name, or nothing that identifies it in teaching
// mode, where file names are often patient names.
func (v *Viewer) displayName(path string, index int) string {
	if v.teaching {
		if index >= 0 {
			return caseLabel(index)
		}
		return "the image"
	}
	return filepath.Base(path)
}

func (v *Viewer) caseText() string {
	if v.cur >= 0 && len(v.list) > 0 {
		return fmt.Sprintf("Case %d of %d", v.cur+1, len(v.list))
	}
	return ""
}

// statusMessage is the left of the status bar: the file and its place in
// the folder.
func (v *Viewer) statusMessage() string {
	if v.path == "" {
		return ""
	}
	if v.teaching {
		return joinNonEmpty(" · ", "Teaching mode", v.caseText())
	}
	s := filepath.Base(v.path)
	if v.cur >= 0 && len(v.list) > 1 {
		s += fmt.Sprintf("  (%d of %d)", v.cur+1, len(v.list))
	}
	return s
}

func (v *Viewer) updateIdentity() {
	title := "cxrview"
	switch {
	case v.path == "":
	case v.teaching:
		if c := v.caseText(); c != "" {
			title = c + " — cxrview"
		} else {
			title = "cxrview — teaching"
		}
	default:
		title = filepath.Base(v.path) + " — cxrview"
	}
	v.win.SetTitle(title)
	v.vp.SetTeaching(v.teaching, v.caseText())
	v.status.message.SetText(v.statusMessage())
}

func (v *Viewer) setTeaching(on bool) {
	v.teaching = on
	v.strip.setTeaching(on)
	v.report.SetTeaching(on)
	v.updateIdentity()
}

func (v *Viewer) toggleTeaching() {
	v.setTeaching(!v.teaching)
	on := v.teaching
	v.UpdateSettings(func(s *app.Settings) { s.TeachingMode = on })
	v.buildMenus()
}

func (v *Viewer) toggleOverlays() {
	v.vp.SetOverlays(!v.vp.Overlays())
	on := v.vp.Overlays()
	v.UpdateSettings(func(s *app.Settings) { s.Overlays = on })
	v.buildMenus()
}

func (v *Viewer) toggleFullScreen() { v.win.SetFullScreen(!v.win.FullScreen()) }

func (v *Viewer) quit() { v.app.Quit() }

// viewChanged refreshes the status bar after the viewport changed.
func (v *Viewer) viewChanged() {
	if v.vp.Image() == nil {
		v.status.imageBox.Hide()
		return
	}
	v.status.imageBox.Show()
	v.status.window.SetText(v.vp.WindowText())
	z := "Zoom " + zoomText(v.vp.ZoomPercent()/100)
	if t := v.vp.Tool(); t != nil {
		if _, pan := t.(panTool); !pan {
			z += "  · " + t.name()
		}
	}
	v.status.zoom.SetText(z)
	v.refreshMenus()
}

// refreshMenus rebuilds the menus when something they show (a check mark,
// an enabled item, the presets) changed; a window drag changes none of it.
func (v *Viewer) refreshMenus() {
	if v.menuState() != v.menuKey {
		v.buildMenus()
	}
}

func (v *Viewer) menuState() string {
	return fmt.Sprintf("%p %v %T %d %v %v %d %d", v.vp.Image(), v.vp.View().Invert, v.vp.Tool(), v.vp.Preset(),
		v.vp.Overlays(), v.teaching, len(v.list), len(v.settings.RecentFiles))
}
