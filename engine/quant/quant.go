// Package quant encodes float32 tensors into the GGUF tensor types cxrview
// writes (F32, F16, Q8_0, Q4_K, Q6_K) with ggml's own quantizer, and decides
// per tensor which type a file type uses, following llama.cpp's Q4_K_M mix.
package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	fsggml "github.com/ollama/ollama/fs/ggml"
	"github.com/ollama/ollama/ml/backend/ggml"
	"github.com/x448/float16"
)

// FileType is the precision of a whole model file.
type FileType string

const (
	F16    FileType = "f16"
	Q8_0   FileType = "q8_0"
	Q4_K_M FileType = "q4_k_m"
)

// ParseFileType accepts f16, q8_0 and q4_k_m (any case).
func ParseFileType(s string) (FileType, error) {
	switch FileType(strings.ToLower(s)) {
	case F16:
		return F16, nil
	case Q8_0:
		return Q8_0, nil
	case Q4_K_M:
		return Q4_K_M, nil
	}
	return "", fmt.Errorf("unknown type %q (want f16, q8_0 or q4_k_m)", s)
}

// GGUF is the value of general.file_type, as llama.cpp numbers them.
func (f FileType) GGUF() uint32 {
	switch f {
	case Q8_0:
		return 7
	case Q4_K_M:
		return 15
	}
	return 1
}

// Tensor types, as ggml numbers them.
const (
	TypeF32  = uint32(fsggml.TensorTypeF32)
	TypeF16  = uint32(fsggml.TensorTypeF16)
	TypeQ8_0 = uint32(fsggml.TensorTypeQ8_0)
	TypeQ4_K = uint32(fsggml.TensorTypeQ4_K)
	TypeQ6_K = uint32(fsggml.TensorTypeQ6_K)
)

// TextType chooses the type of one tensor of a LLaMA language model.
//
// One-dimensional tensors (norms) stay F32. For Q4_K_M, as llama.cpp's
// quantizer does: the output head is Q6_K; attn_v and ffn_down are Q6_K in
// the first and last eighth of the layers and in every third layer between,
// Q4_K elsewhere; everything else Q4_K. Rows that do not divide into the
// type's blocks fall back to a type whose blocks fit (Q8_0, then F16).
func TextType(name string, shape []uint64, layer, nLayers int, ft FileType) uint32 {
	if len(shape) < 2 {
		return TypeF32
	}
	var t uint32
	switch ft {
	case Q8_0:
		t = TypeQ8_0
	case Q4_K_M:
		t = TypeQ4_K
		switch {
		case name == "output.weight":
			t = TypeQ6_K
		case strings.HasSuffix(name, ".attn_v.weight"), strings.HasSuffix(name, ".ffn_down.weight"):
			if moreBits(layer, nLayers) {
				t = TypeQ6_K
			}
		}
	default:
		t = TypeF16
	}
	return fit(t, shape[0])
}

// moreBits is llama.cpp's use_more_bits: the layers whose errors hurt most.
func moreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// fit returns t if rows of length n divide into its blocks, else the next
// wider type that does.
func fit(t uint32, n uint64) uint32 {
	switch t {
	case TypeQ4_K, TypeQ6_K:
		if n%256 == 0 {
			return t
		}
		t = TypeQ8_0
		fallthrough
	case TypeQ8_0:
		if n%32 == 0 {
			return t
		}
		return TypeF16
	}
	return t
}

// Encode converts values (row-major, shape[0] per row) to type t.
func Encode(values []float32, shape []uint64, t uint32) ([]byte, error) {
	switch t {
	case TypeF32:
		out := make([]byte, 4*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case TypeF16:
		out := make([]byte, 2*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint16(out[2*i:], float16.Fromfloat32(v).Bits())
		}
		return out, nil
	case TypeQ8_0, TypeQ4_K, TypeQ6_K:
		if len(shape) == 0 || shape[0]%blockLen(t) != 0 {
			return nil, fmt.Errorf("rows of %v cannot be quantized to %s", shape, fsggml.TensorType(t))
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("empty tensor")
		}
		return ggml.Quantize(fsggml.TensorType(t), values, shape), nil
	}
	return nil, fmt.Errorf("cannot write tensor type %d", t)
}

// Decode converts data of type t back to float32 (for checks and tests).
func Decode(data []byte, t uint32, n uint64) ([]float32, error) {
	switch t {
	case TypeF32:
		if uint64(len(data)) != 4*n {
			return nil, fmt.Errorf("F32 data of %d bytes for %d values", len(data), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return out, nil
	case TypeF16, TypeQ8_0, TypeQ4_K, TypeQ6_K:
		if n == 0 || len(data) == 0 {
			return nil, fmt.Errorf("empty tensor")
		}
		return ggml.ConvertToF32(data, t, n), nil
	}
	return nil, fmt.Errorf("cannot read tensor type %d", t)
}

func blockLen(t uint32) uint64 {
	if t == TypeQ8_0 {
		return 32
	}
	return 256
}
