// Package gguf reads the header of GGUF model files — metadata and tensor
// table — with every length checked against the file size, so that a corrupt
// or hostile file yields an error instead of a huge allocation or a crash.
// It never reads tensor data.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Value types as numbered by the GGUF specification.
const (
	TypeUint8   uint32 = 0
	TypeInt8    uint32 = 1
	TypeUint16  uint32 = 2
	TypeInt16   uint32 = 3
	TypeUint32  uint32 = 4
	TypeInt32   uint32 = 5
	TypeFloat32 uint32 = 6
	TypeBool    uint32 = 7
	TypeString  uint32 = 8
	TypeArray   uint32 = 9
	TypeUint64  uint32 = 10
	TypeInt64   uint32 = 11
	TypeFloat64 uint32 = 12
)

// maxKeep is the largest array whose values are kept in memory; longer
// arrays (vocabularies of large models) are skipped and only counted.
const maxKeep = 1 << 18

// ErrNotGGUF is returned for files that do not start with the GGUF magic.
var ErrNotGGUF = errors.New("not a GGUF file")

// Value is one metadata value. For arrays, Elem is the element type, Len the
// element count, and Data holds a typed slice ([]uint32, []string, ...) or nil
// when the array was too long to keep.
type Value struct {
	Type uint32
	Elem uint32
	Len  uint64
	Data any
	// Offset is where the value is encoded in the file, after its type:
	// a scalar's bytes, a string's length, an array's element type. Tools
	// that patch one value in place (engine.CopyWithoutAddBOS) use it.
	Offset int64
}

// Tensor describes one tensor of the file; Offset is relative to the start
// of the data section.
type Tensor struct {
	Name   string
	Shape  []uint64 // ggml order: Shape[0] is the row length
	Type   uint32   // ggml type
	Offset uint64
	Bytes  uint64
}

// Elements is the number of values in the tensor.
func (t Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed GGUF header.
type File struct {
	Version    uint32
	KV         map[string]Value
	Tensors    []Tensor
	TableStart int64 // end of the metadata, start of the tensor table
	TableEnd   int64 // end of the tensor table, before the alignment padding
	DataOffset int64 // start of the tensor data, after alignment
	Size       int64 // file size
}

// KVCountOffset is where the header stores its number of metadata keys:
// after the magic, the version and the tensor count.
const KVCountOffset = 16

// Open reads the header of the GGUF file at path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a GGUF file", path)
	}
	g, err := Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Read parses a GGUF header from r, which holds size bytes.
func Read(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	var magic [4]byte
	if err := d.read(magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return nil, ErrNotGGUF
	}
	f := &File{KV: map[string]Value{}, Size: size}
	f.Version = d.u32()
	if d.err == nil && (f.Version < 2 || f.Version > 3) {
		return nil, fmt.Errorf("unsupported GGUF version %d", f.Version)
	}
	nTensors, nKV := d.u64(), d.u64()
	if d.err != nil {
		return nil, d.fail()
	}
	// Each key-value pair needs at least 12 bytes and each tensor entry 24:
	// counts beyond that are corruption, caught before any allocation.
	if nKV > uint64(size)/12 || nTensors > uint64(size)/24 {
		return nil, fmt.Errorf("corrupt header: %d keys and %d tensors cannot fit in %d bytes", nKV, nTensors, size)
	}
	for i := uint64(0); i < nKV && d.err == nil; i++ {
		key := d.str()
		typ := d.u32()
		off := d.off
		v := d.value(typ)
		v.Offset = off
		if d.err != nil {
			return nil, fmt.Errorf("metadata key %d (%q): %w", i, key, d.fail())
		}
		f.KV[key] = v
	}
	f.TableStart = d.off
	f.Tensors = make([]Tensor, 0, nTensors)
	for i := uint64(0); i < nTensors && d.err == nil; i++ {
		t := Tensor{Name: d.str()}
		nd := d.u32()
		if nd > 4 {
			return nil, fmt.Errorf("tensor %q: %d dimensions (ggml has at most 4)", t.Name, nd)
		}
		for j := uint32(0); j < nd; j++ {
			t.Shape = append(t.Shape, d.u64())
		}
		t.Type = d.u32()
		t.Offset = d.u64()
		if d.err != nil {
			return nil, fmt.Errorf("tensor table entry %d: %w", i, d.fail())
		}
		n, err := tensorBytes(t)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		t.Bytes = n
		f.Tensors = append(f.Tensors, t)
	}
	if d.err != nil {
		return nil, d.fail()
	}
	f.TableEnd = d.off
	align := int64(32)
	if v, ok := f.KV["general.alignment"]; ok {
		a, ok := v.Uint()
		if !ok || a == 0 || a > 1<<20 || a&(a-1) != 0 {
			return nil, fmt.Errorf("invalid general.alignment %v", v.Data)
		}
		align = int64(a)
	}
	f.DataOffset = (d.off + align - 1) / align * align
	// Every term is checked against what is left, so that no sum can wrap.
	room := uint64(0)
	if size > f.DataOffset {
		room = uint64(size - f.DataOffset)
	}
	for _, t := range f.Tensors {
		if t.Offset > room || t.Bytes > room-t.Offset {
			return nil, fmt.Errorf("truncated: tensor %q (%d bytes at data offset %d) runs past the end of the file (%d bytes of data)", t.Name, t.Bytes, t.Offset, room)
		}
	}
	return f, nil
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Architecture is general.architecture.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.KV[key]
	if !ok || v.Type != TypeString {
		return "", false
	}
	return v.Data.(string), true
}

// Uint returns an unsigned or non-negative integer value of any width.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.KV[key]
	if !ok {
		return 0, false
	}
	return v.Uint()
}

// Float returns a floating-point value.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.KV[key]
	if !ok {
		return 0, false
	}
	switch x := v.Data.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Bool returns a boolean value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.KV[key]
	if !ok || v.Type != TypeBool {
		return false, false
	}
	return v.Data.(bool), true
}

// Strings returns a string array (nil if absent or too long to keep).
func (f *File) Strings(key string) []string {
	v := f.KV[key]
	s, _ := v.Data.([]string)
	return s
}

// Keys returns the metadata keys in sorted order.
func (f *File) Keys() []string {
	keys := make([]string, 0, len(f.KV))
	for k := range f.KV {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Uint converts integer values to uint64; negative values are not accepted.
func (v Value) Uint() (uint64, bool) {
	switch x := v.Data.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

type decoder struct {
	r    *bufio.Reader
	off  int64
	size int64
	err  error
	buf  [8]byte
}

func (d *decoder) fail() error {
	if errors.Is(d.err, io.EOF) || errors.Is(d.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated file (header ends after %d of %d bytes)", d.off, d.size)
	}
	return d.err
}

func (d *decoder) read(p []byte) error {
	if d.err != nil {
		return d.err
	}
	n, err := io.ReadFull(d.r, p)
	d.off += int64(n)
	if err != nil {
		d.err = err
	}
	return d.err
}

func (d *decoder) u32() uint32 {
	if d.read(d.buf[:4]) != nil {
		return 0
	}
	return binary.LittleEndian.Uint32(d.buf[:4])
}

func (d *decoder) u64() uint64 {
	if d.read(d.buf[:8]) != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(d.buf[:8])
}

func (d *decoder) remaining() uint64 {
	return uint64(d.size - d.off)
}

func (d *decoder) str() string {
	n := d.u64()
	if d.err != nil {
		return ""
	}
	if n > d.remaining() {
		d.err = fmt.Errorf("corrupt: string of %d bytes at offset %d runs past the end of the file", n, d.off)
		return ""
	}
	b := make([]byte, n)
	d.read(b)
	return string(b)
}

func (d *decoder) skip(n uint64) {
	if d.err != nil {
		return
	}
	if n > d.remaining() {
		d.err = io.ErrUnexpectedEOF
		return
	}
	m, err := d.r.Discard(int(n))
	d.off += int64(m)
	if err != nil {
		d.err = err
	}
}

var scalarSize = map[uint32]uint64{
	TypeUint8: 1, TypeInt8: 1, TypeBool: 1, TypeUint16: 2, TypeInt16: 2,
	TypeUint32: 4, TypeInt32: 4, TypeFloat32: 4, TypeUint64: 8, TypeInt64: 8, TypeFloat64: 8,
}

func (d *decoder) scalar(typ uint32) any {
	n, ok := scalarSize[typ]
	if !ok {
		d.err = fmt.Errorf("unknown value type %d", typ)
		return nil
	}
	if d.read(d.buf[:n]) != nil {
		return nil
	}
	b := d.buf[:n]
	switch typ {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return binary.LittleEndian.Uint16(b)
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b))
	case TypeUint32:
		return binary.LittleEndian.Uint32(b)
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeUint64:
		return binary.LittleEndian.Uint64(b)
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b))
	default: // TypeFloat64
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
}

func (d *decoder) value(typ uint32) Value {
	switch typ {
	case TypeString:
		return Value{Type: typ, Data: d.str()}
	case TypeArray:
		return d.array()
	}
	return Value{Type: typ, Data: d.scalar(typ)}
}

func (d *decoder) array() Value {
	elem := d.u32()
	n := d.u64()
	v := Value{Type: TypeArray, Elem: elem, Len: n}
	if d.err != nil {
		return v
	}
	if elem == TypeArray {
		d.err = errors.New("nested arrays are not supported")
		return v
	}
	minSize := uint64(8) // a string is at least its length field
	if elem != TypeString {
		s, ok := scalarSize[elem]
		if !ok {
			d.err = fmt.Errorf("unknown array element type %d", elem)
			return v
		}
		minSize = s
	}
	if n > d.remaining()/minSize {
		d.err = fmt.Errorf("corrupt: array of %d elements at offset %d cannot fit in the file", n, d.off)
		return v
	}
	keep := n <= maxKeep
	switch elem {
	case TypeString:
		var out []string
		if keep {
			out = make([]string, 0, n)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			if keep {
				out = append(out, d.str())
			} else {
				d.skip(d.u64())
			}
		}
		if keep {
			v.Data = out
		}
	case TypeUint32, TypeInt32, TypeFloat32, TypeUint64, TypeInt64, TypeFloat64, TypeUint8, TypeInt8, TypeBool, TypeUint16, TypeInt16:
		if !keep {
			d.skip(n * minSize)
			return v
		}
		vals := make([]any, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			vals = append(vals, d.scalar(elem))
		}
		v.Data = typedSlice(elem, vals)
	}
	return v
}

// typedSlice turns decoded scalars into the slice type callers expect.
func typedSlice(elem uint32, vals []any) any {
	switch elem {
	case TypeUint32:
		return collect[uint32](vals)
	case TypeInt32:
		return collect[int32](vals)
	case TypeFloat32:
		return collect[float32](vals)
	case TypeUint64:
		return collect[uint64](vals)
	case TypeInt64:
		return collect[int64](vals)
	case TypeFloat64:
		return collect[float64](vals)
	case TypeBool:
		return collect[bool](vals)
	case TypeUint8:
		return collect[uint8](vals)
	case TypeInt8:
		return collect[int8](vals)
	case TypeUint16:
		return collect[uint16](vals)
	default:
		return collect[int16](vals)
	}
}

func collect[T any](vals []any) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i], _ = v.(T)
	}
	return out
}

// ggml tensor types: elements per block and bytes per block.
var blockLayout = map[uint32][2]uint64{
	0: {1, 4}, 1: {1, 2}, // F32, F16
	2: {32, 18}, 3: {32, 20}, 6: {32, 22}, 7: {32, 24}, 8: {32, 34}, 9: {32, 36}, // Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1
	10: {256, 84}, 11: {256, 110}, 12: {256, 144}, 13: {256, 176}, 14: {256, 210}, 15: {256, 292}, // Q2_K..Q8_K
	16: {256, 66}, 17: {256, 74}, 18: {256, 98}, 19: {256, 50}, 20: {32, 18}, 21: {256, 110}, 22: {256, 82}, 23: {256, 136}, // IQ*
	24: {1, 1}, 25: {1, 2}, 26: {1, 4}, 27: {1, 8}, 28: {1, 8}, 29: {256, 56}, 30: {1, 2}, // I8 I16 I32 I64 F64 IQ1_M BF16
	34: {256, 54}, 35: {256, 66}, 39: {32, 17}, // TQ1_0 TQ2_0 MXFP4
}

// TypeName returns ggml's name for a tensor type.
func TypeName(t uint32) string {
	names := map[uint32]string{0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
		10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 24: "I8", 25: "I16", 26: "I32",
		27: "I64", 28: "F64", 30: "BF16", 39: "MXFP4"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", t)
}

func tensorBytes(t Tensor) (uint64, error) {
	bl, ok := blockLayout[t.Type]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", t.Type)
	}
	if len(t.Shape) == 0 {
		return 0, errors.New("no dimensions")
	}
	if t.Shape[0]%bl[0] != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", t.Shape[0], TypeName(t.Type), bl[0])
	}
	n := uint64(1)
	for _, dim := range t.Shape {
		if dim == 0 || n > math.MaxUint64/dim {
			return 0, fmt.Errorf("invalid shape %v", t.Shape)
		}
		n *= dim
	}
	if blocks := n / bl[0]; blocks > math.MaxUint64/bl[1] {
		return 0, fmt.Errorf("invalid shape %v: its size does not fit in 64 bits", t.Shape)
	}
	return n / bl[0] * bl[1], nil
}
