package imaging

import (
	"errors"
	"io"
)

// looksLikeDICOM reports whether head (the first 136 bytes) starts a DICOM
// Part 10 file or a bare dataset.
func looksLikeDICOM(head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	_, ok := sniffDataset(head)
	return ok
}

// sniffDataset guesses the encoding of a dataset without preamble.
func sniffDataset(head []byte) (encoding, bool) {
	return encoding{}, false
}

type encoding struct {
	bigEndian, implicit bool
}

func decodeDICOM(r io.ReaderAt, size int64, o Options) (*Image, error) {
	return nil, errors.New("DICOM decoding is being written")
}
