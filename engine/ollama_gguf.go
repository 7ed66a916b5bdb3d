package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cxrview/engine/gguf"
)

// keyAddBOS is the vocabulary flag that makes llama.cpp put a BOS token in
// front of a tokenized text when it is asked to add special tokens.
const keyAddBOS = "tokenizer.ggml.add_bos_token"

// CopyWithoutAddBOS copies the language model GGUF src to dst with the
// vocabulary's add_bos_token flag set to false; the weights and every other
// key stay as they are.
//
// Why: Ollama's runner (v0.17.4, runner/llamarunner) tokenizes the text
// before the image with BOS added and then asks mtmd for the image, which
// returns one more BOS chunk in front of the image embeddings whenever the
// vocabulary adds BOS. cxrview's embedded runner, like the reference code,
// has no BOS before the image. With the flag off neither adds one, and the
// Ollama client writes the BOS tokens the template needs as literal "<s>"
// (BOSPrefix), so that both engines evaluate the same sequence.
//
// When the flag is stored, only its byte changes and dst has src's size;
// when it is absent (llama.cpp then defaults to true for LLaMA vocabularies)
// the key is added and the header re-padded; tensor data is copied as is.
func CopyWithoutAddBOS(dst, src string) error {
	hdr, err := gguf.Open(src)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	loc, err := locateAddBOS(in, hdr)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := writeWithoutAddBOS(tmp, in, hdr, loc); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return nil
}

// bosLocation says where a GGUF header keeps its add_bos_token flag.
type bosLocation struct {
	valueOff int64 // offset of the flag's byte; 0 when the key is absent
	kvEnd    int64 // end of the key-value section
	infoEnd  int64 // end of the tensor table
	nKVOff   int64 // offset of the key count
}

// locateAddBOS walks the header of a file gguf.Open has already accepted
// (so every length in it is known to fit) and records the offsets that
// matter for the flag.
func locateAddBOS(r io.ReaderAt, hdr *gguf.File) (bosLocation, error) {
	var loc bosLocation
	w := &walker{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, hdr.Size), 1<<16)}
	w.skip(8) // magic, version
	nTensors := w.u64()
	loc.nKVOff = w.off
	nKV := w.u64()
	for i := uint64(0); i < nKV && w.err == nil; i++ {
		key := w.str()
		typ := w.u32()
		if key == keyAddBOS {
			if typ != gguf.TypeBool {
				return loc, fmt.Errorf("%s has GGUF type %d, not bool", keyAddBOS, typ)
			}
			loc.valueOff = w.off
		}
		w.value(typ)
	}
	loc.kvEnd = w.off
	for i := uint64(0); i < nTensors && w.err == nil; i++ {
		w.str()
		w.skip(8 * uint64(w.u32()))
		w.skip(4 + 8)
	}
	loc.infoEnd = w.off
	if w.err != nil {
		return loc, fmt.Errorf("read the header: %w", w.err)
	}
	return loc, nil
}

func writeWithoutAddBOS(out io.Writer, in *os.File, hdr *gguf.File, loc bosLocation) error {
	bw := bufio.NewWriterSize(out, 1<<20)
	if loc.valueOff > 0 {
		// The flag is there: copy everything, with its one byte cleared.
		if _, err := io.Copy(bw, io.NewSectionReader(in, 0, loc.valueOff)); err != nil {
			return err
		}
		if err := bw.WriteByte(0); err != nil {
			return err
		}
		if _, err := io.Copy(bw, io.NewSectionReader(in, loc.valueOff+1, hdr.Size-loc.valueOff-1)); err != nil {
			return err
		}
		return bw.Flush()
	}
	// The flag is absent: add it after the other keys. Tensor offsets count
	// from the start of the data section, so only the padding before it
	// changes.
	head := make([]byte, loc.infoEnd)
	if _, err := in.ReadAt(head, 0); err != nil {
		return err
	}
	nKV := binary.LittleEndian.Uint64(head[loc.nKVOff:])
	binary.LittleEndian.PutUint64(head[loc.nKVOff:], nKV+1)
	var kv []byte
	kv = binary.LittleEndian.AppendUint64(kv, uint64(len(keyAddBOS)))
	kv = append(kv, keyAddBOS...)
	kv = binary.LittleEndian.AppendUint32(kv, gguf.TypeBool)
	kv = append(kv, 0)
	align := int64(32)
	if v, ok := hdr.KV["general.alignment"]; ok {
		if a, ok := v.Uint(); ok && a > 0 {
			align = int64(a)
		}
	}
	newInfoEnd := loc.infoEnd + int64(len(kv))
	pad := (align - newInfoEnd%align) % align
	for _, b := range [][]byte{head[:loc.kvEnd], kv, head[loc.kvEnd:], make([]byte, pad)} {
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if _, err := io.Copy(bw, io.NewSectionReader(in, hdr.DataOffset, hdr.Size-hdr.DataOffset)); err != nil {
		return err
	}
	return bw.Flush()
}

// walker reads a GGUF header only to know where things are.
type walker struct {
	r   *bufio.Reader
	off int64
	err error
	buf [8]byte
}

func (w *walker) read(n int) []byte {
	if w.err != nil {
		return w.buf[:n]
	}
	if _, err := io.ReadFull(w.r, w.buf[:n]); err != nil {
		w.err = err
	}
	w.off += int64(n)
	return w.buf[:n]
}

func (w *walker) u32() uint32 { return binary.LittleEndian.Uint32(w.read(4)) }
func (w *walker) u64() uint64 { return binary.LittleEndian.Uint64(w.read(8)) }

func (w *walker) skip(n uint64) {
	if w.err != nil {
		return
	}
	m, err := w.r.Discard(int(n))
	w.off += int64(m)
	if err != nil {
		w.err = err
	}
}

func (w *walker) str() string {
	n := w.u64()
	if w.err != nil || n > 1<<16 {
		// Keys and tensor names are short; longer strings are only skipped.
		w.skip(n)
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(w.r, b); err != nil {
		w.err = err
	}
	w.off += int64(n)
	return string(b)
}

var walkerSizes = map[uint32]uint64{
	gguf.TypeUint8: 1, gguf.TypeInt8: 1, gguf.TypeBool: 1, gguf.TypeUint16: 2, gguf.TypeInt16: 2,
	gguf.TypeUint32: 4, gguf.TypeInt32: 4, gguf.TypeFloat32: 4, gguf.TypeUint64: 8, gguf.TypeInt64: 8, gguf.TypeFloat64: 8,
}

func (w *walker) value(typ uint32) {
	switch typ {
	case gguf.TypeString:
		w.skip(w.u64())
	case gguf.TypeArray:
		elem := w.u32()
		n := w.u64()
		if elem == gguf.TypeString {
			for i := uint64(0); i < n && w.err == nil; i++ {
				w.skip(w.u64())
			}
			return
		}
		size, ok := walkerSizes[elem]
		if !ok && w.err == nil {
			w.err = errors.New("unknown array element type")
		}
		w.skip(n * size)
	default:
		size, ok := walkerSizes[typ]
		if !ok && w.err == nil {
			w.err = errors.New("unknown value type")
		}
		w.skip(size)
	}
}
