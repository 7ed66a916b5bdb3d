package ui

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/app"
	"cxrview/app/apptest"
	"cxrview/imaging"
	"cxrview/imaging/imagingtest"
)

// viewerProc is the real cxrview binary running under a private Xvfb.
type viewerProc struct {
	t      *testing.T
	x      *xserver
	cmd    *exec.Cmd
	exited chan error
	log    string
	wid    string
	geo    image.Rectangle
}

// userDirs are the folders cxrview uses under CXRVIEW_HOME=home.
func userDirs(home string) app.Dirs {
	return app.Dirs{Config: filepath.Join(home, "config"), Data: filepath.Join(home, "data"), Cache: filepath.Join(home, "cache")}
}

// startViewer runs bin on args with CXRVIEW_HOME=home and waits for its
// window and for the film to be on screen.
func startViewer(t *testing.T, x *xserver, bin, home, name string, extraEnv []string, args ...string) *viewerProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, args...)
	cmd.Env = append(x.env(os.Environ()),
		"CXRVIEW_HOME="+home,
		"OLLAMA_MODELS="+filepath.Join(home, "no-ollama"),
		"LANGUAGE=en_US", "FYNE_SCALE=1",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	v := &viewerProc{t: t, x: x, cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { v.exited <- cmd.Wait() }()
	t.Cleanup(func() { v.stop() })
	for deadline := time.Now().Add(60 * time.Second); v.wid == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		v.checkRunning()
		out, _ := x.run("xdotool", "search", "--onlyvisible", "--name", "cxrview")
		v.wid = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if v.wid == "" {
		v.fail("no cxrview window within 60 s")
	}
	v.geo = x.geometry(t, v.wid)
	vp := v.viewport()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		v.checkRunning()
		if st := regionStats(x.screenshot(t, name+"-film"), vp); st.stddev > 20 && st.levels > 100 {
			break
		} else if time.Now().After(deadline) {
			v.fail("the viewport shows no film after 30 s")
		}
	}
	return v
}

// viewport is a rectangle well inside the film's part of the window.
func (v *viewerProc) viewport() image.Rectangle {
	g := v.geo
	return image.Rect(g.Min.X+g.Dx()*12/100, g.Min.Y+g.Dy()*15/100, g.Min.X+g.Dx()*55/100, g.Min.Y+g.Dy()*80/100)
}

// panel is a rectangle inside the report panel, right of the split.
func (v *viewerProc) panel() image.Rectangle {
	g := v.geo
	return image.Rect(g.Min.X+g.Dx()*72/100, g.Min.Y+g.Dy()*8/100, g.Max.X-8, g.Min.Y+g.Dy()*85/100)
}

func (v *viewerProc) checkRunning() {
	v.t.Helper()
	select {
	case err := <-v.exited:
		v.exited <- err
		v.fail("the viewer exited: %v", err)
	default:
	}
}

func (v *viewerProc) fail(format string, args ...any) {
	v.t.Helper()
	out, _ := os.ReadFile(v.log)
	v.t.Fatalf(format+"\nviewer output:\n%s", append(args, out)...)
}

// keys sends keys to the window (there is no window manager: focus it
// first).
func (v *viewerProc) keys(keys ...string) {
	v.t.Helper()
	v.x.must(v.t, "xdotool", "windowfocus", "--sync", v.wid)
	v.x.must(v.t, "xdotool", append([]string{"key", "--clearmodifiers"}, keys...)...)
}

// typeText types s into the focused widget, delay milliseconds a key.
func (v *viewerProc) typeText(s string, delay int) {
	v.t.Helper()
	v.x.must(v.t, "xdotool", "type", "--delay", fmt.Sprint(delay), s)
}

// stop ends the viewer with SIGTERM, then SIGKILL.
func (v *viewerProc) stop() {
	if v.cmd.ProcessState != nil {
		return
	}
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-v.exited:
		v.exited <- err
	case <-time.After(5 * time.Second):
		v.cmd.Process.Kill()
		v.exited <- <-v.exited
	}
}

// kill ends the viewer with SIGKILL at once and waits for it.
func (v *viewerProc) kill() time.Time {
	v.t.Helper()
	at := time.Now()
	if err := v.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		v.t.Fatal(err)
	}
	v.exited <- <-v.exited
	return at
}

// waitDraft polls the study's saved draft until ok accepts it.
func waitDraft(t *testing.T, dirs app.Dirs, key string, within time.Duration, ok func(*app.Draft) bool) *app.Draft {
	t.Helper()
	var d *app.Draft
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if d, err = app.LoadDraft(dirs, key); err == nil && ok(d) {
			return d
		}
	}
	return d
}

func filmKey(t *testing.T, path string) string {
	t.Helper()
	im, err := imaging.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return im.Meta.Key()
}

// TestKillWhileTypingXvfb types a report into the real viewer's editor
// with xdotool, slowly, kills the viewer with SIGKILL while typing, starts
// it again on the same film and checks that everything typed more than
// 2 s before the kill is back — in the draft on disk and in the editor: a
// marker typed at the end of the restored text must be saved after it.
func TestKillWhileTypingXvfb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Xvfb and the viewer twice; skipped with -short")
	}
	for _, tool := range [][2]string{{"Xvfb", "xvfb"}, {"xauth", "xauth"}, {"import", "imagemagick"}, {"xdotool", "xdotool"}} {
		imagingtest.RequireTool(t, tool[0], tool[1])
	}
	bin := viewerBinary(t)
	film := imagingtest.CRFilm(t)
	key := filmKey(t, film)
	x := startXvfb(t, 1440, 900)
	home := filepath.Join(t.TempDir(), "cxrview")
	dirs := userDirs(home)

	v := startViewer(t, x, bin, home, "first", nil, film)
	// Ctrl+E puts the cursor in the report editor. The first chunk, once
	// saved, shows that typing reaches it.
	time.Sleep(500 * time.Millisecond)
	v.keys("ctrl+e")
	type chunk struct {
		text string
		at   time.Time
	}
	var chunks []chunk
	typed := func() string {
		var b strings.Builder
		for _, c := range chunks {
			b.WriteString(c.text)
		}
		return b.String()
	}
	first := "portable ap chest "
	v.typeText(first, 30)
	chunks = append(chunks, chunk{first, time.Now()})
	if d := waitDraft(t, dirs, key, 10*time.Second, func(d *app.Draft) bool { return d.Text != "" }); d == nil || !strings.HasPrefix(first, d.Text) {
		v.fail("typing did not reach the report editor: draft %+v", d)
	}
	// Type words slowly for six seconds, then kill the viewer in the middle
	// of the next word.
	began := time.Now()
	for i := 0; time.Since(began) < 6*time.Second; i++ {
		w := fmt.Sprintf("line%02d word ", i)
		v.typeText(w, 45)
		chunks = append(chunks, chunk{w, time.Now()})
	}
	last := exec.Command("xdotool", "type", "--delay", "45", "unfinished sentence")
	last.Env = x.env(os.Environ())
	if err := last.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	killed := v.kill()
	last.Wait()
	all := typed() + "unfinished sentence"

	// A chunk is certainly typed when xdotool returns, so the chunks done
	// 2 s before the kill are a safe lower bound of what must be back.
	need, sofar := "", ""
	for _, c := range chunks {
		sofar += c.text
		if !c.at.After(killed.Add(-2 * time.Second)) {
			need = sofar
		}
	}
	d, err := app.LoadDraft(dirs, key)
	if err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	if !strings.HasPrefix(d.Text, need) || !strings.HasPrefix(all, d.Text) {
		t.Fatalf("after SIGKILL the draft holds %d characters %q;\n%d were typed 2 s before the kill: %q", len(d.Text), d.Text, len(need), need)
	}
	t.Logf("typed %d characters in %d chunks, %d of them 2 s or more before SIGKILL; %d on disk", len(all), len(chunks), len(need), len(d.Text))
	if len(need) < 60 {
		t.Errorf("only %d characters were typed before the 2 s mark: the test exercised little", len(need))
	}

	// Start again on the same film: the editor holds the restored text.
	restored := d.Text
	v2 := startViewer(t, x, bin, home, "second", nil, film)
	time.Sleep(500 * time.Millisecond)
	v2.keys("ctrl+e")
	v2.typeText(" restored", 30)
	want := restored + " restored"
	got := waitDraft(t, dirs, key, 10*time.Second, func(d *app.Draft) bool { return d.Text == want })
	switch {
	case got == nil:
		t.Fatalf("after the restart, typing at the end of the editor saved no draft, want %q", want)
	case got.Text != want:
		t.Fatalf("after the restart, typing at the end of the editor saved %q, want %q", got.Text, want)
	}
	x.windowShot(t, v2.wid, "restored")
}

// TestReportStreamsXvfb installs the tiny test model, opens the CR film in
// the real viewer, presses Ctrl+G and watches the draft stream into the
// panel; then asks a follow-up question (Ctrl+Shift+A). With CXRVIEW_SHOTS
// set it keeps the screenshots for docs/: the window mid-draft
// (report-streaming.png) and with the draft, labels, chips and thread
// (report.png).
func TestReportStreamsXvfb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Xvfb, the viewer and the engine; skipped with -short")
	}
	for _, tool := range [][2]string{{"Xvfb", "xvfb"}, {"xauth", "xauth"}, {"import", "imagemagick"}, {"xdotool", "xdotool"}} {
		imagingtest.RequireTool(t, tool[0], tool[1])
	}
	bin := viewerBinary(t)
	engineBin := apptest.EngineBinary(t)
	film := imagingtest.CRFilm(t)
	key := filmKey(t, film)
	home := filepath.Join(t.TempDir(), "cxrview")
	dirs := userDirs(home)
	importTiny(t, &app.Env{Dirs: dirs}, "tiny")
	s := app.DefaultSettings()
	s.Model, s.ReaderName = "tiny", "Dr A. Reader"
	if err := app.SaveSettings(dirs, s); err != nil {
		t.Fatal(err)
	}
	x := startXvfb(t, 1440, 900)
	v := startViewer(t, x, bin, home, "report", []string{"CXRVIEW_ENGINE=" + engineBin}, film)
	before := x.screenshot(t, "report-before")
	time.Sleep(500 * time.Millisecond)
	v.keys("ctrl+g") // starts at once, or when the model has loaded

	// The panel changes while the draft grows. Once it has a few lines,
	// Esc stops it (the tiny model rarely ends by itself: it would run to
	// the token limit, which takes minutes on a busy CPU).
	var changes int
	prev := before
	var partial *app.Draft
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(400 * time.Millisecond) {
		v.checkRunning()
		shot := x.screenshot(t, "report-poll")
		if meanAbsDiff(prev, shot, v.panel()) > 0.05 {
			changes++
		}
		prev = shot
		d, err := app.LoadDraft(dirs, key)
		if err == nil && d.AI != nil && !d.AI.Finished.IsZero() {
			break
		}
		if err == nil && d.AI != nil && len(d.Text) > 40 && partial == nil {
			partial = d
			x.windowShot(t, v.wid, "report-streaming")
		}
		if err == nil && d.AI != nil && len(d.Text) > 800 {
			v.keys("Escape")
		}
	}
	d := waitDraft(t, dirs, key, 5*time.Second, func(d *app.Draft) bool { return d.AI != nil && !d.AI.Finished.IsZero() })
	if d == nil || d.AI == nil || d.AI.Finished.IsZero() || d.Text == "" {
		v.fail("no finished draft after Ctrl+G: %+v", d)
	}
	if !d.AI.Model.TestModel || d.AI.Stop == "error" {
		t.Errorf("draft %+v", d.AI)
	}
	if partial == nil || changes < 2 {
		t.Errorf("the draft did not stream on screen: %d panel changes, a partial draft seen: %v", changes, partial != nil)
	}
	t.Logf("draft of %d characters (%s), %d panel changes while it streamed", len(d.Text), d.AI.Stop, changes)

	// A follow-up question in the thread.
	time.Sleep(300 * time.Millisecond)
	v.keys("ctrl+shift+a")
	v.typeText("Is the heart enlarged?", 20)
	v.keys("Return")
	d = waitDraft(t, dirs, key, 2*time.Minute, func(d *app.Draft) bool {
		return len(d.Thread) == 1 && (len(d.Thread[0].Answer) > 120 || !d.Thread[0].Answered.IsZero())
	})
	v.keys("Escape")
	d = waitDraft(t, dirs, key, time.Minute, func(d *app.Draft) bool {
		return len(d.Thread) == 1 && !d.Thread[0].Answered.IsZero()
	})
	if d == nil || len(d.Thread) != 1 || d.Thread[0].Question != "Is the heart enlarged?" || d.Thread[0].Answered.IsZero() || d.Thread[0].Answer == "" {
		v.fail("no follow-up answer, or Esc in the question field did not stop it: %+v", d.Thread)
	}
	time.Sleep(700 * time.Millisecond)
	final := x.screenshot(t, "report-final")
	if st := regionStats(final, v.viewport()); st.stddev < 20 {
		t.Errorf("the film is gone from the window: stddev %.1f", st.stddev)
	}
	x.windowShot(t, v.wid, "report")
}
