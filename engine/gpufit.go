package engine

// GPU memory the runner leaves free besides the layers: llama.cpp's compute
// buffers for a 512-token batch, the CUDA context and fragmentation.
const gpuReserve = 768 << 20

// FitGPULayers returns how many layers of the language model to offload to
// a GPU with free bytes available, for a context of nCtx tokens. Layers are
// counted from the last one backwards, as llama.cpp offloads them; when all
// repeating layers fit and the output layer does too, the result is
// Layers+1, which offloads it as well. visionOnGPU reserves room for the
// projector.
func FitGPULayers(in Inspection, nCtx int, free uint64, visionOnGPU bool) int {
	budget := int64(free) - gpuReserve
	if visionOnGPU {
		budget -= int64(in.VisionBytes)
	}
	kvPerLayer := int64(0)
	if in.Layers > 0 {
		kvPerLayer = int64(in.KVBytesPerToken()) / int64(in.Layers) * int64(nCtx)
	}
	n := 0
	for i := len(in.LayerBytes) - 1; i >= 0; i-- {
		need := int64(in.LayerBytes[i]) + kvPerLayer
		if need > budget {
			return n
		}
		budget -= need
		n++
	}
	if int64(in.OutputBytes) <= budget {
		n++
	}
	return n
}
