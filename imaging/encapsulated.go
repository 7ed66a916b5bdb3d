package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// fragment is one item of encapsulated Pixel Data.
type fragment struct {
	itemOff int64 // offset of the item tag
	off     int64 // offset of the data
	length  int64
}

// fragments walks the items of encapsulated Pixel Data: the Basic Offset
// Table first, then the fragments. Every item must lie inside the file; a
// missing Sequence Delimitation at the very end is tolerated.
func (f *dicomFile) fragments() (bot []byte, frags []fragment, err error) {
	sc := &scanner{r: f.src, size: f.srcSize}
	off := f.pixel.valOff
	first := true
	for {
		if off == f.srcSize {
			f.warnings = append(f.warnings, "encapsulated pixel data has no sequence delimiter")
			return bot, frags, nil
		}
		h, err := sc.header(off, f.srcSize, binary.LittleEndian, true)
		if err != nil {
			return nil, nil, fmt.Errorf("pixel data truncated: %w", err)
		}
		switch {
		case h.tag == tagSeqDelim:
			return bot, frags, nil
		case h.tag != tagItem || h.undefined:
			return nil, nil, fmt.Errorf("pixel data: %s where a fragment was expected at offset %d", tagString(h.tag), off)
		case h.valOff+h.length > f.srcSize:
			return nil, nil, fmt.Errorf("pixel data truncated: fragment at offset %d of %d bytes runs past the end of the file", off, h.length)
		}
		if first {
			if h.length > 4*maxPixels {
				return nil, nil, fmt.Errorf("basic offset table of %d bytes", h.length)
			}
			bot = make([]byte, h.length)
			if err := sc.read(h.valOff, bot); err != nil {
				return nil, nil, fmt.Errorf("basic offset table: %w", err)
			}
			first = false
		} else {
			frags = append(frags, fragment{itemOff: h.off, off: h.valOff, length: h.length})
		}
		off = h.valOff + h.length
	}
}

// encapsulatedFrame returns the compressed bytes of one frame: its
// fragments joined. Fragments map to frames through the Extended Offset
// Table or the Basic Offset Table when present, else one fragment per frame
// when the counts agree, else by the start-of-image markers.
func (f *dicomFile) encapsulatedFrame(frames, frame int) ([]byte, error) {
	bot, frags, err := f.fragments()
	if err != nil {
		return nil, err
	}
	if len(frags) == 0 {
		return nil, errors.New("encapsulated pixel data has no fragments")
	}
	groups, err := f.mapFrames(bot, frags, frames)
	if err != nil {
		return nil, err
	}
	sel := groups[frame]
	var total int64
	for _, fr := range sel {
		total += fr.length
	}
	if total > f.srcSize {
		return nil, fmt.Errorf("frame %d: fragments larger than the file", frame)
	}
	data := make([]byte, 0, total)
	for _, fr := range sel {
		n := len(data)
		data = data[:n+int(fr.length)]
		if _, err := f.src.ReadAt(data[n:], fr.off); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read fragment: %w", err)
		}
	}
	return data, nil
}

func (f *dicomFile) mapFrames(bot []byte, frags []fragment, frames int) ([][]fragment, error) {
	if frames == 1 {
		return [][]fragment{frags}, nil
	}
	base := frags[0].itemOff
	byOffsets := func(offs []int64) ([][]fragment, bool) {
		if len(offs) != frames || offs[0] != 0 || !slices.IsSorted(offs) {
			return nil, false
		}
		groups := make([][]fragment, frames)
		k := 0
		for i := range frames {
			end := int64(1) << 62
			if i+1 < frames {
				end = offs[i+1]
			}
			if k >= len(frags) || frags[k].itemOff-base != offs[i] {
				return nil, false // an offset that does not start a fragment
			}
			for k < len(frags) && frags[k].itemOff-base < end {
				groups[i] = append(groups[i], frags[k])
				k++
			}
		}
		return groups, true
	}
	if e := find(f.elems, tagExtOffsetTable); e != nil && len(e.value)%8 == 0 && len(e.value) > 0 {
		offs := make([]int64, len(e.value)/8)
		for i := range offs {
			offs[i] = int64(binary.LittleEndian.Uint64(e.value[8*i:]))
		}
		if g, ok := byOffsets(offs); ok {
			return g, nil
		}
		f.warnings = append(f.warnings, "extended offset table does not match the fragments: ignored")
	}
	if len(bot) > 0 {
		if len(bot)%4 == 0 {
			offs := make([]int64, len(bot)/4)
			for i := range offs {
				offs[i] = int64(binary.LittleEndian.Uint32(bot[4*i:]))
			}
			if g, ok := byOffsets(offs); ok {
				return g, nil
			}
		}
		f.warnings = append(f.warnings, "basic offset table does not match the fragments: ignored")
	}
	if len(frags) == frames {
		groups := make([][]fragment, frames)
		for i := range frags {
			groups[i] = frags[i : i+1]
		}
		return groups, nil
	}
	if f.ts.codec == codecRLE || f.ts.codec == codecEncapsulatedNative {
		return nil, fmt.Errorf("%d fragments for %d frames: %s needs one fragment per frame", len(frags), frames, f.ts.name)
	}
	// Without an offset table, a new frame starts at a fragment that
	// begins with a JPEG SOI or a JPEG 2000 SOC marker or JP2 signature.
	var groups [][]fragment
	for _, fr := range frags {
		var head [12]byte
		n := min(fr.length, int64(len(head)))
		if _, err := f.src.ReadAt(head[:n], fr.off); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read fragment: %w", err)
		}
		if startsFrame(head[:n]) || len(groups) == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], fr)
	}
	if len(groups) != frames {
		return nil, fmt.Errorf("cannot map %d fragments to %d frames: no offset table and %d frame starts", len(frags), frames, len(groups))
	}
	return groups, nil
}

func startsFrame(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xFF, 0xD8}) || bytes.HasPrefix(b, []byte{0xFF, 0x4F, 0xFF, 0x51}) ||
		bytes.HasPrefix(b, []byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' '})
}
