package imageproc

import "math"

// Filter is a resampling filter of Pillow's Image.resize.
type Filter int

// Filters. Bicubic is Pillow's default for resize (since Pillow 7) and what
// HoVLE's dynamic_preprocess and thumbnail use; Bilinear is what
// VLMEvalKit's MMMU upscale uses.
const (
	Bicubic Filter = iota
	Bilinear
)

// String names the filter.
func (f Filter) String() string {
	if f == Bilinear {
		return "bilinear"
	}
	return "bicubic"
}

// support is the filter's half-width at scale 1.
func (f Filter) support() float64 {
	if f == Bilinear {
		return 1
	}
	return 2
}

// eval is the filter's kernel (Pillow Resample.c: bilinear_filter,
// bicubic_filter with a = -0.5).
func (f Filter) eval(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if f == Bilinear {
		if x < 1 {
			return 1 - x
		}
		return 0
	}
	const a = -0.5
	if x < 1 {
		return ((a+2)*x-(a+3))*x*x + 1
	}
	if x < 2 {
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// precisionBits is Pillow's fixed-point precision for 8-bit images
// (PRECISION_BITS = 32 - 8 - 2).
const precisionBits = 32 - 8 - 2

// coeffs are the fixed-point weights of one resampling pass: for output
// position i, the input positions bounds[2i] .. bounds[2i]+bounds[2i+1]-1
// with weights k[i*ksize : i*ksize+bounds[2i+1]].
type coeffs struct {
	ksize  int
	bounds []int
	k      []int32
}

// precompute is Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc, for the box [0, inSize) mapped onto outSize.
func precompute(inSize, outSize int, f Filter) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support() * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{ksize: ksize, bounds: make([]int, 2*outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C's (int) truncates toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = f.eval((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				c.k[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				c.k[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		c.bounds[2*xx], c.bounds[2*xx+1] = xmin, xmax
	}
	return c
}

// clip8 rounds a fixed-point sum (which started at half a unit) to a byte.
func clip8(in int32) uint8 {
	if in >= 1<<precisionBits<<8 {
		return 255
	}
	if in <= 0 {
		return 0
	}
	return uint8(in >> precisionBits)
}

// Resize resamples the image to w x h exactly as Pillow's
// Image.resize((w, h), filter) does for an RGB image: a horizontal pass
// then a vertical pass, each with Pillow's fixed-point coefficients and
// rounding to 8 bits in between. Resizing to the same size returns a copy.
func (im *RGB) Resize(w, h int, f Filter) *RGB {
	if w == im.W && h == im.H {
		return im.Clone()
	}
	src := im
	if w != im.W {
		c := precompute(im.W, w, f)
		out := NewRGB(w, im.H)
		for y := 0; y < im.H; y++ {
			row := im.Pix[y*im.W*3 : (y+1)*im.W*3]
			dst := out.Pix[y*w*3 : (y+1)*w*3]
			for xx := 0; xx < w; xx++ {
				xmin, n := c.bounds[2*xx], c.bounds[2*xx+1]
				k := c.k[xx*c.ksize : xx*c.ksize+n]
				var s0, s1, s2 int32 = 1 << (precisionBits - 1), 1 << (precisionBits - 1), 1 << (precisionBits - 1)
				for x, kx := range k {
					p := row[(x+xmin)*3:]
					s0 += int32(p[0]) * kx
					s1 += int32(p[1]) * kx
					s2 += int32(p[2]) * kx
				}
				dst[xx*3], dst[xx*3+1], dst[xx*3+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
		src = out
	}
	if h != src.H {
		c := precompute(src.H, h, f)
		out := NewRGB(w, h)
		for yy := 0; yy < h; yy++ {
			ymin, n := c.bounds[2*yy], c.bounds[2*yy+1]
			k := c.k[yy*c.ksize : yy*c.ksize+n]
			dst := out.Pix[yy*w*3 : (yy+1)*w*3]
			for xx := 0; xx < w; xx++ {
				var s0, s1, s2 int32 = 1 << (precisionBits - 1), 1 << (precisionBits - 1), 1 << (precisionBits - 1)
				for y, ky := range k {
					p := src.Pix[((y+ymin)*w+xx)*3:]
					s0 += int32(p[0]) * ky
					s1 += int32(p[1]) * ky
					s2 += int32(p[2]) * ky
				}
				dst[xx*3], dst[xx*3+1], dst[xx*3+2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
		src = out
	}
	return src
}
