package imaging

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Sniff reports the format of the file at path from its first bytes,
// without decoding it; ok is false for files that are not images cxrview
// reads.
func Sniff(path string) (f Format, ok bool, err error) {
	file, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer file.Close()
	head := make([]byte, 136)
	n, err := io.ReadFull(file, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	f, ok = detect(head[:n])
	return f, ok, nil
}

// FindImages expands paths into image files: files are kept as given;
// folders are searched (recursively, as datasets nest studies in folders)
// for files whose content is DICOM, PNG or JPEG, in lexical order. Hidden
// files and folders are skipped.
func FindImages(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if name := d.Name(); path != p && len(name) > 1 && name[0] == '.' {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			if _, ok, err := Sniff(path); err == nil && ok {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no DICOM, PNG or JPEG images in this folder", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
