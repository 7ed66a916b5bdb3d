package ui

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cxrview/imaging/imagingtest"
)

// TestEndToEndXvfb runs the real binary on the CR film under a private
// Xvfb, takes screenshots with ImageMagick's import and drives the window
// with xdotool: the viewport must show the film (not a blank or uniform
// area), and a window preset key and a right-button drag must change it.
//
// The binary is $CXRVIEW_BIN/cxrview when CXRVIEW_BIN is set (make test
// sets it), else one built from this module. Set CXRVIEW_SHOTS to a folder
// to keep the screenshots.
func TestEndToEndXvfb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Xvfb and the viewer; skipped with -short")
	}
	for _, tool := range [][2]string{{"Xvfb", "xvfb"}, {"xauth", "xauth"}, {"import", "imagemagick"}, {"xdotool", "xdotool"}} {
		imagingtest.RequireTool(t, tool[0], tool[1])
	}
	bin := viewerBinary(t)
	film := imagingtest.CRFilm(t)
	x := startXvfb(t, 1440, 900)

	home := t.TempDir()
	logPath := filepath.Join(home, "viewer.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, film)
	cmd.Env = append(x.env(os.Environ()),
		"CXRVIEW_HOME="+filepath.Join(home, "cxrview"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"LANGUAGE=en_US", "FYNE_SCALE=1",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	fail := func(format string, args ...any) {
		t.Helper()
		out, _ := os.ReadFile(logPath)
		t.Fatalf(format+"\nviewer output:\n%s", append(args, out)...)
	}

	// The main window appears; there is no window manager, so it sits at
	// the origin of the screen with the size it asked for.
	var wid string
	for deadline := time.Now().Add(60 * time.Second); wid == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			fail("the viewer exited: %v", err)
		default:
		}
		out, _ := x.run("xdotool", "search", "--onlyvisible", "--name", "cxrview")
		wid = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if wid == "" {
		fail("no cxrview window within 60 s")
	}
	geo := x.geometry(t, wid)
	// The viewport: the left of the split, below the menu bar, above the
	// status bar. Margins keep clear of the corner overlays.
	vp := image.Rect(geo.Min.X+geo.Dx()*12/100, geo.Min.Y+geo.Dy()*15/100, geo.Min.X+geo.Dx()*58/100, geo.Min.Y+geo.Dy()*80/100)

	var film1 image.Image
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		film1 = x.screenshot(t, "film")
		if st := regionStats(film1, vp); st.stddev > 20 && st.levels > 100 {
			t.Logf("film on screen: mean %.1f, stddev %.1f, %d grey levels in %v", st.mean, st.stddev, st.levels, vp)
			break
		} else if time.Now().After(deadline) {
			fail("the viewport shows no film after 30 s: mean %.1f stddev %.1f, %d levels in %v", st.mean, st.stddev, st.levels, vp)
		}
	}
	x.windowShot(t, wid, "window")

	// Key 4 is the fourth preset of this film: File 1, Lung, Mediastinum, Bone.
	x.must(t, "xdotool", "windowfocus", "--sync", wid)
	x.must(t, "xdotool", "key", "4")
	preset := x.waitChange(t, film1, vp, "preset")
	if d := meanAbsDiff(film1, preset, vp); d < 8 {
		fail("key 4 (Bone window) changed the viewport by only %.1f grey levels", d)
	} else {
		t.Logf("key 4 changed the viewport by %.1f grey levels on average", d)
	}

	// A right-button drag to the right widens the window around the same
	// centre, so fewer pixels are clipped to black or white.
	cx, cy := (vp.Min.X+vp.Max.X)/2, (vp.Min.Y+vp.Max.Y)/2
	x.must(t, "xdotool", "mousemove", strconv.Itoa(cx), strconv.Itoa(cy), "mousedown", "3")
	for i := 1; i <= 6; i++ {
		x.must(t, "xdotool", "mousemove", strconv.Itoa(cx+40*i), strconv.Itoa(cy))
	}
	x.must(t, "xdotool", "mouseup", "3")
	dragged := x.waitChange(t, preset, vp, "wl-drag")
	before, after := regionStats(preset, vp), regionStats(dragged, vp)
	if after.clipped >= before.clipped {
		fail("a right drag to the right did not widen the window: clipped pixels %.1f%% → %.1f%%", 100*before.clipped, 100*after.clipped)
	}
	t.Logf("right drag: clipped pixels %.1f%% → %.1f%%", 100*before.clipped, 100*after.clipped)

	select {
	case err := <-exited:
		fail("the viewer exited during the test: %v", err)
	default:
	}
}

// viewerBinary returns the cxrview binary to test.
func viewerBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("CXRVIEW_BIN"); dir != "" {
		p := filepath.Join(dir, "cxrview")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CXRVIEW_BIN=%s: %v", dir, err)
		}
		return p
	}
	p := filepath.Join(t.TempDir(), "cxrview")
	cmd := exec.Command("go", "build", "-o", p, "cxrview")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cxrview: %v\n%s", err, out)
	}
	return p
}

// xserver is a private Xvfb with its own authorisation cookie.
type xserver struct {
	display, auth, dir string
}

// startXvfb starts Xvfb on a free display number with an xauth cookie
// and stops it (by PID) when the test ends.
func startXvfb(t *testing.T, w, h int) *xserver {
	t.Helper()
	dir := t.TempDir()
	auth := filepath.Join(dir, "Xauthority")
	cookie := make([]byte, 16)
	rand.Read(cookie)
	for n := 90 + os.Getpid()%400; n < 1000; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		if out, err := exec.Command("xauth", "-f", auth, "add", display, ".", hex.EncodeToString(cookie)).CombinedOutput(); err != nil {
			t.Fatalf("xauth: %v\n%s", err, out)
		}
		var log bytes.Buffer
		cmd := exec.Command("Xvfb", display, "-screen", "0", fmt.Sprintf("%dx%dx24", w, h), "-nolisten", "tcp", "-auth", auth)
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start Xvfb: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		x := &xserver{display: display, auth: auth, dir: dir}
		ready := false
		for i := 0; i < 100 && !ready; i++ {
			select {
			case <-done:
				i = 100 // lost a race for the number: try the next
			case <-time.After(50 * time.Millisecond):
				_, err := x.run("xdotool", "getdisplaygeometry")
				ready = err == nil
			}
		}
		if !ready {
			cmd.Process.Kill()
			continue
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() {
			syscall.Kill(pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		t.Logf("Xvfb %s, pid %d", display, pid)
		return x
	}
	t.Fatal("no free X display number")
	return nil
}

func (x *xserver) env(base []string) []string {
	var out []string
	for _, e := range base {
		if !strings.HasPrefix(e, "DISPLAY=") && !strings.HasPrefix(e, "XAUTHORITY=") && !strings.HasPrefix(e, "WAYLAND_DISPLAY=") {
			out = append(out, e)
		}
	}
	return append(out, "DISPLAY="+x.display, "XAUTHORITY="+x.auth)
}

func (x *xserver) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = x.env(os.Environ())
	return cmd.CombinedOutput()
}

func (x *xserver) must(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := x.run(name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// geometry returns the window's rectangle on the screen.
func (x *xserver) geometry(t *testing.T, wid string) image.Rectangle {
	t.Helper()
	out, err := x.run("xdotool", "getwindowgeometry", "--shell", wid)
	if err != nil {
		t.Fatalf("xdotool getwindowgeometry: %v\n%s", err, out)
	}
	v := map[string]int{}
	for _, l := range strings.Fields(string(out)) {
		if k, s, ok := strings.Cut(l, "="); ok {
			v[k], _ = strconv.Atoi(s)
		}
	}
	if v["WIDTH"] < 400 || v["HEIGHT"] < 300 {
		t.Fatalf("window geometry %s", out)
	}
	return image.Rect(v["X"], v["Y"], v["X"]+v["WIDTH"], v["Y"]+v["HEIGHT"])
}

// screenshot takes `import -window root` and decodes it; name.png is kept
// in $CXRVIEW_SHOTS when set.
func (x *xserver) screenshot(t *testing.T, name string) image.Image {
	t.Helper()
	return x.shoot(t, "root", name)
}

// windowShot keeps a picture of the window alone (for the docs).
func (x *xserver) windowShot(t *testing.T, wid, name string) {
	t.Helper()
	if os.Getenv("CXRVIEW_SHOTS") != "" {
		x.shoot(t, wid, name)
	}
}

func (x *xserver) shoot(t *testing.T, window, name string) image.Image {
	t.Helper()
	p := filepath.Join(x.dir, name+".png")
	if out, err := x.run("import", "-window", window, "png:"+p); err != nil {
		t.Fatalf("import -window %s: %v\n%s", window, err, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	if dir := os.Getenv("CXRVIEW_SHOTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
	return img
}

// waitChange takes screenshots until region r differs from prev.
func (x *xserver) waitChange(t *testing.T, prev image.Image, r image.Rectangle, name string) image.Image {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		img := x.screenshot(t, name)
		if meanAbsDiff(prev, img, r) > 1 || time.Now().After(deadline) {
			time.Sleep(300 * time.Millisecond) // let the last frame land
			return x.screenshot(t, name)
		}
	}
}

type stats struct {
	mean, stddev float64
	levels       int
	clipped      float64 // fraction of pixels at black or white
}

// regionStats measures the luma of r.
func regionStats(img image.Image, r image.Rectangle) stats {
	var sum, sq float64
	seen := map[uint8]bool{}
	n, clipped := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			g := luma8(img, x, y)
			if g <= 1 || g >= 254 {
				clipped++
			}
			seen[g] = true
			sum += float64(g)
			sq += float64(g) * float64(g)
			n++
		}
	}
	if n == 0 {
		return stats{}
	}
	m := sum / float64(n)
	return stats{mean: m, stddev: math.Sqrt(math.Max(0, sq/float64(n)-m*m)), levels: len(seen),
		clipped: float64(clipped) / float64(n)}
}

func meanAbsDiff(a, b image.Image, r image.Rectangle) float64 {
	var sum float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			sum += math.Abs(float64(luma8(a, x, y)) - float64(luma8(b, x, y)))
			n++
		}
	}
	return sum / float64(max(n, 1))
}

func luma8(img image.Image, x, y int) uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return uint8((299*r + 587*g + 114*b) / 1000 >> 8)
}
