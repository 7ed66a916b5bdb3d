package imaging

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

// tool runs a Debian tool (failing the test, naming the package, when it is
// missing) and returns its combined output.
func tool(t testing.TB, pkg, name string, args ...string) []byte {
	t.Helper()
	path := imagingtest.RequireTool(t, name, pkg)
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// dcmtk runs a dcmtk tool.
func dcmtk(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	return tool(t, "dcmtk", name, args...)
}

// readPNM reads a binary PGM (P5) or PPM (P6) with maxval ≤ 255, as
// dcmj2pnm writes them. PGM gives *image.Gray, PPM *image.RGBA.
func readPNM(t testing.TB, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	var magic string
	var w, h, maxval int
	if _, err := fmt.Fscan(r, &magic, &w, &h, &maxval); err != nil {
		t.Fatalf("%s: PNM header: %v", path, err)
	}
	if _, err := r.ReadByte(); err != nil { // the single whitespace
		t.Fatal(err)
	}
	if maxval > 255 {
		t.Fatalf("%s: maxval %d", path, maxval)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch magic {
	case "P5":
		if len(rest) < w*h {
			t.Fatalf("%s: short PGM", path)
		}
		return &image.Gray{Pix: rest[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}
	case "P6":
		if len(rest) < 3*w*h {
			t.Fatalf("%s: short PPM", path)
		}
		im := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range w * h {
			copy(im.Pix[4*i:4*i+3], rest[3*i:3*i+3])
			im.Pix[4*i+3] = 255
		}
		return im
	}
	t.Fatalf("%s: PNM type %s", path, magic)
	return nil
}

// diffGray compares two gray images and returns the largest difference and
// the number of differing pixels.
func diffGray(t testing.TB, got, want *image.Gray) (maxd, n int) {
	t.Helper()
	if got.Rect.Size() != want.Rect.Size() {
		t.Fatalf("size %v, want %v", got.Rect.Size(), want.Rect.Size())
	}
	w, h := got.Rect.Dx(), got.Rect.Dy()
	for y := range h {
		for x := range w {
			a := int(got.Pix[y*got.Stride+x])
			b := int(want.Pix[y*want.Stride+x])
			if d := max(a-b, b-a); d > 0 {
				n++
				maxd = max(maxd, d)
			}
		}
	}
	return maxd, n
}

// tempFile returns a path in the test's temporary directory.
func tempFile(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
