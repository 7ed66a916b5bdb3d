package imaging

import (
	"path/filepath"
	"strings"
	"testing"

	"cxrview/imaging/imagingtest"
)

// TestFilmLossyMatchesReferenceDecoders compresses the film with the lossy
// codecs and requires the decoded stored values to equal what dcmtk's or
// gdcm's own decoder makes of the same file.
func TestFilmLossyMatchesReferenceDecoders(t *testing.T) {
	film := imagingtest.CRFilm(t)
	dir := t.TempDir()
	explicit := filepath.Join(dir, "explicit.dcm")
	dcmtk(t, "dcmconv", "+te", film, explicit)
	cases := []struct {
		v        variant
		dec      variant // decompresses the variant to native
		tolerate int     // largest difference accepted in stored values
	}{
		{variant{"JPEG extended 12-bit", "1.2.840.10008.1.2.4.51", "dcmtk", "dcmcjpeg", []string{"+ee", "IN", "OUT"}},
			variant{"dec", "", "dcmtk", "dcmdjpeg", []string{"IN", "OUT"}}, 0},
		{variant{"JPEG extended 12-bit q50", "1.2.840.10008.1.2.4.51", "dcmtk", "dcmcjpeg", []string{"+ee", "+q", "50", "IN", "OUT"}},
			variant{"dec", "", "dcmtk", "dcmdjpeg", []string{"IN", "OUT"}}, 0},
		{variant{"JPEG baseline 8-bit", "1.2.840.10008.1.2.4.50", "dcmtk", "dcmcjpeg", []string{"+eb", "IN", "OUT"}},
			variant{"dec", "", "dcmtk", "dcmdjpeg", []string{"IN", "OUT"}}, 0},
		{variant{"JPEG pseudo-lossless 12-bit", "1.2.840.10008.1.2.4.57", "dcmtk", "dcmcjpeg", []string{"+pl", "+el", "+bt", "IN", "OUT"}},
			variant{"dec", "", "dcmtk", "dcmdjpeg", []string{"IN", "OUT"}}, 0},
		{variant{"JPEG-LS near-lossless", "1.2.840.10008.1.2.4.81", "dcmtk", "dcmcjpls", []string{"+en", "IN", "OUT"}},
			variant{"dec", "", "dcmtk", "dcmdjpls", []string{"IN", "OUT"}}, 0},
		{variant{"JPEG 2000 lossy", "1.2.840.10008.1.2.4.91", "libgdcm-tools", "gdcmconv", []string{"-U", "--j2k", "--lossy", "-q", "60", "IN", "OUT"}},
			variant{"dec", "", "libgdcm-tools", "gdcmconv", []string{"-U", "--raw", "IN", "OUT"}}, 0},
	}
	for _, c := range cases {
		t.Run(c.v.name, func(t *testing.T) {
			p := makeVariant(t, c.v, explicit, dir)
			c.dec.name = c.v.name + " decoded"
			ref, err := Open(makeVariant(t, c.dec, p, dir))
			if err != nil {
				t.Fatal(err)
			}
			im, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Gray) != len(ref.Gray) {
				t.Fatalf("%d pixels; reference %d pixels", len(im.Gray), len(ref.Gray))
			}
			if im.BitsStored != ref.BitsStored {
				t.Logf("Bits Stored %d; the reference decoder rewrote it to %d", im.BitsStored, ref.BitsStored)
			}
			// The reference decoder may keep overshoots beyond Bits Stored
			// (gdcm rewrites Bits Stored to the codestream's 16); cxrview
			// clamps them to the stored range the header declares.
			top := 1<<im.BitsStored - 1
			maxd, n := 0, 0
			for i := range im.Gray {
				d := int(im.Gray[i]) - min(int(ref.Gray[i]), top)
				if d != 0 {
					if n < 5 {
						t.Logf("pixel %d: ours %d, reference %d", i, im.Gray[i], ref.Gray[i])
					}
					n++
					maxd = max(maxd, d, -d)
				}
			}
			t.Logf("%s: %d of %d stored values differ from %s, by at most %d", c.v.name, n, len(im.Gray), c.dec.cmd, maxd)
			if maxd > c.tolerate {
				t.Errorf("differs from %s by up to %d (tolerance %d)", c.dec.cmd, maxd, c.tolerate)
			}
			if !hasWarning(im, "lossy") {
				t.Errorf("no lossy-compression warning in %q", im.Meta.Warnings)
			}
		})
	}
}

func hasWarning(im *Image, substr string) bool {
	for _, w := range im.Meta.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}
