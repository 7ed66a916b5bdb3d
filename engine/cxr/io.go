package cxr

import (
	"io"
	"path/filepath"
)

// bytesWriter is tensor data already encoded in memory.
type bytesWriter []byte

func (b bytesWriter) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}

func dirOf(path string) string { return filepath.Dir(path) }
