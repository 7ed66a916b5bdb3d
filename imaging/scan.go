package imaging

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The scanner walks a DICOM dataset before anything else reads it. It
// checks every length against the bytes that remain (so a corrupt length
// never becomes an allocation), finds the Pixel Data element, keeps the
// values the display pipeline needs, and marks the top-level elements that
// github.com/suyashkumar/dicom cannot parse safely so they are left out of
// what it sees. Every step advances by at least 8 bytes, so a scan of n
// bytes ends after at most n/8 steps.

// Tags used by the scanner and the pixel pipeline, as group<<16|element.
const (
	tagItem            = 0xFFFEE000
	tagItemDelim       = 0xFFFEE00D
	tagSeqDelim        = 0xFFFEE0DD
	tagPixelData       = 0x7FE00010
	tagExtOffsetTable  = 0x7FE00001
	tagExtOffsetLength = 0x7FE00002
	tagFloatPixelData  = 0x7FE00008
	tagDoublePixelData = 0x7FE00009
	tagTransferSyntax  = 0x00020010
	tagCharacterSet    = 0x00080005
)

// maxDepth bounds sequence nesting; real files nest a handful deep.
const maxDepth = 32

// element is one data element found by the scanner. Offsets are within the
// dataset source.
type element struct {
	tag       uint32
	vr        string // explicit VR, or the dictionary's for implicit VR
	off       int64  // start of the element header
	valOff    int64  // start of the value
	length    int64  // value length (for undefined length: up to the delimiter)
	end       int64  // offset just past the element, delimiters included
	undefined bool
	items     [][]*element // sequence items
	value     []byte       // the value, for short non-sequence elements
	unsafe    string       // why suyashkumar must not see this element ("" = fine)
}

// maxKeptValue bounds the values the scanner copies: attribute values the
// pipeline reads are short; LUT data is at most 128 KiB.
const maxKeptValue = 1 << 18

type scanner struct {
	r        io.ReaderAt
	size     int64
	bo       binary.ByteOrder
	implicit bool
	hdr      [12]byte
	// badDelims counts delimiters with a nonzero length: readers that
	// trust the length (suyashkumar/dicom does) run off the end.
	badDelims int
}

var errTruncated = errors.New("file ends early")

func (s *scanner) read(off int64, p []byte) error {
	if off < 0 || off+int64(len(p)) > s.size {
		return errTruncated
	}
	if _, err := s.r.ReadAt(p, off); err != nil && !(errors.Is(err, io.EOF) && off+int64(len(p)) <= s.size) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errTruncated
		}
		return err
	}
	return nil
}

func tagString(t uint32) string { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }

// header reads the element header at off. Items and delimiters always use
// the implicit layout; bo is the byte order, implicit the VR encoding.
func (s *scanner) header(off, end int64, bo binary.ByteOrder, implicit bool) (e *element, err error) {
	if off+8 > end {
		if end == s.size {
			return nil, fmt.Errorf("element at offset %d: %w", off, errTruncated)
		}
		return nil, fmt.Errorf("element at offset %d overruns its sequence item", off)
	}
	h := s.hdr[:8]
	if err := s.read(off, h); err != nil {
		return nil, fmt.Errorf("element at offset %d: %w", off, err)
	}
	t := uint32(bo.Uint16(h[0:2]))<<16 | uint32(bo.Uint16(h[2:4]))
	e = &element{tag: t, off: off}
	if t>>16 == 0xFFFE || implicit {
		e.length = int64(bo.Uint32(h[4:8]))
		e.valOff = off + 8
		if t>>16 != 0xFFFE {
			e.vr = dictionaryVR(t)
		}
	} else {
		e.vr = string(h[4:6])
		if !validVR(e.vr) {
			return nil, fmt.Errorf("element %s at offset %d: invalid VR %q", tagString(t), off, e.vr)
		}
		if longVR(e.vr) {
			if off+12 > end {
				return nil, fmt.Errorf("element %s at offset %d: %w", tagString(t), off, errTruncated)
			}
			if err := s.read(off+8, s.hdr[8:12]); err != nil {
				return nil, fmt.Errorf("element %s at offset %d: %w", tagString(t), off, err)
			}
			e.length = int64(bo.Uint32(s.hdr[8:12]))
			e.valOff = off + 12
		} else {
			e.length = int64(bo.Uint16(h[6:8]))
			e.valOff = off + 8
		}
	}
	if e.length == 0xFFFFFFFF {
		e.undefined = true
		e.length = -1
	}
	return e, nil
}

// dataset walks elements in [off, end). In an item of undefined length
// (inItem) it stops at the Item Delimitation; at top level it stops at Pixel
// Data, which it returns without reading.
func (s *scanner) dataset(off, end int64, bo binary.ByteOrder, implicit bool, depth int, inItem, top bool) (elems []*element, next int64, pixel *element, err error) {
	if depth > maxDepth {
		return nil, 0, nil, fmt.Errorf("sequences nested more than %d deep at offset %d", maxDepth, off)
	}
	for off < end {
		if top && end-off < 8 && allZero(s, off, end) {
			// Trailing padding shorter than a header.
			return elems, end, nil, nil
		}
		e, err := s.header(off, end, bo, implicit)
		if err != nil {
			return nil, 0, nil, err
		}
		switch e.tag {
		case tagItemDelim:
			if inItem {
				if e.length != 0 {
					s.badDelims++
				}
				return elems, e.valOff, nil, nil
			}
			return nil, 0, nil, fmt.Errorf("stray item delimiter at offset %d", off)
		case tagSeqDelim, tagItem:
			return nil, 0, nil, fmt.Errorf("stray %s at offset %d", tagString(e.tag), off)
		}
		if top && e.tag == tagPixelData {
			return elems, e.off, e, nil
		}
		if err := s.value(e, end, bo, implicit, depth); err != nil {
			return nil, 0, nil, err
		}
		elems = append(elems, e)
		off = e.end
	}
	if inItem {
		return nil, 0, nil, fmt.Errorf("item at depth %d has no delimiter before offset %d", depth, end)
	}
	return elems, end, nil, nil
}

func allZero(s *scanner, off, end int64) bool {
	b := make([]byte, end-off)
	if s.read(off, b) != nil {
		return false
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// value checks e's value, descends into sequences, and keeps short values.
func (s *scanner) value(e *element, end int64, bo binary.ByteOrder, implicit bool, depth int) error {
	bad := s.badDelims
	defer func() {
		if s.badDelims != bad && e.unsafe == "" {
			e.unsafe = "delimiter with a nonzero length"
		}
	}()
	if e.undefined {
		// Undefined length: a sequence (SQ; UN per CP-246, whose content is
		// implicit VR little endian; or an implicit-VR tag the dictionary
		// does not know), or encapsulated pixel data nested in an item.
		switch {
		case e.tag == tagPixelData:
			next, err := s.skipFragments(e.valOff, end, bo)
			if err != nil {
				return fmt.Errorf("nested pixel data: %w", err)
			}
			e.end = next
		case e.vr == "SQ" || e.vr == "UN":
			ibo, iimpl := bo, implicit
			if e.vr == "UN" && !implicit {
				ibo, iimpl = binary.LittleEndian, true
				e.unsafe = "UN of undefined length"
			} else if e.vr == "UN" {
				e.unsafe = "unknown sequence of undefined length"
			}
			items, next, err := s.items(e.valOff, end, true, ibo, iimpl, depth+1)
			if err != nil {
				return fmt.Errorf("sequence %s: %w", tagString(e.tag), err)
			}
			e.items, e.end = items, next
		default:
			return fmt.Errorf("element %s (%s) at offset %d has undefined length", tagString(e.tag), e.vr, e.off)
		}
		e.length = e.end - e.valOff
		return nil
	}
	e.end = e.valOff + e.length
	if e.end > end {
		if end == s.size {
			return fmt.Errorf("element %s at offset %d: length %d runs past the end of the file (%d bytes left)", tagString(e.tag), e.off, e.length, end-e.valOff)
		}
		return fmt.Errorf("element %s at offset %d: length %d runs past its sequence item", tagString(e.tag), e.off, e.length)
	}
	if e.vr == "SQ" {
		items, _, err := s.items(e.valOff, e.end, false, bo, implicit, depth+1)
		if err != nil {
			return fmt.Errorf("sequence %s: %w", tagString(e.tag), err)
		}
		e.items = items
		return nil
	}
	if n := unitSize(e.vr); n > 1 && e.length%int64(n) != 0 {
		e.unsafe = fmt.Sprintf("%s value of %d bytes", e.vr, e.length)
	}
	if e.length <= maxKeptValue {
		e.value = make([]byte, e.length)
		if err := s.read(e.valOff, e.value); err != nil {
			return fmt.Errorf("element %s: %w", tagString(e.tag), err)
		}
	}
	return nil
}

// items walks sequence items from off. A sequence of undefined length ends
// at its Sequence Delimitation, one of defined length at end.
func (s *scanner) items(off, end int64, undefined bool, bo binary.ByteOrder, implicit bool, depth int) ([][]*element, int64, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("sequences nested more than %d deep at offset %d", maxDepth, off)
	}
	var items [][]*element
	for {
		if !undefined && off >= end {
			return items, end, nil
		}
		h, err := s.header(off, end, bo, true)
		if err != nil {
			return nil, 0, err
		}
		switch h.tag {
		case tagSeqDelim:
			if undefined {
				if h.length != 0 {
					s.badDelims++
				}
				return items, h.valOff, nil
			}
			return nil, 0, fmt.Errorf("sequence delimiter in a sequence of defined length at offset %d", off)
		case tagItem:
		default:
			return nil, 0, fmt.Errorf("%s where an item was expected at offset %d", tagString(h.tag), off)
		}
		var elems []*element
		if h.undefined {
			elems, off, _, err = s.dataset(h.valOff, end, bo, implicit, depth, true, false)
		} else {
			iend := h.valOff + h.length
			if iend > end {
				return nil, 0, fmt.Errorf("item at offset %d: length %d runs past its sequence", h.off, h.length)
			}
			elems, _, _, err = s.dataset(h.valOff, iend, bo, implicit, depth, false, false)
			off = iend
		}
		if err != nil {
			return nil, 0, err
		}
		items = append(items, elems)
	}
}

// skipFragments walks the items of encapsulated pixel data to its
// Sequence Delimitation and returns the offset after it.
func (s *scanner) skipFragments(off, end int64, bo binary.ByteOrder) (int64, error) {
	for {
		h, err := s.header(off, end, bo, true)
		if err != nil {
			return 0, err
		}
		switch {
		case h.tag == tagSeqDelim:
			return h.valOff, nil
		case h.tag != tagItem || h.undefined:
			return 0, fmt.Errorf("%s where a fragment was expected at offset %d", tagString(h.tag), off)
		case h.valOff+h.length > end:
			return 0, fmt.Errorf("fragment at offset %d: length %d runs past the end", off, h.length)
		}
		off = h.valOff + h.length
	}
}

// unitSize is the size of one value of a binary VR whose length
// suyashkumar divides without checking.
func unitSize(vr string) int {
	switch vr {
	case "US", "SS", "AT", "OW":
		return 2
	case "UL", "SL", "FL", "OF", "OL":
		return 4
	case "FD", "OD", "SV", "UV", "OV":
		return 8
	}
	return 1
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

func validVR(vr string) bool {
	switch vr {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV",
		"OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV":
		return true
	}
	return false
}

// dictionaryVR is the VR suyashkumar's dictionary gives an implicit-VR tag,
// so that the scanner and the parser agree on how a value is read.
func dictionaryVR(t uint32) string {
	g, el := uint16(t>>16), uint16(t)
	if g%2 == 1 && el >= 0x10 && el <= 0xFF {
		return "LO" // private creator
	}
	info, err := tag.Find(tag.Tag{Group: g, Element: el})
	if err != nil {
		return "UN"
	}
	return info.VR
}

// find returns the first element with tag t in elems.
func find(elems []*element, t uint32) *element {
	for _, e := range elems {
		if e.tag == t {
			return e
		}
	}
	return nil
}
