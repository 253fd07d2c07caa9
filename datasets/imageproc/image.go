// Package imageproc is HoVLE's image preprocessing, in Go: decode, convert
// to RGB, dynamic tiling into image_size x image_size tiles (closest aspect
// ratio with 1..max_num tiles, plus a thumbnail when there is more than one
// tile), and ImageNet normalisation into the float32 [tiles, 3, S, S] tensor
// the model's image path takes.
//
// It follows InternVL's load_image/dynamic_preprocess (mmMamba's
// docs/usage.md, VLMEvalKit's InternVL wrapper) step by step. Resampling is
// a re-implementation of Pillow's Image.resize (Resample.c: separable
// passes, fixed-point coefficients, 8-bit rounding between passes), so
// decoded pixels give Pillow's bytes exactly. Decoding is Go's: PNG, GIF and
// BMP decode to the same pixels as Pillow; JPEG differs slightly (Go's
// decoder upsamples chroma by replication where libjpeg interpolates, and
// rounds its IDCT differently), so JPEG tiles can differ from the seed's by
// a few levels.
package imageproc

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registered decoders
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// RGB is an 8-bit RGB image, row-major, 3 bytes a pixel (Pillow mode "RGB").
type RGB struct {
	W, H int
	Pix  []uint8
}

// NewRGB returns a black w x h image.
func NewRGB(w, h int) *RGB { return &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)} }

// Clone returns a copy of the image.
func (im *RGB) Clone() *RGB {
	return &RGB{W: im.W, H: im.H, Pix: append([]uint8(nil), im.Pix...)}
}

// At returns the pixel at (x, y).
func (im *RGB) At(x, y int) (r, g, b uint8) {
	p := im.Pix[(y*im.W+x)*3:]
	return p[0], p[1], p[2]
}

// Crop returns the box [x0, x1) x [y0, y1), which must lie inside the
// image (as every box of dynamic_preprocess does).
func (im *RGB) Crop(x0, y0, x1, y1 int) *RGB {
	out := NewRGB(x1-x0, y1-y0)
	for y := y0; y < y1; y++ {
		copy(out.Pix[(y-y0)*out.W*3:(y-y0+1)*out.W*3], im.Pix[(y*im.W+x0)*3:(y*im.W+x1)*3])
	}
	return out
}

// Decode decodes an image file (PNG, JPEG, GIF, BMP, TIFF or WebP) and
// converts it to RGB as Pillow's Image.convert("RGB") does: alpha is
// dropped (not composited), grey is replicated, palettes are looked up.
func Decode(data []byte) (*RGB, error) {
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("decode image: %s image is %dx%d", format, b.Dx(), b.Dy())
	}
	return FromImage(img), nil
}

// DecodeSize returns an image file's width and height without decoding
// its pixels.
func DecodeSize(data []byte) (w, h int, err error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("decode image header: %w", err)
	}
	return cfg.Width, cfg.Height, nil
}

// FromImage converts a decoded image to RGB, dropping alpha.
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	out := NewRGB(b.Dx(), b.Dy())
	i := 0
	switch src := img.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				copy(out.Pix[i:i+3], row[4*x:4*x+3])
				i += 3
			}
		}
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := src.YOffset(x, y), src.COffset(x, y)
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				i += 3
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = row[x], row[x], row[x]
				i += 3
			}
		}
	default:
		// Non-premultiplied values: what Pillow keeps when it drops alpha.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
	return out
}
