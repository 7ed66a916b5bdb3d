package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/x448/float16"
)

// The safetensors format: an 8-byte little-endian header length, a JSON
// header mapping tensor names to dtype, shape and byte offsets into the data
// that follows, then the data. The reader below never maps the file: it
// reads the header (bounded) and then exactly the rows it is asked for.

// maxHeader bounds a shard's JSON header; the format itself caps it at
// 100 MB, and a real shard's is a few tens of kilobytes.
const maxHeader = 100 << 20

// Index and single-file names of a Hugging Face checkpoint.
const (
	indexName  = "model.safetensors.index.json"
	singleName = "model.safetensors"
)

// stTensor is one tensor of a checkpoint.
type stTensor struct {
	Name  string
	DType string // BF16, F16 or F32
	Shape []int
	file  *os.File
	path  string
	start int64 // absolute offset of the first byte in the file
	size  int64
}

func (t *stTensor) elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// checkpoint is the set of safetensors shards of one model.
type checkpoint struct {
	dir     string
	tensors map[string]*stTensor
	files   []*os.File
	bytes   int64 // tensor data in all shards
}

// dtypeSize gives the bytes per value of the dtypes the converter reads.
var dtypeSize = map[string]int{"BF16": 2, "F16": 2, "F32": 4}

// openCheckpoint reads the shard list from model.safetensors.index.json (or
// takes model.safetensors alone) and the header of every shard, and checks
// that they agree; no tensor data is read.
func openCheckpoint(dir string) (*checkpoint, error) {
	c := &checkpoint{dir: dir, tensors: map[string]*stTensor{}}
	var weightMap map[string]string
	index := filepath.Join(dir, indexName)
	b, err := readSmall(index, 64<<20)
	switch {
	case err == nil:
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%s: %w", index, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("%s lists no tensors (no weight_map)", index)
		}
		weightMap = idx.WeightMap
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(filepath.Join(dir, singleName)); serr != nil {
			return nil, fmt.Errorf("%s has neither %s nor %s: is it a copy of the Hugging Face repository ECOFRI/CXR-LLAVA-v2?", dir, indexName, singleName)
		}
	default:
		return nil, err
	}
	var shards []string
	if weightMap == nil {
		shards = []string{singleName}
	} else {
		seen := map[string]bool{}
		for name, file := range weightMap {
			if file == "" || file != filepath.Base(file) || strings.ContainsAny(file, `/\`) || file == ".." {
				return nil, fmt.Errorf("%s: tensor %s is in shard %q, which is not a file name in the same folder", index, name, file)
			}
			if !seen[file] {
				seen[file] = true
				shards = append(shards, file)
			}
		}
		sort.Strings(shards)
		var missing []string
		for _, s := range shards {
			if _, err := os.Stat(filepath.Join(dir, s)); errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: shard %s (listed in %s) is missing: the download is incomplete", dir, strings.Join(missing, ", "), indexName)
		}
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	for _, s := range shards {
		path := filepath.Join(dir, s)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, f)
		ts, err := readHeader(f, path)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if prev, dup := c.tensors[t.Name]; dup {
				return nil, fmt.Errorf("tensor %s is in both %s and %s", t.Name, prev.path, path)
			}
			if weightMap != nil && weightMap[t.Name] != s {
				if weightMap[t.Name] == "" {
					return nil, fmt.Errorf("%s holds tensor %s, which %s does not list", path, t.Name, indexName)
				}
				return nil, fmt.Errorf("%s holds tensor %s, which %s puts in %s", path, t.Name, indexName, weightMap[t.Name])
			}
			c.tensors[t.Name] = t
			c.bytes += t.size
		}
	}
	for name, file := range weightMap {
		if _, found := c.tensors[name]; !found {
			return nil, fmt.Errorf("tensor %s, listed in %s, is not in %s: the shard is damaged or from another download", name, indexName, filepath.Join(dir, file))
		}
	}
	ok = true
	return c, nil
}

// Close closes the shards.
func (c *checkpoint) Close() {
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
}

// lfsPointer starts a Git LFS pointer file: what a clone without git-lfs
// leaves in place of the weights.
var lfsPointer = []byte("version https://git-lfs")

// readHeader parses and checks one shard's header.
func readHeader(f *os.File, path string) ([]*stTensor, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var head [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("%s is not a safetensors file (%d bytes)", path, size)
	}
	if bytes.HasPrefix(lfsPointer, head[:]) {
		return nil, fmt.Errorf("%s is a Git LFS pointer, not the weights: fetch them with `git lfs pull` (or download with huggingface-cli)", path)
	}
	n := binary.LittleEndian.Uint64(head[:])
	if n == 0 || n > maxHeader || int64(n) > size-8 {
		return nil, fmt.Errorf("%s is not a safetensors file or is truncated (header of %d bytes in a file of %d)", path, n, size)
	}
	hdr := make([]byte, n)
	if _, err := f.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("%s: the safetensors header is not valid JSON: %w", path, err)
	}
	dataStart := int64(8 + n)
	dataSize := size - dataStart
	var ts []*stTensor
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int   `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		t := &stTensor{Name: name, DType: e.DType, Shape: e.Shape, file: f, path: path}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] {
			return nil, fmt.Errorf("%s: tensor %s has invalid data offsets %v", path, name, e.Offsets)
		}
		if e.Offsets[1] > dataSize {
			return nil, fmt.Errorf("%s is truncated: tensor %s ends at byte %d of %d", path, name, e.Offsets[1], dataSize)
		}
		t.start, t.size = dataStart+e.Offsets[0], e.Offsets[1]-e.Offsets[0]
		count := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt64/int64(d)/8) {
				return nil, fmt.Errorf("%s: tensor %s has invalid shape %v", path, name, e.Shape)
			}
			count *= int64(d)
		}
		// Sizes are checked only for the dtypes we read; others are
		// refused when (and if) the converter needs the tensor.
		if es, ok := dtypeSize[e.DType]; ok && count*int64(es) != t.size {
			return nil, fmt.Errorf("%s: tensor %s of shape %v and type %s should take %d bytes, not %d", path, name, e.Shape, e.DType, count*int64(es), t.size)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// readSmall reads a file that must be at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not the file expected here", path, limit)
	}
	return b, nil
}

// readRows reads rows [row, row+count) of a tensor of rows of cols values
// as float32 into dst (len count·cols), using raw as scratch space.
func (t *stTensor) readRows(row, count, cols int, dst []float32, raw []byte) ([]byte, error) {
	es := dtypeSize[t.DType]
	if es == 0 {
		return raw, fmt.Errorf("tensor %s has type %s; the converter reads BF16, F16 and F32", t.Name, t.DType)
	}
	n := count * cols
	if cap(raw) < n*es {
		raw = make([]byte, n*es)
	}
	raw = raw[:n*es]
	off := t.start + int64(row)*int64(cols)*int64(es)
	if _, err := t.file.ReadAt(raw, off); err != nil {
		return raw, fmt.Errorf("read tensor %s from %s: %w", t.Name, t.path, err)
	}
	switch t.DType {
	case "BF16":
		for i := range dst[:n] {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case "F16":
		for i := range dst[:n] {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	case "F32":
		for i := range dst[:n] {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	return raw, nil
}

// readAll reads a whole (small) tensor as float32.
func (t *stTensor) readAll() ([]float32, error) {
	n := t.elements()
	dst := make([]float32, n)
	_, err := t.readRows(0, 1, n, dst, nil)
	return dst, err
}
