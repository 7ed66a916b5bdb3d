package imaging

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func init() {
	// suyashkumar/dicom fills its tag dictionary lazily, without a lock, on
	// first use; two files opened at once would write the map concurrently,
	// which Go cannot recover from. Fill it here, before any goroutine runs.
	_, _ = tag.Find(tag.PixelData)
}

// maxInflated bounds a deflated dataset: the largest frame cxrview
// decodes (maxPixels samples of 32 bits) and 32 MiB of header, so that a
// deflate bomb fails instead of exhausting memory.
const maxInflated = 4*maxPixels + 32<<20

// dicomFile is a DICOM file after the scan: where its dataset is, how it is
// encoded, its elements up to Pixel Data, and Pixel Data itself.
type dicomFile struct {
	ts       transferSyntax
	src      io.ReaderAt // the dataset (the file, or the inflated dataset)
	srcSize  int64
	bo       binary.ByteOrder
	big      bool // bo is big endian
	implicit bool
	dsStart  int64
	meta     []*element // group 0002, values kept
	elems    []*element // top-level elements before Pixel Data
	pixel    *element
	warnings []string
	// quantised is set when 32-bit samples were scaled into 16 bits.
	quantised *quantisation
}

// readDICOM finds and checks the structure of a DICOM file.
func readDICOM(r io.ReaderAt, size int64) (*dicomFile, error) {
	f := &dicomFile{src: r, srcSize: size}
	head := make([]byte, min(size, 132))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var metaStart int64 = -1
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		metaStart = 132
	case len(head) >= 4 && string(head[:4]) == "DICM":
		metaStart = 4
		f.warnings = append(f.warnings, "file has no 128-byte preamble")
	case len(head) >= 8 && binary.LittleEndian.Uint16(head) == 0x0002:
		metaStart = 0
		f.warnings = append(f.warnings, "file has no preamble")
	}
	sc := &scanner{r: r, size: size}
	f.dsStart = 0
	if metaStart >= 0 {
		off := metaStart
		for off+8 <= size {
			var g [2]byte
			if err := sc.read(off, g[:]); err != nil {
				break
			}
			if binary.LittleEndian.Uint16(g[:]) != 0x0002 {
				break
			}
			e, err := sc.header(off, size, binary.LittleEndian, false)
			if err != nil {
				return nil, fmt.Errorf("file meta information: %w", err)
			}
			if err := sc.value(e, size, binary.LittleEndian, false, 0); err != nil {
				return nil, fmt.Errorf("file meta information: %w", err)
			}
			f.meta = append(f.meta, e)
			off = e.end
		}
		f.dsStart = off
	}
	uid := ""
	if e := find(f.meta, tagTransferSyntax); e != nil {
		uid = strings.TrimRight(string(e.value), " \x00")
	}
	if uid == "" {
		enc, ok := sniffAt(r, size, f.dsStart)
		if !ok {
			return nil, errors.New("no transfer syntax and the dataset encoding cannot be recognised")
		}
		uid = "1.2.840.10008.1.2.1"
		switch {
		case enc.bigEndian:
			uid = "1.2.840.10008.1.2.2"
		case enc.implicit:
			uid = "1.2.840.10008.1.2"
		}
		if len(f.meta) > 0 {
			f.warnings = append(f.warnings, "file meta information has no transfer syntax")
		} else {
			f.warnings = append(f.warnings, "file has no meta information")
		}
	}
	ts, known := lookupTransferSyntax(uid)
	f.ts = ts
	if !known || ts.codec == codecUnsupported {
		return nil, fmt.Errorf("unsupported transfer syntax %s", ts)
	}
	f.bo, f.big, f.implicit = binary.ByteOrder(binary.LittleEndian), ts.bigEndian, ts.implicit
	if f.big {
		f.bo = binary.BigEndian
	}
	if ts.codec == codecDeflate {
		zr := flate.NewReader(io.NewSectionReader(r, f.dsStart, size-f.dsStart))
		data, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
		if err != nil {
			return nil, fmt.Errorf("inflate the deflated dataset: %w", err)
		}
		if len(data) > maxInflated {
			return nil, fmt.Errorf("deflated dataset inflates to more than %d MiB", maxInflated>>20)
		}
		f.src, f.srcSize, f.dsStart = bytes.NewReader(data), int64(len(data)), 0
	}
	// Some writers declare explicit VR and write implicit (or the
	// reverse); read what is there, as dcmtk does.
	if enc, ok := sniffAt(f.src, f.srcSize, f.dsStart); ok && !enc.bigEndian && !f.big && enc.implicit != f.implicit {
		f.implicit = enc.implicit
		f.warnings = append(f.warnings, fmt.Sprintf("dataset is %s VR although the transfer syntax says otherwise", map[bool]string{true: "implicit", false: "explicit"}[enc.implicit]))
	}
	sc = &scanner{r: f.src, size: f.srcSize}
	elems, _, pixel, err := sc.dataset(f.dsStart, f.srcSize, f.bo, f.implicit, 0, false, true)
	if err != nil {
		return nil, err
	}
	f.elems, f.pixel = elems, pixel
	return f, nil
}

// sniffAt guesses the encoding of the dataset starting at off.
func sniffAt(r io.ReaderAt, size, off int64) (encoding, bool) {
	b := make([]byte, min(16, max(size-off, 0)))
	if len(b) < 8 {
		return encoding{}, false
	}
	if _, err := r.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return encoding{}, false
	}
	return sniffDataset(b)
}

// sniffDataset guesses the encoding of a dataset from its first element:
// a known VR after the tag means explicit VR (the byte order giving the
// smaller group number), otherwise implicit VR little endian if the tag is
// a standard one with a plausible length.
func sniffDataset(b []byte) (encoding, bool) {
	if len(b) < 8 {
		return encoding{}, false
	}
	le := uint32(binary.LittleEndian.Uint16(b[0:2]))<<16 | uint32(binary.LittleEndian.Uint16(b[2:4]))
	be := uint32(binary.BigEndian.Uint16(b[0:2]))<<16 | uint32(binary.BigEndian.Uint16(b[2:4]))
	plausible := func(t uint32) bool { return t>>16 >= 0x0002 && t>>16 <= 0x0028 }
	if validVR(string(b[4:6])) {
		switch {
		case plausible(le) && (le>>16 <= be>>16 || !plausible(be)):
			return encoding{}, true
		case plausible(be):
			return encoding{bigEndian: true}, true
		}
		return encoding{}, false
	}
	if !plausible(le) {
		return encoding{}, false
	}
	if _, err := tag.Find(tag.Tag{Group: uint16(le >> 16), Element: uint16(le)}); err != nil {
		return encoding{}, false
	}
	return encoding{implicit: true}, true
}

// looksLikeDICOM reports whether head (the first bytes of a file) starts a
// DICOM Part 10 file or a bare dataset.
func looksLikeDICOM(head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	if len(head) >= 4 && string(head[:4]) == "DICM" {
		return true
	}
	_, ok := sniffDataset(head)
	return ok
}

type encoding struct {
	bigEndian, implicit bool
}

// InternalError reports a bug in cxrview's own decoding code that was
// caught instead of crashing the program. Fuzz tests fail on it.
type InternalError struct {
	Panic any
}

func (e *InternalError) Error() string {
	return fmt.Sprintf("internal error while decoding (please report): %v", e.Panic)
}

func decodeDICOM(r io.ReaderAt, size int64, o Options) (*Image, error) {
	f, err := readDICOM(r, size)
	if err != nil {
		return nil, err
	}
	if f.pixel == nil {
		if find(f.elems, tagFloatPixelData) != nil || find(f.elems, tagDoublePixelData) != nil {
			return nil, errors.New("float pixel data is not supported")
		}
		return nil, fmt.Errorf("no Pixel Data: not an image (%s)", sopClassName(f.text(0x00080016)))
	}
	im := &Image{Format: FormatDICOM}
	f.parseMeta(im)
	if err := f.decodePixels(im, o.Frame); err != nil {
		return nil, err
	}
	if f.ts.lossy || f.text(0x00282110) == "01" {
		f.warnings = append(f.warnings, "lossy compressed: fine detail may differ from the original acquisition")
	}
	im.Meta.Warnings = append(im.Meta.Warnings, f.warnings...)
	im.Meta.Warnings = append(im.Meta.Warnings, clinicalWarnings(im)...)
	return im, nil
}

// text returns an attribute of the top-level dataset as a trimmed string,
// straight from the file's bytes.
func (f *dicomFile) text(t uint32) string {
	e := find(f.elems, t)
	if e == nil {
		return ""
	}
	return strings.Trim(string(e.value), " \x00")
}

// texts splits a multi-valued string attribute.
func (f *dicomFile) texts(t uint32) []string {
	s := f.text(t)
	if s == "" {
		return nil
	}
	vs := strings.Split(s, `\`)
	for i := range vs {
		vs[i] = strings.Trim(vs[i], " \x00")
	}
	return vs
}

// numbers parses a DS or IS attribute; unparsable values come back as NaN.
func numbers(vs []string) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(x, 0) {
			x = math.NaN()
		}
		out[i] = x
	}
	return out
}

// us reads an unsigned short attribute from elems.
func (f *dicomFile) us(elems []*element, t uint32) (int, bool) {
	e := find(elems, t)
	if e == nil || len(e.value) < 2 {
		return 0, false
	}
	return int(f.bo.Uint16(e.value)), true
}

// parseMeta fills im.Meta. Text attributes come from suyashkumar/dicom,
// which decodes the Specific Character Set; it sees only the elements the
// scanner found safe. If it still fails, the raw bytes are used.
func (f *dicomFile) parseMeta(im *Image) {
	m := &im.Meta
	ds, err := f.parseDataset()
	get := func(t uint32) string {
		if err == nil {
			if e, ferr := ds.FindElementByTag(tag.Tag{Group: uint16(t >> 16), Element: uint16(t)}); ferr == nil {
				if ss, ok := e.Value.GetValue().([]string); ok {
					return strings.TrimSpace(strings.Join(ss, `\`))
				}
			}
			return ""
		}
		return f.text(t)
	}
	if err != nil {
		f.warnings = append(f.warnings, fmt.Sprintf("header text read without character set decoding (%v)", err))
	}
	m.PatientName = get(0x00100010)
	m.PatientID = get(0x00100020)
	m.PatientBirthDate = get(0x00100030)
	m.PatientSex = get(0x00100040)
	m.PatientAge = get(0x00101010)
	m.StudyDate = get(0x00080020)
	m.StudyTime = get(0x00080030)
	m.AccessionNumber = get(0x00080050)
	m.StudyDescription = get(0x00081030)
	m.StudyInstanceUID = get(0x0020000D)
	m.SeriesInstanceUID = get(0x0020000E)
	m.SOPInstanceUID = get(0x00080018)
	m.SOPClassUID = get(0x00080016)
	m.Modality = get(0x00080060)
	m.Manufacturer = get(0x00080070)
	m.ViewPosition = get(0x00185101)
	m.PatientOrientation = patientOrientation(get(0x00200020))
	m.BodyPart = get(0x00180015)
	m.Photometric = f.text(0x00280004)
	if m.SOPInstanceUID == "" {
		if e := find(f.meta, 0x00020003); e != nil {
			m.SOPInstanceUID = strings.Trim(string(e.value), " \x00")
		}
	}
	m.TransferSyntax = f.ts.String()
	for _, s := range []struct {
		t    uint32
		name string
	}{{0x00280030, "PixelSpacing"}, {0x00181164, "ImagerPixelSpacing"}} {
		v := numbers(f.texts(s.t))
		if len(v) == 2 && v[0] > 0 && v[1] > 0 {
			m.PixelSpacing = [2]float64{v[0], v[1]}
			m.SpacingSource = s.name
			break
		}
	}
}

// patientOrientation reads the two values of Patient Orientation ("L\F"),
// or nothing when they are not two directions made of L, R, A, P, H and F
// with no letter of the same axis twice.
func patientOrientation(v string) [2]string {
	parts := strings.Split(v, `\`)
	if len(parts) != 2 {
		return [2]string{}
	}
	var out [2]string
	for i, p := range parts {
		p = strings.ToUpper(strings.TrimSpace(p))
		if p == "" || len(p) > 3 {
			return [2]string{}
		}
		var axes [3]bool // L/R, A/P, H/F
		for _, c := range p {
			a := strings.IndexRune("LRAPHF", c)
			if a < 0 || axes[a/2] {
				return [2]string{}
			}
			axes[a/2] = true
		}
		out[i] = p
	}
	return out
}

// parseDataset runs suyashkumar/dicom over a copy of the header that holds
// only the top-level elements the scanner found safe, before Pixel Data,
// behind a minimal file meta group naming the base encoding. A panic in the
// parser becomes an error. An unknown character set is retried without it.
func (f *dicomFile) parseDataset() (ds dicom.Dataset, err error) {
	ds, err = f.parseDatasetExcept(0)
	if err != nil && find(f.elems, tagCharacterSet) != nil {
		if ds2, err2 := f.parseDatasetExcept(tagCharacterSet); err2 == nil {
			f.warnings = append(f.warnings, fmt.Sprintf("character set %q not understood: text shown as is", f.text(tagCharacterSet)))
			return ds2, nil
		}
	}
	return ds, err
}

func (f *dicomFile) parseDatasetExcept(skip uint32) (ds dicom.Dataset, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dicom parser failed: %v", p)
		}
	}()
	uid := "1.2.840.10008.1.2.1"
	switch {
	case f.big:
		uid = "1.2.840.10008.1.2.2"
	case f.implicit:
		uid = "1.2.840.10008.1.2"
	}
	var prefix bytes.Buffer
	prefix.Write(make([]byte, 128))
	prefix.WriteString("DICM")
	tsVal := []byte(uid)
	if len(tsVal)%2 == 1 {
		tsVal = append(tsVal, 0)
	}
	var el [12]byte
	binary.LittleEndian.PutUint16(el[0:], 0x0002)
	binary.LittleEndian.PutUint16(el[2:], 0x0000)
	copy(el[4:], "UL")
	binary.LittleEndian.PutUint16(el[6:], 4)
	binary.LittleEndian.PutUint32(el[8:], uint32(8+len(tsVal)))
	prefix.Write(el[:12])
	binary.LittleEndian.PutUint16(el[0:], 0x0002)
	binary.LittleEndian.PutUint16(el[2:], 0x0010)
	copy(el[4:], "UI")
	binary.LittleEndian.PutUint16(el[6:], uint16(len(tsVal)))
	prefix.Write(el[:8])
	prefix.Write(tsVal)

	readers := []io.Reader{&prefix}
	total := int64(prefix.Len())
	for _, e := range f.elems {
		if e.tag == skip || e.tag>>16 == 0x0002 || unsafeFor(e) != "" {
			continue
		}
		if e.tag == tagCharacterSet && !textVR(e.vr) {
			// The parser reads the character set with MustGetStrings,
			// which logs and panics on any other VR.
			continue
		}
		readers = append(readers, io.NewSectionReader(f.src, e.off, e.end-e.off))
		total += e.end - e.off
	}
	return dicom.Parse(io.MultiReader(readers...), total, nil, dicom.SkipPixelData())
}

// textVR reports whether suyashkumar/dicom reads values of vr as strings.
func textVR(vr string) bool {
	switch tag.GetVRKind(tag.Tag{}, vr) {
	case tag.VRStringList, tag.VRString, tag.VRDate:
		return true
	}
	return false
}

// unsafeFor reports why e, or anything nested in it, must be kept from the
// parser.
func unsafeFor(e *element) string {
	if e.unsafe != "" {
		return e.unsafe
	}
	for _, it := range e.items {
		for _, c := range it {
			if u := unsafeFor(c); u != "" {
				return u
			}
		}
	}
	return ""
}

// clinicalWarnings flags, never blocks, what the model was not trained on.
func clinicalWarnings(im *Image) []string {
	m := im.Meta
	var w []string
	switch mod := strings.ToUpper(m.Modality); mod {
	case "CR", "DX":
	case "":
		if im.Format == FormatDICOM {
			w = append(w, "modality not stated: may not be a chest radiograph")
		}
	default:
		w = append(w, fmt.Sprintf("modality %s: not a chest radiograph", mod))
	}
	if bp := strings.ToUpper(m.BodyPart); bp != "" && bp != "CHEST" && bp != "THORAX" && bp != "LUNG" {
		w = append(w, fmt.Sprintf("body part %s: not a chest film", bp))
	}
	switch vp := strings.ToUpper(m.ViewPosition); {
	case vp == "LL" || vp == "RL" || strings.HasPrefix(vp, "LAT"):
		w = append(w, "lateral view: CXR-LLaVA was trained on frontal films")
	case vp == "LAO" || vp == "RAO" || vp == "LPO" || vp == "RPO":
		w = append(w, "oblique view: CXR-LLaVA was trained on frontal films")
	}
	return w
}

// sopClassName names the common non-image SOP classes for error messages.
func sopClassName(uid string) string {
	switch uid {
	case "":
		return "no SOP class"
	case "1.2.840.10008.5.1.4.1.1.88.11":
		return "Basic Text SR"
	case "1.2.840.10008.5.1.4.1.1.88.22":
		return "Enhanced SR"
	case "1.2.840.10008.5.1.4.1.1.88.33":
		return "Comprehensive SR"
	case "1.2.840.10008.5.1.4.1.1.481.5":
		return "RT Plan"
	case "1.2.840.10008.5.1.4.1.1.481.3":
		return "RT Structure Set"
	case "1.2.840.10008.5.1.4.1.1.104.1":
		return "Encapsulated PDF"
	case "1.2.840.10008.5.1.4.1.1.9.1.1":
		return "12-lead ECG waveform"
	}
	return "SOP class " + uid
}
