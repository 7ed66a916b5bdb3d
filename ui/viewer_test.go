package ui

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	native "github.com/sqweek/dialog"

	"cxrview/app"
	"cxrview/imaging"
	"cxrview/imaging/imagingtest"
)

func TestOpenCRFilm(t *testing.T) {
	tv := newTestViewer(t, Options{})
	film := imagingtest.CRFilm(t)
	tv.OpenPaths([]string{film})
	if !tv.status.progBox.Visible() {
		t.Error("no progress indicator while decoding")
	}
	tv.pump(nil)
	im := tv.vp.Image()
	if im == nil || im.Width != 1760 || im.Height != 2140 {
		t.Fatalf("the CR film is not shown: %v", im)
	}
	if tv.status.progBox.Visible() {
		t.Error("the progress indicator stays after decoding")
	}
	if got := tv.win.Title(); got != "4.dcm — cxrview" {
		t.Errorf("title %q", got)
	}
	texts := strings.Join(canvasTexts(tv.win, false), "\n")
	for _, want := range []string{"C 511  W 1023  File 1", "CR · CHEST", "1760 × 2140", "PixelSpacing 0.2 × 0.2 mm", "stub report panel", "Engine: no model loaded"} {
		if !strings.Contains(texts, want) {
			t.Errorf("%q is not on the canvas", want)
		}
	}
	// The pixel under the pointer: stored and modality value.
	p := tv.vp.screenPoint(880.5, 1070.5)
	tv.vp.MouseIn(mouseEvent(p.X, p.Y, 0))
	stored, _, _ := im.Value(880, 1070)
	if got := tv.status.pixel.Text; !strings.Contains(got, "x 880  y 1070") || !strings.Contains(got, "stored "+itoa(stored)) {
		t.Errorf("status bar pixel %q, want x 880 y 1070 stored %d", got, stored)
	}
	// The recent files remember it, on disk too.
	s, err := tv.savedSettings()
	if err != nil || len(s.RecentFiles) != 1 || s.RecentFiles[0] != film {
		t.Errorf("recent files %q (%v)", s.RecentFiles, err)
	}
	if !slicesContain(menuTexts(tv.win.MainMenu()), "4.dcm  —  "+filepath.Dir(film)) {
		t.Errorf("File → Open Recent lacks the film: %q", menuTexts(tv.win.MainMenu()))
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Replace(trimFloat(float64(i), 0), "-0", "0", 1))
}

// TestTeachingModeHidesIdentity opens a study whose every identifying
// attribute is recognisable, checks they are on screen, turns teaching mode
// on with its key and checks that none is left anywhere: canvas (hidden
// objects too), title, menus, filmstrip.
func TestTeachingModeHidesIdentity(t *testing.T) {
	dir := t.TempDir()
	path, identifying := identifiedStudy(t, dir)
	writePNG(t, filepath.Join(dir, "second.png"), 50, 40, func(x, y int) uint8 { return uint8(x) })
	// A broken file named after a patient: its error must not name it.
	os.WriteFile(filepath.Join(dir, "SMITHERS_JOHN.dcm"), []byte("garbage"), 0o644)
	identifying = append(identifying, "SMITHERS")
	tv := newTestViewer(t, Options{})
	tv.OpenFolder(dir)
	tv.pump(func() bool { return tv.vp.Image() != nil && tv.pending.Load() == 0 })
	if tv.path != path {
		t.Fatalf("showing %q, want %q first", tv.path, path)
	}
	all := func() []string {
		texts := canvasTexts(tv.win, true)
		texts = append(texts, tv.win.Title())
		return append(texts, menuTexts(tv.win.MainMenu())...)
	}
	// Before: the overlays do show who this is (else the test proves nothing).
	for _, want := range []string{"DOEVILLE, JANET Q", "ID PID-4711-XYZ", "F 78y  born 1947-03-12", "Acc ACC-99812"} {
		if !slicesContain(all(), want) {
			t.Errorf("before teaching mode %q is not shown", want)
		}
	}
	tv.win.Canvas().OnTypedRune()('t')
	if !tv.teaching {
		t.Fatal("T did not turn teaching mode on")
	}
	if hits := containsAny(all(), identifying); len(hits) > 0 {
		t.Errorf("teaching mode left identifying text:\n%s", strings.Join(hits, "\n"))
	}
	if got := tv.win.Title(); got != "Case 1 of 3 — cxrview" {
		t.Errorf("title %q", got)
	}
	texts := strings.Join(canvasTexts(tv.win, false), "\n")
	for _, want := range []string{"Teaching mode · Case 1 of 3", "CR · PA · CHEST", "C "} {
		if !strings.Contains(texts, want) {
			t.Errorf("teaching mode lost the non-identifying %q", want)
		}
	}
	// Paging keeps it hidden, and it survives a restart through the settings.
	tv.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyPageDown})
	tv.pump(nil)
	if hits := containsAny(all(), identifying); len(hits) > 0 {
		t.Errorf("after paging:\n%s", strings.Join(hits, "\n"))
	}
	test.Tap(tv.strip.tiles[2]) // paging skips it once its thumbnail failed
	tv.pump(nil)
	if d := tv.dialogTexts(); !strings.Contains(d, "File: Case 3") || strings.Contains(d, "SMITHERS") {
		t.Errorf("the error in teaching mode reads %q", d)
	}
	tv.closeDialogs()
	if s, _ := tv.savedSettings(); !s.TeachingMode {
		t.Error("teaching mode was not saved")
	}
	tv.win.Canvas().OnTypedRune()('t')
	tv.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyPageUp})
	tv.pump(nil)
	if !slicesContain(all(), "ID PID-4711-XYZ") {
		t.Error("leaving teaching mode did not bring the overlays back")
	}
}

// TestOpenErrorKeepsImage opens a good image, then bad ones: each gets a
// dialog naming the file and the reason, and the good image stays.
func TestOpenErrorKeepsImage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	writePNG(t, good, 64, 48, func(x, y int) uint8 { return uint8(x * 4) })
	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("not an image at all"), 0o644)
	truncated := filepath.Join(dir, "truncated.dcm")
	dicomFile{rows: 64, cols: 64, bits: 12, pixelBytes: make([]byte, 100)}.write(t, truncated)
	tests := []struct {
		path, reason string
	}{
		{notImage, "not a DICOM, PNG or JPEG file"},
		{filepath.Join(dir, "missing.dcm"), "no such file or directory"},
		{truncated, ""},
		{dir + "/", ""}, // a folder passed as a file
	}
	tv := newTestViewer(t, Options{})
	tv.OpenFile(good)
	tv.pump(nil)
	shown := tv.vp.Image()
	if shown == nil {
		t.Fatal("the good image did not open")
	}
	for _, tt := range tests {
		tv.OpenFile(tt.path)
		tv.pump(nil)
		text := tv.dialogTexts()
		if !strings.Contains(text, "Cannot open image") || !strings.Contains(text, "File: "+filepath.Base(tt.path)) ||
			!strings.Contains(text, "Reason: ") || !strings.Contains(text, tt.reason) {
			t.Errorf("%s: dialog says %q", tt.path, text)
		}
		if tv.vp.Image() != shown {
			t.Errorf("%s: the previous image was replaced", tt.path)
		}
		tv.closeDialogs()
	}
}

// TestBadSizes: a 1×1 image shows; 20000×20000 images (PNG and DICOM
// headers that declare them) are refused with a message before any pixel
// buffer is allocated.
func TestBadSizes(t *testing.T) {
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.png")
	writePNG(t, tiny, 1, 1, func(x, y int) uint8 { return 200 })
	hugePNG := filepath.Join(dir, "huge.png")
	writePNGHeader(t, hugePNG, 20000, 20000)
	hugeDCM := filepath.Join(dir, "huge.dcm")
	dicomFile{rows: 20000, cols: 20000, bits: 16, pixelBytes: make([]byte, 64)}.write(t, hugeDCM)

	tv := newTestViewer(t, Options{})
	tv.OpenFile(tiny)
	tv.pump(nil)
	if im := tv.vp.Image(); im == nil || im.Width != 1 {
		t.Fatalf("the 1×1 image did not open: %q", tv.dialogTexts())
	}
	img := tv.win.Canvas().Capture()
	c := fyne.CurrentApp().Driver().AbsolutePositionForObject(tv.vp).Add(fyne.NewPos(tv.vp.Size().Width/2, tv.vp.Size().Height/2))
	if g := gray8(img, int(c.X), int(c.Y)); g < 100 {
		t.Errorf("the 1×1 image fitted to the window renders %d at the centre", g)
	}
	for _, p := range []string{hugePNG, hugeDCM} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tv.OpenFile(p)
		tv.pump(nil)
		runtime.ReadMemStats(&after)
		if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 64<<20 {
			t.Errorf("%s: %d MB allocated to refuse it", filepath.Base(p), grew>>20)
		}
		if text := tv.dialogTexts(); !strings.Contains(text, "Cannot open image") || !strings.Contains(text, filepath.Base(p)) {
			t.Errorf("%s: dialog %q", filepath.Base(p), text)
		} else {
			t.Logf("%s: %s", filepath.Base(p), text[strings.Index(text, "Reason"):])
		}
		if im := tv.vp.Image(); im == nil || im.Width != 1 {
			t.Errorf("%s replaced the image on screen", filepath.Base(p))
		}
		tv.closeDialogs()
	}
}

// TestFolderFilmstripAndPaging opens a folder with images, an unreadable
// .dcm and a text file: the filmstrip holds the candidates in natural
// order, Page Down/Up walk them and skip the unreadable one.
func TestFolderFilmstripAndPaging(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"case10.png", "case2.png", "case1.png"} {
		writePNG(t, filepath.Join(dir, n), 30, 20, func(x, y int) uint8 { return uint8(len(n) * 20) })
	}
	os.WriteFile(filepath.Join(dir, "case3.dcm"), []byte("DICM but not really"), 0o644)
	os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("hello"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)

	tv := newTestViewer(t, Options{})
	tv.OpenFolder(dir)
	tv.pump(func() bool { return tv.vp.Image() != nil && tv.pending.Load() == 0 })
	var names []string
	for _, e := range tv.list {
		names = append(names, filepath.Base(e.path))
	}
	if got := strings.Join(names, " "); got != "case1.png case2.png case3.dcm case10.png" {
		t.Fatalf("filmstrip %s", got)
	}
	if !tv.stripC.Visible() || len(tv.strip.tiles) != 4 {
		t.Fatal("the filmstrip is not shown")
	}
	// Thumbnails arrive; the unreadable file is marked.
	tv.pump(func() bool {
		return tv.strip.tiles[0].img.Image != nil && tv.strip.tiles[3].img.Image != nil && tv.strip.tiles[2].bad
	})
	key := func(k fyne.KeyName) {
		tv.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: k})
		tv.pump(nil)
	}
	key(fyne.KeyPageDown)
	if tv.cur != 1 {
		t.Fatalf("Page Down: at %d", tv.cur)
	}
	key(fyne.KeyPageDown)
	if tv.cur != 3 || filepath.Base(tv.path) != "case10.png" {
		t.Errorf("Page Down did not skip the unreadable file: at %d %s", tv.cur, tv.path)
	}
	key(fyne.KeyPageDown) // the last one: stays
	if tv.cur != 3 || !strings.Contains(tv.status.message.Text, "last image") {
		t.Errorf("past the end: at %d, status %q", tv.cur, tv.status.message.Text)
	}
	key(fyne.KeyPageUp)
	if tv.cur != 1 {
		t.Errorf("Page Up: at %d", tv.cur)
	}
	if got := tv.status.message.Text; got != "case2.png  (2 of 4)" {
		t.Errorf("status %q", got)
	}
	// Tapping a thumbnail opens it.
	test.Tap(tv.strip.tiles[0])
	tv.pump(nil)
	if tv.cur != 0 {
		t.Errorf("tapping the first thumbnail: at %d", tv.cur)
	}
	// The folder is a recent item.
	if s, _ := tv.savedSettings(); len(s.RecentFiles) == 0 || s.RecentFiles[0] != dir {
		t.Errorf("recent %q", s.RecentFiles)
	}
}

func TestFolderWithoutImages(t *testing.T) {
	empty := t.TempDir()
	texts := t.TempDir()
	os.WriteFile(filepath.Join(texts, "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(texts, "b.csv"), []byte("b,c"), 0o644)
	tests := []struct{ dir, reason string }{
		{empty, "the folder has no files"},
		{texts, "none of its 2 files is a DICOM, PNG or JPEG image"},
		{filepath.Join(empty, "gone"), "no such file or directory"},
	}
	for _, tt := range tests {
		tv := newTestViewer(t, Options{})
		tv.OpenFolder(tt.dir)
		tv.pump(nil)
		text := tv.dialogTexts()
		if !strings.Contains(text, "Folder: "+tt.dir) || !strings.Contains(text, tt.reason) {
			t.Errorf("%s: dialog %q", tt.dir, text)
		}
		if tv.vp.Image() != nil || tv.stripC.Visible() {
			t.Errorf("%s: something opened", tt.dir)
		}
	}
}

// TestOpenThroughMenusAndDrop uses File → Open…, File → Open Folder… (the
// dialogs stubbed) and a drop.
func TestOpenThroughMenusAndDrop(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, a, 20, 20, func(x, y int) uint8 { return 10 })
	writePNG(t, b, 30, 20, func(x, y int) uint8 { return 90 })
	ch := &stubChooser{file: a, folder: dir}
	tv := newTestViewer(t, Options{Chooser: ch})
	menu := tv.win.MainMenu()
	var labels []string
	for _, m := range menu.Items {
		labels = append(labels, m.Label)
	}
	if got := strings.Join(labels, " "); got != "File View Report Model Help" {
		t.Errorf("menus: %s", got)
	}
	findMenuItem(t, menu, "File", "Open…").Action()
	tv.pump(nil)
	if tv.path != a {
		t.Errorf("File → Open… showed %q", tv.path)
	}
	findMenuItem(t, tv.win.MainMenu(), "File", "Open Folder…").Action()
	tv.pump(nil)
	if len(tv.list) != 2 || tv.path != a {
		t.Errorf("File → Open Folder…: %d images, showing %q", len(tv.list), tv.path)
	}
	// Cancelling changes nothing; a dialog failure is reported.
	ch.file = ""
	findMenuItem(t, tv.win.MainMenu(), "File", "Open…").Action()
	tv.pump(nil)
	if tv.path != a || tv.dialogTexts() != "" {
		t.Errorf("a cancelled dialog did something: %q", tv.dialogTexts())
	}
	ch.err = errors.New("portal exploded")
	findMenuItem(t, tv.win.MainMenu(), "File", "Open…").Action()
	if !strings.Contains(tv.dialogTexts(), "portal exploded") {
		t.Errorf("a dialog error is not shown: %q", tv.dialogTexts())
	}
	tv.closeDialogs()

	tv.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(b)})
	tv.pump(nil)
	if tv.path != b || len(tv.list) != 0 {
		t.Errorf("drop of one file: showing %q, list %d", tv.path, len(tv.list))
	}
	tv.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(b), storage.NewFileURI(a)})
	tv.pump(nil)
	if len(tv.list) != 2 || tv.path != b {
		t.Errorf("drop of two files: list %d, showing %q", len(tv.list), tv.path)
	}
}

// TestKeys types the single-key bindings through the window and checks
// their effect.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	path, _ := identifiedStudy(t, dir)
	tv := newTestViewer(t, Options{})
	tv.OpenFile(path)
	tv.pump(nil)
	vp := tv.vp
	r := func(c rune) { tv.win.Canvas().OnTypedRune()(c) }
	k := func(n fyne.KeyName) { tv.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: n}) }

	r('i')
	if !vp.View().Invert {
		t.Error("I did not invert")
	}
	r('r')
	if vp.tf.Rot != 1 {
		t.Errorf("R: rotation %d", vp.tf.Rot)
	}
	r('R')
	r('R')
	if vp.tf.Rot != 3 {
		t.Errorf("Shift+R twice: rotation %d", vp.tf.Rot)
	}
	r('h')
	if !vp.tf.Flip {
		t.Error("H did not flip")
	}
	r('v')
	if vp.tf.Flip || vp.tf.Rot != 1 {
		t.Errorf("V after H: flip %v rotation %d (a vertical and a horizontal flip make a half turn)", vp.tf.Flip, vp.tf.Rot)
	}
	for i := range vp.Presets() {
		r(rune('1' + i))
		if vp.Preset() != i {
			t.Errorf("key %d: preset %d", i+1, vp.Preset())
		}
	}
	z := vp.ZoomPercent()
	r('+')
	if got := vp.ZoomPercent(); got <= z {
		t.Errorf("+ did not zoom in: %g → %g", z, got)
	}
	r('-')
	r('-')
	if got := vp.ZoomPercent(); got >= z {
		t.Errorf("− did not zoom out: %g", got)
	}
	r('z')
	if got := vp.ZoomPercent(); got != 100 {
		t.Errorf("Z: %g%%", got)
	}
	// Left arrow: the image moves a tenth of the viewport to the right,
	// whatever the rotation.
	p0 := vp.screenPoint(10, 10)
	k(fyne.KeyLeft)
	if p1 := vp.screenPoint(10, 10); math.Abs(float64(p1.X-p0.X)-vp.tf.W/10) > 1e-3 || p1.Y != p0.Y {
		t.Errorf("Left arrow: an image point moved from %v to %v", p0, p1)
	}
	r('f')
	if !vp.fitted {
		t.Error("F did not fit")
	}
	r('m')
	if _, ok := vp.Tool().(distanceTool); !ok || !strings.Contains(tv.status.zoom.Text, "Distance") {
		t.Errorf("M: tool %T, status %q", vp.Tool(), tv.status.zoom.Text)
	}
	k(fyne.KeyEscape)
	if _, ok := vp.Tool().(panTool); !ok {
		t.Errorf("Esc: tool %T", vp.Tool())
	}
	r('w')
	if _, ok := vp.Tool().(windowTool); !ok {
		t.Errorf("W: tool %T", vp.Tool())
	}
	w0 := vp.View().Window
	dragPrimary(vp, fyne.NewPos(50, 50), fyne.NewPos(90, 50))
	if w := vp.View().Window; w.Width <= w0.Width || w.Center != w0.Center {
		t.Errorf("a left drag with the window tool: %v → %v", w0, w)
	}
	r('o')
	if vp.Overlays() {
		t.Error("O did not hide the overlays")
	}
	r('o')
	k(fyne.KeyHome)
	if vp.View().Invert || vp.tf.Rot != 0 || vp.View().Window != vp.src.im.DefaultWindow() {
		t.Error("Home did not reset the view")
	}
	k(fyne.KeyF1)
	if !strings.Contains(tv.dialogTexts(), "Keyboard Shortcuts") {
		t.Error("F1 did not show the shortcuts")
	}
}

// TestShortcutsListEveryBinding checks Help → Keyboard Shortcuts against
// the binding table that drives the keys and menus.
func TestShortcutsListEveryBinding(t *testing.T) {
	tv := newTestViewer(t, Options{})
	findMenuItem(t, tv.win.MainMenu(), "Help", "Keyboard Shortcuts").Action()
	shown := canvasTexts(tv.win, false)
	listed := 0
	for _, b := range tv.bindings() {
		if b.group == "" {
			// Per-key entries behind a range: 1–9 and the arrows.
			continue
		}
		listed++
		if !slicesContain(shown, b.keys) || !slicesContain(shown, b.what) {
			t.Errorf("the help lacks %q — %q", b.keys, b.what)
		}
	}
	if listed < 30 {
		t.Errorf("only %d bindings listed", listed)
	}
	// Every key the window reacts to is covered by a listed line.
	for _, b := range tv.bindings() {
		for _, r := range b.runes {
			if !runeListed(tv.bindings(), r) {
				t.Errorf("key %q works but is not in the help", r)
			}
		}
	}
	for _, want := range []string{"1 – 9", "Arrow keys", "Right drag", "Wheel"} {
		if !slicesContain(shown, want) {
			t.Errorf("the help lacks %q", want)
		}
	}
}

func runeListed(bs []binding, r rune) bool {
	if r >= '1' && r <= '9' {
		return true // listed as "1 – 9"
	}
	for _, b := range bs {
		if b.group == "" {
			continue
		}
		for _, x := range b.runes {
			if x == r {
				return true
			}
		}
	}
	return false
}

// TestMenusMatchBindings runs a few menu items and checks the keys shown
// beside them.
func TestMenusMatchBindings(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	writePNG(t, p, 20, 20, func(x, y int) uint8 { return uint8(x * 10) })
	tv := newTestViewer(t, Options{})
	if it := findMenuItem(t, tv.win.MainMenu(), "View", "Invert"); !it.Disabled {
		t.Error("Invert is enabled without an image")
	}
	tv.OpenFile(p)
	tv.pump(nil)
	it := findMenuItem(t, tv.win.MainMenu(), "View", "Invert")
	if it.Disabled || it.Checked {
		t.Errorf("Invert: disabled %v checked %v", it.Disabled, it.Checked)
	}
	it.Action()
	if !tv.vp.View().Invert || !findMenuItem(t, tv.win.MainMenu(), "View", "Invert").Checked {
		t.Error("View → Invert did not invert or is not checked")
	}
	if sc, ok := findMenuItem(t, tv.win.MainMenu(), "File", "Open…").Shortcut.(fyne.KeyboardShortcut); !ok ||
		sc.Key() != fyne.KeyO || sc.Mod() != fyne.KeyModifierShortcutDefault {
		t.Error("File → Open… has no Ctrl+O")
	}
	var presets *fyne.Menu
	for _, mi := range tv.win.MainMenu().Items[1].Items {
		if mi.Label == "Window Presets" {
			presets = mi.ChildMenu
		}
	}
	if presets == nil || len(presets.Items) != len(tv.vp.Presets()) {
		t.Fatalf("View → Window Presets: %v", presets)
	}
	presets.Items[1].Action()
	if tv.vp.Preset() != 1 {
		t.Errorf("choosing the second preset: %d", tv.vp.Preset())
	}
}

// stubReport records what the viewer tells the report panel.
type stubReport struct {
	host     Host
	studies  []*Study
	teaching []bool
	obj      fyne.CanvasObject
}

func (s *stubReport) Object() fyne.CanvasObject {
	if s.obj == nil {
		s.obj = widget.NewLabel("stub report panel")
	}
	return s.obj
}
func (s *stubReport) Attach(h Host)          { s.host = h }
func (s *stubReport) ImageChanged(st *Study) { s.studies = append(s.studies, st) }
func (s *stubReport) SetTeaching(on bool)    { s.teaching = append(s.teaching, on) }
func (s *stubReport) ReportMenu() []*fyne.MenuItem {
	return []*fyne.MenuItem{fyne.NewMenuItem("Draft", nil)}
}
func (s *stubReport) ModelMenu() []*fyne.MenuItem {
	return []*fyne.MenuItem{fyne.NewMenuItem("Load", nil)}
}

// TestReportPanelSeam checks what a report panel gets from the window.
func TestReportPanelSeam(t *testing.T) {
	rep := &stubReport{}
	tv := newTestViewer(t, Options{Report: rep})
	if rep.host == nil {
		t.Fatal("the panel was not attached")
	}
	if !slicesContain(canvasTexts(tv.win, false), "stub report panel") {
		t.Error("the panel is not in the window")
	}
	m := menuTexts(tv.win.MainMenu())
	if !slicesContain(m, "Draft") || !slicesContain(m, "Load") {
		t.Errorf("the panel's menus are missing: %q", m)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	writePNG(t, p, 20, 20, func(x, y int) uint8 { return 7 })
	tv.OpenFile(p)
	tv.pump(nil)
	if len(rep.studies) != 1 || rep.studies[0].Path != p || rep.studies[0].Image == nil {
		t.Fatalf("ImageChanged: %v", rep.studies)
	}
	if rep.host.CurrentView() != tv.vp.View() {
		t.Error("CurrentView differs from the viewport")
	}
	tv.win.Canvas().OnTypedRune()('t')
	if n := len(rep.teaching); n == 0 || !rep.teaching[n-1] {
		t.Errorf("SetTeaching: %v", rep.teaching)
	}
	done := make(chan struct{})
	go func() {
		rep.host.SetEngineStatus("Engine: CPU, 7B loaded")
		close(done)
	}()
	<-done
	tv.pump(nil)
	if got := tv.status.engine.Text; got != "Engine: CPU, 7B loaded" {
		t.Errorf("engine status %q", got)
	}
	rep.host.UpdateSettings(func(s *app.Settings) { s.ReaderName = "Dr Test" })
	if s, _ := tv.savedSettings(); s.ReaderName != "Dr Test" || rep.host.Settings().ReaderName != "Dr Test" {
		t.Errorf("UpdateSettings did not save: %q", s.ReaderName)
	}
}

// TestSettingsDialog drives the Settings dialog: light theme, reader name.
func TestSettingsDialog(t *testing.T) {
	tv := newTestViewer(t, Options{})
	if th, ok := tv.app.Settings().Theme().(readingTheme); !ok || th.variant != 0 /* dark */ {
		t.Fatalf("default theme %#v", tv.app.Settings().Theme())
	}
	findMenuItem(t, tv.win.MainMenu(), "File", "Settings…").Action()
	top := tv.win.Canvas().Overlays().Top()
	var entry *widget.Entry
	var radio *widget.RadioGroup
	var save *widget.Button
	var find func(o fyne.CanvasObject)
	find = func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Entry:
			entry = x
		case *widget.RadioGroup:
			radio = x
		case *widget.Button:
			if x.Text == "Save" {
				save = x
			}
		case *fyne.Container:
			for _, c := range x.Objects {
				find(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				find(c)
			}
		}
	}
	find(top)
	if entry == nil || radio == nil || save == nil {
		t.Fatalf("settings dialog: entry %v radio %v save %v", entry != nil, radio != nil, save != nil)
	}
	radio.SetSelected("Light")
	test.Type(entry, "Dr A. Reader")
	test.Tap(save)
	s, err := tv.savedSettings()
	if err != nil || s.Theme != "light" || s.ReaderName != "Dr A. Reader" {
		t.Errorf("saved %q %q (%v)", s.Theme, s.ReaderName, err)
	}
	if th, ok := tv.app.Settings().Theme().(readingTheme); !ok || th.variant != 1 /* light */ {
		t.Errorf("theme after saving: %#v", tv.app.Settings().Theme())
	}
}

// TestNativeChooserFallback: the native dialog's panic (no GTK display) or
// error falls back to the fallback chooser for good; a cancel does not.
// Titled requests (the report panel's) reach the fallback with their
// title.
func TestNativeChooserFallback(t *testing.T) {
	fb := &seqChooser{files: []string{"/from/fallback.dcm", "/from/fallback.dcm", "/model.gguf"}, folder: "/from/fallback"}
	var results []string
	var answer func() (string, error)
	calls := 0
	var titles []string
	n := &nativeChooser{fallback: fb,
		file: func(title, _ string, _ []string, _ string) (string, error) {
			calls++
			titles = append(titles, title)
			return answer()
		},
		folder: func(title, _ string) (string, error) {
			calls++
			titles = append(titles, title)
			return answer()
		},
	}
	record := func(p string, err error) { results = append(results, p) }
	for _, a := range []func() (string, error){
		func() (string, error) { return "", native.ErrCancelled },
		func() (string, error) { return "/native.dcm", nil },
		func() (string, error) { panic("gtk initialisation failed; presumably no X server is available") },
		func() (string, error) { return "/never.dcm", nil },
	} {
		answer = a
		n.ChooseFile(nil, "/start", record)
	}
	n.ChooseFolder(nil, "/start", record)
	n.ChooseFileTitled(nil, "Import model (1 of 2)", "GGUF model", []string{"gguf"}, "/models", record)
	n.ChooseFolderTitled(nil, "Export PDF to folder", "/out", record)
	want := "|/native.dcm|/from/fallback.dcm|/from/fallback.dcm|/from/fallback|/model.gguf|/from/fallback"
	if got := strings.Join(results, "|"); got != want {
		t.Errorf("results %q, want %q", got, want)
	}
	if calls != 3 || !n.broken || strings.Join(titles, "|") != "Open image|Open image|Open image" {
		t.Errorf("native tried %d times (%q), broken %v", calls, titles, n.broken)
	}
	// The fallback got the titles and start folders the caller gave.
	if got := strings.Join(fb.titles, "|"); got != "Open image|Open image|Open folder|Import model (1 of 2)|Export PDF to folder" {
		t.Errorf("fallback titles %q", got)
	}
	if got := strings.Join(fb.starts, "|"); got != "/start|/start|/start|/models|/out" {
		t.Errorf("fallback start folders %q", got)
	}
	// An error that is not a cancel falls back as well, titled or not.
	for _, titled := range []bool{false, true} {
		fb2 := &seqChooser{files: []string{"/from/fallback.dcm"}}
		n2 := &nativeChooser{fallback: fb2, file: func(string, string, []string, string) (string, error) { return "", errors.New("no portal") }}
		if titled {
			n2.ChooseFileTitled(nil, "Import", "GGUF", []string{"gguf"}, "", record)
		} else {
			n2.ChooseFile(nil, "", record)
		}
		if results[len(results)-1] != "/from/fallback.dcm" || !n2.broken {
			t.Errorf("titled %v: an error did not fall back", titled)
		}
	}
}

// TestPixelValuesInStatusBar hovers over known pixels of a rescaled image.
func TestPixelValuesInStatusBar(t *testing.T) {
	tv := newTestViewer(t, Options{})
	im := grayImage(50, 40, 12, func(x, y int) uint16 { return uint16(100 + x) })
	im.Rescale = imaging.ModalityLUT{Slope: 2, Intercept: -1024, Type: "HU"}
	im.Meta.Modality = "CT"
	tv.pending.Add(1)
	tv.loaded(tv.gen.Load(), "/x/ct.dcm", -1, false, newSource(im), nil)
	p := tv.vp.screenPoint(10.5, 20.5)
	tv.vp.MouseMoved(mouseEvent(p.X, p.Y, 0))
	if got, want := tv.status.pixel.Text, "x 10  y 20   stored 110   value -804 HU"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	tv.vp.MouseOut()
	if tv.status.pixel.Text != "" {
		t.Errorf("status after leaving: %q", tv.status.pixel.Text)
	}
}
