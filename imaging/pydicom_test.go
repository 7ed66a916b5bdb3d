package imaging

import (
	"errors"
	"image"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

// pydicomData is where Debian's python3-pydicom keeps its test files.
const pydicomData = "/usr/lib/python3/dist-packages/pydicom/data"

func pydicomFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(pydicomData); err != nil {
		t.Fatalf("pydicom test data missing at %s: install the Debian package python3-pydicom", pydicomData)
	}
	var files []string
	filepath.WalkDir(pydicomData, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch filepath.Ext(p) {
		case ".py", ".pyc", ".json", ".txt", ".md", ".gz", ".dump":
			return nil
		}
		files = append(files, p)
		return nil
	})
	sort.Strings(files)
	return files
}

// knownGaps are pydicom images the reference tools render and cxrview
// does not, with the reason the error must give.
var knownGaps = map[string]string{
	// go-dicom-codec v0.5.0 rejects a tile split into 5 tile-parts.
	"test_files/GDCMJ2K_TextGBR.dcm": "tile-part",
}

// littleEndianTwins: dcmtk 3.6.7 reads 32-bit samples in big-endian OW as
// swapped 16-bit halves, so that its rendering of these files differs from
// its rendering of their little-endian twins (pydicom reads both alike, as
// does cxrview). The twins serve as the oracle.
var littleEndianTwins = map[string]string{
	"test_files/rtdose_expb.dcm":        "test_files/rtdose.dcm",
	"test_files/rtdose_expb_1frame.dcm": "test_files/rtdose_1frame.dcm",
}

// TestPydicomFilesMatchDcmtk renders every image in pydicom's test data
// that cxrview decodes and compares it with dcmtk: gray images with the
// file's first window (+Wi 1) and with an explicit window (+Ww), each pixel
// within ±1; colour images as stored, each sample within ±1 (JPEG colour
// goes through the IJG library's upsampling and conversion, native YBR
// through dcmtk's arithmetic, so in practice they are identical). Files dcmtk renders and cxrview does not fail
// the test unless listed in knownGaps.
func TestPydicomFilesMatchDcmtk(t *testing.T) {
	rendered := 0
	for _, p := range pydicomFiles(t) {
		name, _ := filepath.Rel(pydicomData, p)
		im, err := Open(p)
		if err != nil {
			if _, ok := oracleRender(t, p, "-O", "+Wm"); !ok {
				t.Logf("%-50s neither dcmtk nor cxrview: %v", name, errors.Unwrap(err))
				continue
			}
			if why, ok := knownGaps[name]; ok && strings.Contains(err.Error(), why) {
				t.Logf("%-50s known gap: %v", name, errors.Unwrap(err))
				continue
			}
			t.Errorf("%s: dcmtk renders it, cxrview fails: %v", name, err)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if _, ok := oracleRender(t, p, "-O", "+Wm"); !ok {
				t.Logf("dcmtk cannot render %s; cxrview decodes it (%d×%d)", name, im.Width, im.Height)
				return
			}
			if im.Samples == 3 {
				compareColour(t, im, p)
				rendered++
				return
			}
			type view struct {
				v    View
				args []string
			}
			var views []view
			if ws := im.Windows(); len(ws) > 0 && ws[0].LUT == nil {
				views = append(views, view{View{Window: ws[0]}, []string{"+Wi", "1"}})
			}
			a := im.AutoWindow()
			c, w := strconv.FormatFloat(a.Center, 'f', -1, 64), strconv.FormatFloat(a.Width, 'f', -1, 64)
			views = append(views, view{View{Window: Window{Center: a.Center, Width: a.Width}}, []string{"+Ww", c, w}})
			src := p
			if twin, ok := littleEndianTwins[name]; ok {
				src = filepath.Join(pydicomData, twin)
			}
			for _, vw := range views {
				out, _ := oracleRender(t, src, append([]string{"-O"}, vw.args...)...)
				want, ok := readPNM(t, out).(*image.Gray)
				if !ok {
					t.Fatalf("dcmtk wrote colour for a gray image")
				}
				got := im.Render(vw.v)
				maxd, n := diffGray(t, got, want)
				t.Logf("%s %v: %d of %d pixels differ, by at most %d", name, vw.args, n, len(got.Pix), maxd)
				if maxd > 1 {
					t.Errorf("%v: differs from dcmtk by up to %d gray levels (%d pixels)", vw.args, maxd, n)
				}
			}
			rendered++
		})
	}
	t.Logf("%d pydicom images compared with dcmtk", rendered)
	if rendered < 60 {
		t.Errorf("only %d pydicom images compared", rendered)
	}
}

// oracleRender renders p with dcmtk (dcml2pnm for JPEG-LS; for JPEG 2000,
// which dcmtk 3.6.7 cannot decode, gdcm's native copy) and reports
// whether it could.
func oracleRender(t *testing.T, p string, args ...string) (string, bool) {
	t.Helper()
	src, name := p, "dcmj2pnm"
	if r, err := os.Open(p); err == nil {
		st, _ := r.Stat()
		f, err := readDICOM(r, st.Size())
		r.Close()
		if err == nil {
			switch f.ts.codec {
			case codecJPEGLS:
				name = "dcml2pnm"
			case codecJPEG2000:
				src = tempFile(t, "raw.dcm")
				gdcm := imagingtest.RequireTool(t, "gdcmconv", "libgdcm-tools")
				if exec.Command(gdcm, "-U", "--raw", p, src).Run() != nil {
					return "", false
				}
			}
		}
	}
	out := tempFile(t, "out.pnm")
	bin := imagingtest.RequireTool(t, name, "dcmtk")
	if err := exec.Command(bin, append(args, src, out)...).Run(); err != nil {
		return "", false
	}
	return out, true
}

func compareColour(t *testing.T, im *Image, p string) {
	out, _ := oracleRender(t, p, "-O")
	want, ok := readPNM(t, out).(*image.RGBA)
	if !ok {
		t.Fatalf("dcmtk wrote gray for a colour image")
	}
	got := im.RenderRGBA(View{})
	if got.Rect != want.Rect {
		t.Fatalf("size %v, dcmtk %v", got.Rect, want.Rect)
	}
	maxd, n, sq := 0, 0, 0.0
	for i := range got.Pix {
		d := int(got.Pix[i]) - int(want.Pix[i])
		if d != 0 {
			n++
			maxd = max(maxd, d, -d)
			sq += float64(d * d)
		}
	}
	psnr := math.Inf(1)
	if sq > 0 {
		psnr = 10 * math.Log10(255*255/(sq/float64(len(got.Pix))))
	}
	t.Logf("%s colour: %d of %d samples differ, by at most %d (PSNR %.1f dB)", filepath.Base(p), n, len(got.Pix), maxd, psnr)
	if maxd > 1 {
		t.Errorf("colour differs from dcmtk by up to %d (PSNR %.1f dB)", maxd, psnr)
	}
}
