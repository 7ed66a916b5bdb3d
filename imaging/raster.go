package imaging

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"image/png"
	"io"

	"cxrview/imaging/internal/jpeg"
)

// decodeRaster reads a PNG or JPEG. 8- and 16-bit gray stay gray (stored
// values = gray levels); everything else becomes 8-bit RGB.
func decodeRaster(r io.ReaderAt, size int64, f Format) (*Image, error) {
	cfgDecode, decode := png.DecodeConfig, png.Decode
	if f == FormatJPEG {
		cfgDecode, decode = stdjpeg.DecodeConfig, stdjpeg.Decode
	}
	cfg, err := cfgDecode(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, fmt.Errorf("read %s header: %w", f, err)
	}
	// The same bound as for DICOM frames, on samples: the decoders
	// allocate up to 2 bytes a sample (16-bit RGBA PNG: 8 bytes a pixel).
	channels, minBits := rasterSamples(cfg.ColorModel)
	px := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || px*int64(channels) > maxPixels {
		return nil, fmt.Errorf("%s of %d×%d pixels: too large or empty", f, cfg.Width, cfg.Height)
	}
	// Deflate expands at most 1032 times, a JPEG block needs 2 bits: a
	// file far too small for its header's size is refused before the
	// decoder allocates the image.
	if f == FormatPNG && size*1032 < px*int64(minBits)/8 ||
		f == FormatJPEG && size*8*32 < px/2 {
		return nil, fmt.Errorf("%s header says %d×%d pixels but the file has only %d bytes", f, cfg.Width, cfg.Height, size)
	}
	if f == FormatJPEG {
		// Baseline and extended JPEG go through the IJG-exact decoder, so
		// the pixels (and the model's input) are those Pillow's libjpeg
		// gives; progressive and CMYK files fall back to image/jpeg.
		im, err := decodeJPEGFile(r, size)
		if err == nil || !jpeg.IsUnsupported(err) {
			return im, err
		}
	}
	src, err := decode(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", f, err)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	im := &Image{Format: f, Width: w, Height: h, Frames: 1, Samples: 1, Rescale: ModalityLUT{Slope: 1}}
	im.Meta.Photometric = "MONOCHROME2"
	switch s := src.(type) {
	case *image.Gray:
		im.BitsStored = 8
		im.Gray = make([]uint16, w*h)
		for y := range h {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				im.Gray[y*w+x] = uint16(v)
			}
		}
	case *image.Gray16:
		im.BitsStored = 16
		im.Gray = make([]uint16, w*h)
		for y := range h {
			row := s.Pix[y*s.Stride : y*s.Stride+2*w]
			for x := range w {
				im.Gray[y*w+x] = uint16(row[2*x])<<8 | uint16(row[2*x+1])
			}
		}
	default:
		im.Samples = 3
		im.BitsStored = 8
		im.Meta.Photometric = "RGB"
		im.RGB = make([]uint8, 3*w*h)
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				// RGBA() is alpha-premultiplied 16-bit; PIL's convert("L")
				// ignores alpha, so un-premultiply only where alpha < max.
				r, g, bl, a := src.At(x, y).RGBA()
				if a != 0 && a != 0xFFFF {
					r, g, bl = r*0xFFFF/a, g*0xFFFF/a, bl*0xFFFF/a
				}
				im.RGB[i], im.RGB[i+1], im.RGB[i+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
				i += 3
			}
		}
	}
	if im.Samples == 1 {
		setFullRange(im)
	}
	return im, nil
}

// rasterSamples returns the samples per pixel a decoder allocates for a
// PNG or JPEG of colour model m, and the fewest bits per pixel its file
// can store (1-bit gray and palette PNGs, RGB without alpha).
func rasterSamples(m color.Model) (channels, minBits int) {
	switch m {
	case color.GrayModel:
		return 1, 1
	case color.Gray16Model:
		return 1, 16
	case color.YCbCrModel:
		return 3, 1
	case color.NRGBAModel:
		return 4, 16 // gray + alpha, 8 bits each
	case color.RGBAModel:
		return 4, 24
	case color.NRGBA64Model:
		return 4, 32
	case color.RGBA64Model:
		return 4, 48
	}
	if _, ok := m.(color.Palette); ok {
		return 1, 1
	}
	return 4, 1 // CMYK and anything new: the most samples, the fewest bits
}

// setFullRange gives a gray PNG or JPEG its one window, the whole range of
// its gray levels (these files say nothing about windows), and its
// histogram.
func setFullRange(im *Image) {
	levels := float64(int(1) << im.BitsStored)
	im.windows = []Window{{
		Center: levels / 2, Width: levels, Function: Linear,
		Name: "Full range", Explanation: fmt.Sprintf("the %s's own gray levels", im.Format),
	}}
	im.hist = countValues(im.Gray, im.BitsStored)
}

// decodeJPEGFile decodes a JPEG file with the IJG-exact decoder: gray stays
// gray, YCbCr is converted with the library's arithmetic after its fancy
// upsampling, as Pillow (libjpeg) would.
func decodeJPEGFile(r io.ReaderAt, size int64) (*Image, error) {
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	j, err := jpeg.DecodeOptions(data, jpeg.Options{Fancy: true})
	if err != nil {
		return nil, fmt.Errorf("decode JPEG: %w", err)
	}
	if j.Precision != 8 || (j.Components != 1 && j.Components != 3) {
		return nil, fmt.Errorf("decode JPEG: %d-bit, %d components: %w", j.Precision, j.Components, jpeg.ErrUnsupported)
	}
	n := j.Width * j.Height
	im := &Image{Format: FormatJPEG, Width: j.Width, Height: j.Height, Frames: 1, Samples: 1, BitsStored: 8, Rescale: ModalityLUT{Slope: 1}}
	if j.Components == 1 {
		im.Meta.Photometric = "MONOCHROME2"
		im.Gray = j.Data
		setFullRange(im)
		return im, nil
	}
	im.Samples = 3
	im.Meta.Photometric = "RGB"
	im.RGB = make([]uint8, 3*n)
	ycc := j.YCbCr()
	for i := range n {
		a, b, c := j.Data[3*i], j.Data[3*i+1], j.Data[3*i+2]
		if ycc {
			im.RGB[3*i], im.RGB[3*i+1], im.RGB[3*i+2] = jpeg.YCbCrToRGB(a, b, c)
		} else {
			im.RGB[3*i], im.RGB[3*i+1], im.RGB[3*i+2] = uint8(a), uint8(b), uint8(c)
		}
	}
	return im, nil
}
