package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"cxrview/imaging"
)

// Study is one opened image: the file, its decoded frame and the key under
// which its draft and audit trail are kept.
type Study struct {
	Path  string
	Image *imaging.Image
	Meta  imaging.Meta
	// Key is Meta.Key(): the SOP Instance UID, or "sha256:<hex>" of the file
	// content for PNG and JPEG files (and DICOM files without one).
	Key string
}

// OpenStudy decodes the image at path. Errors name the file.
func OpenStudy(path string) (*Study, error) {
	im, err := imaging.Open(path)
	if err != nil {
		return nil, err
	}
	return NewStudy(path, im), nil
}

// NewStudy wraps an image the caller has already decoded (the viewer
// decodes once and shares the frame).
func NewStudy(path string, im *imaging.Image) *Study {
	return &Study{Path: path, Image: im, Meta: im.Meta, Key: im.Meta.Key()}
}

// DefaultView is the view a study is shown and sent to the model with when
// the user has chosen none: the file's first window, else the Auto window.
func (s *Study) DefaultView() imaging.View {
	return imaging.View{Window: s.Image.DefaultWindow()}
}

// safeKey turns a study key into a file name: UIDs (digits and dots) stay
// as they are, "sha256:<hex>" becomes "sha256_<hex>". Anything else (a
// forged UID with slashes, an overlong one) is replaced by its hash, so a
// key can never name a path outside the drafts folder.
func safeKey(key string) string {
	ok := key != "" && len(key) <= 100 && key[0] != '.'
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '.', r == '-':
			b.WriteRune(r)
		case r == ':':
			b.WriteByte('_')
		default:
			ok = false
		}
	}
	if !ok {
		sum := sha256.Sum256([]byte(key))
		return "key_" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// DraftPath is the file that holds the draft record of the study with key.
func DraftPath(d Dirs, key string) string {
	return filepath.Join(d.Data, "drafts", safeKey(key)+".json")
}

// AuditPath is the append-only audit trail of the study with key.
func AuditPath(d Dirs, key string) string {
	return filepath.Join(d.Data, "audit", safeKey(key)+".jsonl")
}

// ViewRecord is the window and inversion a generation or an export used,
// as kept in drafts: a VOI LUT cannot be stored, so such a window is found
// again by name among the file's own.
type ViewRecord struct {
	Name     string  `json:"name,omitempty"`
	Center   float64 `json:"center"`
	Width    float64 `json:"width"`
	Function string  `json:"function,omitempty"`
	Invert   bool    `json:"invert,omitempty"`
}

func recordView(v imaging.View) *ViewRecord {
	return &ViewRecord{Name: v.Window.Name, Center: v.Window.Center, Width: v.Window.Width,
		Function: string(v.Window.Function), Invert: v.Invert}
}

// View turns the record back into a View for the study's image.
func (r *ViewRecord) View(s *Study) imaging.View {
	if r == nil {
		return s.DefaultView()
	}
	if imaging.VOIFunction(r.Function) == imaging.TableLUT {
		for _, w := range s.Image.Windows() {
			if w.Name == r.Name {
				return imaging.View{Window: w, Invert: r.Invert}
			}
		}
		return imaging.View{Window: s.Image.DefaultWindow(), Invert: r.Invert}
	}
	if r.Width <= 0 {
		return imaging.View{Window: s.Image.DefaultWindow(), Invert: r.Invert}
	}
	return imaging.View{Window: imaging.Window{Center: r.Center, Width: r.Width,
		Function: imaging.VOIFunction(r.Function), Name: r.Name}, Invert: r.Invert}
}

// String is the window as the overlays and exports print it.
func (r *ViewRecord) String() string {
	if r == nil {
		return ""
	}
	s := fmt.Sprintf("C %.6g W %.6g", r.Center, r.Width)
	if r.Name != "" {
		s = r.Name + " (" + s + ")"
	}
	if r.Invert {
		s += ", inverted"
	}
	return s
}
