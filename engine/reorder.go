package engine

// ReorderBlocks returns a copy of a size×size gray image whose patch×patch
// blocks are rotated by one in raster order: block k gets the pixels of
// block k−1, block 0 those of the last block.
//
// Why: the llama.cpp vendored here appends the class token after the patches
// while its position table and output selection assume it comes first
// (llama.cpp issue #25814). cxrview's converter swaps position rows 0 and N,
// and this rotation makes every patch meet its own position embedding; the
// language model then sees patches 0…N−2 in their places and the projected
// class token in the last slot, instead of the bottom-right patch (see
// docs/model.md).
func ReorderBlocks(pix []byte, size, patch int) []byte {
	out := make([]byte, len(pix))
	grid := size / patch
	n := grid * grid
	for k := 0; k < n; k++ {
		src := (k + n - 1) % n
		sy, sx := src/grid*patch, src%grid*patch
		dy, dx := k/grid*patch, k%grid*patch
		for r := 0; r < patch; r++ {
			copy(out[(dy+r)*size+dx:(dy+r)*size+dx+patch], pix[(sy+r)*size+sx:(sy+r)*size+sx+patch])
		}
	}
	return out
}
