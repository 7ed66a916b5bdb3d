package imaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

// variant is a copy of an input file made by dcmtk or gdcm.
type variant struct {
	name, ts string // ts: the UID the output must carry
	pkg, cmd string
	args     []string // IN and OUT stand for the paths
}

func makeVariant(t testing.TB, v variant, in, dir string) string {
	t.Helper()
	out := filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_").Replace(v.name)+".dcm")
	args := make([]string, len(v.args))
	for i, a := range v.args {
		switch a {
		case "IN":
			args[i] = in
		case "OUT":
			args[i] = out
		default:
			args[i] = a
		}
	}
	tool(t, v.pkg, v.cmd, args...)
	return out
}

// losslessVariants are every lossless encoding the Debian tools make.
func losslessVariants() []variant {
	vs := []variant{
		{"explicit LE", "1.2.840.10008.1.2.1", "dcmtk", "dcmconv", []string{"+te", "IN", "OUT"}},
		{"big endian", "1.2.840.10008.1.2.2", "dcmtk", "dcmconv", []string{"+tb", "IN", "OUT"}},
		{"deflate", "1.2.840.10008.1.2.1.99", "dcmtk", "dcmconv", []string{"+td", "IN", "OUT"}},
		{"deflate gdcm", "1.2.840.10008.1.2.1.99", "libgdcm-tools", "gdcmconv", []string{"-U", "--deflated", "IN", "OUT"}},
		{"JPEG lossless SV1 dcmtk", "1.2.840.10008.1.2.4.70", "dcmtk", "dcmcjpeg", []string{"IN", "OUT"}},
		{"JPEG lossless SV1 fragments", "1.2.840.10008.1.2.4.70", "dcmtk", "dcmcjpeg", []string{"+fs", "64", "IN", "OUT"}},
		{"JPEG lossless SV1 gdcm", "1.2.840.10008.1.2.4.70", "libgdcm-tools", "gdcmconv", []string{"-U", "-J", "IN", "OUT"}},
		{"JPEG-LS dcmtk", "1.2.840.10008.1.2.4.80", "dcmtk", "dcmcjpls", []string{"IN", "OUT"}},
		{"JPEG-LS gdcm", "1.2.840.10008.1.2.4.80", "libgdcm-tools", "gdcmconv", []string{"-U", "-L", "IN", "OUT"}},
		{"RLE dcmtk", "1.2.840.10008.1.2.5", "dcmtk", "dcmcrle", []string{"IN", "OUT"}},
		{"RLE gdcm", "1.2.840.10008.1.2.5", "libgdcm-tools", "gdcmconv", []string{"-U", "-R", "IN", "OUT"}},
		{"JPEG 2000 gdcm", "1.2.840.10008.1.2.4.90", "libgdcm-tools", "gdcmconv", []string{"-U", "--j2k", "IN", "OUT"}},
	}
	for sv := '1'; sv <= '7'; sv++ {
		vs = append(vs, variant{"JPEG lossless SV" + string(sv), "1.2.840.10008.1.2.4.57", "dcmtk", "dcmcjpeg", []string{"+el", "+sv", string(sv), "IN", "OUT"}})
	}
	return vs
}

// TestFilmLosslessRoundTrips makes every lossless variant of the real CR
// film with dcmtk and gdcm and requires each to decode to exactly the
// native original's stored values.
func TestFilmLosslessRoundTrips(t *testing.T) {
	film := imagingtest.CRFilm(t)
	ref, err := Open(film)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// gdcm writes UN for implicit-VR input; give it explicit VR.
	explicit := filepath.Join(dir, "explicit.dcm")
	dcmtk(t, "dcmconv", "+te", film, explicit)
	for _, v := range losslessVariants() {
		t.Run(v.name, func(t *testing.T) {
			p := makeVariant(t, v, explicit, dir)
			im, err := Open(p)
			if err != nil {
				t.Fatalf("%s: %v", v.name, err)
			}
			if !strings.HasPrefix(im.Meta.TransferSyntax, v.ts+" ") {
				t.Errorf("transfer syntax %s, want %s", im.Meta.TransferSyntax, v.ts)
			}
			if im.Width != ref.Width || im.Height != ref.Height || im.BitsStored != ref.BitsStored {
				t.Fatalf("%dx%d %d bits, want %dx%d %d bits", im.Width, im.Height, im.BitsStored, ref.Width, ref.Height, ref.BitsStored)
			}
			if i := firstDiff(im.Gray, ref.Gray); i >= 0 {
				t.Fatalf("pixel %d (x=%d y=%d) is %d, the native original has %d", i, i%ref.Width, i/ref.Width, im.Gray[i], ref.Gray[i])
			}
			if !im.Inverse || len(im.Windows()) != 1 {
				t.Errorf("display module lost: inverse %v, %d windows", im.Inverse, len(im.Windows()))
			}
			os.Remove(p)
		})
	}
}

func firstDiff(a, b []uint16) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	if slices.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
