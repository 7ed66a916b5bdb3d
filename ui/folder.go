package ui

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// maxFolderFiles bounds how many entries of a folder are examined, so that
// opening a huge directory by mistake cannot hang the viewer.
const maxFolderFiles = 20000

// listFolder returns the image files of dir (not of its subfolders) in
// natural name order ("case2" before "case10"), and how many files it
// looked at. Files are recognised by content, as imaging.Open does, plus
// the .dcm extension: DICOM files from PACS exports often have no
// extension and no preamble.
func listFolder(dir string) (images []string, files int, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	ents, err := f.ReadDir(maxFolderFiles)
	if err != nil && err != io.EOF {
		return nil, 0, fmt.Errorf("read folder %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		files++
		if looksLikeImage(p) {
			images = append(images, p)
		}
	}
	slices.SortFunc(images, func(a, b string) int { return naturalCompare(filepath.Base(a), filepath.Base(b)) })
	return images, files, nil
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// looksLikeImage sniffs the first bytes of path.
func looksLikeImage(path string) bool {
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".dcm" || ext == ".dicom" {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 132)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, pngMagic), bytes.HasPrefix(head, jpegMagic):
		return true
	case n >= 132 && string(head[128:132]) == "DICM":
		return true
	case n >= 8:
		// No preamble: a dataset starting with group 0002 or 0008 in
		// little endian, as older PACS exports write.
		g := binary.LittleEndian.Uint16(head)
		return (g == 0x0002 || g == 0x0008) && binary.LittleEndian.Uint16(head[2:]) < 0x0100
	}
	return false
}

// naturalCompare orders names with digit runs compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		ra, rb := rune(a[0]), rune(b[0])
		if unicode.IsDigit(ra) && unicode.IsDigit(rb) {
			na, nb := digitRun(a), digitRun(b)
			ta, tb := strings.TrimLeft(a[:na], "0"), strings.TrimLeft(b[:nb], "0")
			if len(ta) != len(tb) {
				return len(ta) - len(tb)
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
			a, b = a[na:], b[nb:]
			continue
		}
		la, lb := unicode.ToLower(ra), unicode.ToLower(rb)
		if la != lb {
			return int(la) - int(lb)
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
