package imaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format is the container an image was read from.
type Format string

// The formats Open recognises by content.
const (
	FormatDICOM Format = "DICOM"
	FormatPNG   Format = "PNG"
	FormatJPEG  Format = "JPEG"
)

// Options select what Open and Decode read. The zero value reads frame 0.
type Options struct {
	Frame int // index of the frame to decode in a multi-frame file
}

// Image is one decoded frame with everything the display pipeline needs.
// Pixels are kept as stored (compact, masked to BitsStored); rendering maps
// them to 8-bit gray through a lookup table built per View.
type Image struct {
	Name   string // the file name given to Open or Decode
	Format Format

	Width, Height int
	Frames, Frame int // number of frames in the file, the one decoded
	Samples       int // 1 (gray) or 3 (colour)

	// Gray holds, for Samples == 1, the stored values masked to BitsStored,
	// row-major, len Width*Height. Signed data is two's complement within
	// BitsStored.
	Gray []uint16
	// RGB holds, for Samples == 3, 8-bit RGB triples, len 3*Width*Height.
	RGB []uint8

	BitsStored int
	Signed     bool

	// Rescale is the Modality LUT: stored value → modality value.
	Rescale ModalityLUT
	// Inverse is true when the file asks for low values to be shown white:
	// PhotometricInterpretation MONOCHROME1 or Presentation LUT Shape
	// INVERSE. The user's View.Invert applies on top.
	Inverse bool

	Meta Meta

	windows []Window // the file's VOI windows and VOI LUTs, in file order
	hist    []uint32 // histogram of Gray by stored value, built on demand
}

// ModalityLUT maps stored values to modality values (PS3.3 C.11.1): either a
// linear rescale or, when Table is set, a lookup table.
type ModalityLUT struct {
	Slope, Intercept float64
	// Type is the unit of the output: Rescale Type or Modality LUT Type
	// ("HU", "OD", ...); "US" means unspecified.
	Type string
	// Table, when not nil, replaces the rescale: stored values below First
	// map to Table[0], above First+len(Table)-1 to the last entry.
	Table []uint16
	First int
}

// Meta is what the UI and reports show about a study. Strings are empty
// when the file does not say.
type Meta struct {
	PatientName, PatientID, PatientSex, PatientAge, PatientBirthDate string
	StudyDate, StudyTime, StudyDescription, AccessionNumber          string
	StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, SOPClassUID string
	Modality, ViewPosition, BodyPart, Manufacturer, Photometric      string

	// PatientOrientation is Patient Orientation (0020,0020): the patient
	// directions of the image's rows (+x, columns increasing) and columns
	// (+y, rows increasing), each one to three of the letters L, R, A, P,
	// H, F ("L", "F": a frontal chest film shown as if facing the
	// patient). Both are empty when the file does not give two valid
	// directions.
	PatientOrientation [2]string

	// TransferSyntax is the UID and its name, e.g.
	// "1.2.840.10008.1.2.4.70 (JPEG Lossless SV1)".
	TransferSyntax string
	// PixelSpacing is the row and column spacing in mm; zero when unknown.
	PixelSpacing [2]float64
	// SpacingSource names the attribute PixelSpacing came from:
	// "PixelSpacing", "ImagerPixelSpacing" or "".
	SpacingSource string
	// ContentHash is the SHA-256 of the file bytes in hex; it is the study
	// key for PNG and JPEG files.
	ContentHash string
	// Warnings flag, never block: images that are not chest radiographs,
	// lateral views, lossy or approximated pixels.
	Warnings []string
}

// Key identifies the image for drafts and audit trails: the SOP Instance UID
// when there is one, else the content hash.
func (m Meta) Key() string {
	if m.SOPInstanceUID != "" {
		return m.SOPInstanceUID
	}
	return "sha256:" + m.ContentHash
}

// Open reads the image file at path, detecting DICOM, PNG or JPEG by
// content. Errors name the file.
func Open(path string, opts ...Options) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	return Decode(f, st.Size(), path, opts...)
}

// Decode reads an image of size bytes from r; name is used in errors and
// kept in Image.Name.
func Decode(r io.ReaderAt, size int64, name string, opts ...Options) (*Image, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Frame < 0 {
		return nil, fmt.Errorf("%s: frame %d: frames count from 0", name, o.Frame)
	}
	if size <= 0 {
		return nil, fmt.Errorf("%s: empty file", name)
	}
	head := make([]byte, min(size, 136))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	im, err := decodeAny(r, size, head, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if o.Frame >= im.Frames {
		return nil, fmt.Errorf("%s: frame %d: the file has %d frame(s), numbered from 0", name, o.Frame, im.Frames)
	}
	im.Name = name
	if im.Meta.ContentHash, err = hashContent(r, size); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return im, nil
}

// decodeAny picks the decoder by content. A panic in any decoder (a bug,
// since every decoder checks its input) becomes an InternalError instead
// of ending the program, and so does an image whose buffers do not hold
// its pixels: the renderers index them on worker goroutines.
func decodeAny(r io.ReaderAt, size int64, head []byte, o Options) (im *Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			im, err = nil, &InternalError{Panic: p}
		}
	}()
	switch f, _ := detect(head); f {
	case FormatPNG, FormatJPEG:
		im, err = decodeRaster(r, size, f)
	case FormatDICOM:
		im, err = decodeDICOM(r, size, o)
	default:
		return nil, errors.New("not a DICOM, PNG or JPEG file")
	}
	if err == nil {
		if cerr := im.check(); cerr != nil {
			return nil, &InternalError{Panic: cerr}
		}
	}
	return im, err
}

// detect tells the format from the first bytes of a file (136 are enough).
func detect(head []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(head, pngMagic):
		return FormatPNG, true
	case bytes.HasPrefix(head, jpegMagic):
		return FormatJPEG, true
	case looksLikeDICOM(head):
		return FormatDICOM, true
	}
	return "", false
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// hashContent streams the file through SHA-256 without holding it.
func hashContent(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
