// Package rle decodes DICOM RLE Lossless frames (PS3.5 Annex G): a header of
// up to 15 segment offsets, each segment a PackBits stream holding one byte
// plane of the frame.
package rle

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Decode decodes one RLE frame of width×height pixels with the given
// samples per pixel and bytes per sample. The result is the frame in native
// little-endian layout with each sample in its own plane (Planar
// Configuration 1): sample c of pixel i, byte k (0 = least significant) is
// at ((c*width*height)+i)*bytesPerSample+k.
func Decode(data []byte, width, height, samples, bytesPerSample int) ([]byte, error) {
	if width <= 0 || height <= 0 || samples <= 0 || bytesPerSample <= 0 {
		return nil, errors.New("rle: bad frame geometry")
	}
	if len(data) < 64 {
		return nil, fmt.Errorf("rle: header needs 64 bytes, have %d", len(data))
	}
	nseg := int(binary.LittleEndian.Uint32(data))
	want := samples * bytesPerSample
	if nseg != want {
		return nil, fmt.Errorf("rle: %d segments where %d samples × %d bytes need %d", nseg, samples, bytesPerSample, want)
	}
	if nseg > 15 {
		return nil, fmt.Errorf("rle: %d segments (at most 15)", nseg)
	}
	offs := make([]int, nseg+1)
	for i := range nseg {
		offs[i] = int(binary.LittleEndian.Uint32(data[4+4*i:]))
	}
	offs[nseg] = len(data)
	for i := range nseg {
		if offs[i] < 64 || offs[i] > offs[i+1] {
			return nil, fmt.Errorf("rle: segment %d offset %d out of order or outside the %d-byte frame", i, offs[i], len(data))
		}
	}
	n := width * height
	// A PackBits run of 2 bytes expands to at most 128: a frame too short
	// for its size is refused before the output is allocated.
	if (len(data)-64)*64 < n*nseg {
		return nil, fmt.Errorf("rle: %d bytes cannot hold %d segments of %d bytes", len(data), nseg, n)
	}
	out := make([]byte, n*samples*bytesPerSample)
	plane := make([]byte, n)
	for s := range nseg {
		got, err := unpack(plane, data[offs[s]:offs[s+1]])
		if err != nil {
			return nil, fmt.Errorf("rle: segment %d: %w", s, err)
		}
		if got < n {
			return nil, fmt.Errorf("rle: segment %d decodes to %d bytes, want %d", s, got, n)
		}
		// Segments run from the most significant byte of sample 0.
		c, k := s/bytesPerSample, bytesPerSample-1-s%bytesPerSample
		base := c * n * bytesPerSample
		if bytesPerSample == 1 {
			copy(out[base:base+n], plane)
			continue
		}
		for i, b := range plane {
			out[base+i*bytesPerSample+k] = b
		}
	}
	return out, nil
}

// unpack expands a PackBits segment into dst and returns the number of
// bytes written. Output beyond dst (encoder padding) is dropped.
func unpack(dst, src []byte) (int, error) {
	o := 0
	for i := 0; i < len(src) && o < len(dst); {
		h := int8(src[i])
		i++
		switch {
		case h >= 0:
			n := int(h) + 1
			if i+n > len(src) {
				return o, fmt.Errorf("literal run of %d bytes past the end", n)
			}
			o += copy(dst[o:], src[i:i+n])
			i += n
		case h != -128:
			if i >= len(src) {
				return o, errors.New("replicate run without its byte")
			}
			n := 1 - int(h)
			b := src[i]
			i++
			for end := min(o+n, len(dst)); o < end; o++ {
				dst[o] = b
			}
		}
	}
	return o, nil
}
