package engine

import (
	"bufio"
	"encoding/binary"
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
	if v, ok := hdr.KV[keyAddBOS]; ok && v.Type != gguf.TypeBool {
		return fmt.Errorf("%s: %s has GGUF type %d, not bool", src, keyAddBOS, v.Type)
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
	if err := writeWithoutAddBOS(tmp, in, hdr); err != nil {
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

func writeWithoutAddBOS(out io.Writer, in *os.File, hdr *gguf.File) error {
	bw := bufio.NewWriterSize(out, 1<<20)
	if v, ok := hdr.KV[keyAddBOS]; ok {
		// The flag is there: copy everything, with its one byte cleared.
		if _, err := io.Copy(bw, io.NewSectionReader(in, 0, v.Offset)); err != nil {
			return err
		}
		if err := bw.WriteByte(0); err != nil {
			return err
		}
		if _, err := io.Copy(bw, io.NewSectionReader(in, v.Offset+1, hdr.Size-v.Offset-1)); err != nil {
			return err
		}
		return bw.Flush()
	}
	// The flag is absent: add it after the other keys. Tensor offsets count
	// from the start of the data section, so only the padding before it
	// changes.
	head := make([]byte, hdr.TableEnd)
	if _, err := in.ReadAt(head, 0); err != nil {
		return err
	}
	nKV := binary.LittleEndian.Uint64(head[gguf.KVCountOffset:])
	binary.LittleEndian.PutUint64(head[gguf.KVCountOffset:], nKV+1)
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
	newEnd := hdr.TableEnd + int64(len(kv))
	pad := (align - newEnd%align) % align
	for _, b := range [][]byte{head[:hdr.TableStart], kv, head[hdr.TableStart:], make([]byte, pad)} {
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if _, err := io.Copy(bw, io.NewSectionReader(in, hdr.DataOffset, hdr.Size-hdr.DataOffset)); err != nil {
		return err
	}
	return bw.Flush()
}
