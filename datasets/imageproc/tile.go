package imageproc

import (
	"fmt"
	"math"
	"sort"
)

// Options are the preprocessing knobs of InternVL's load_image.
type Options struct {
	// Size is the tile side in pixels: the model's image_size (448 for
	// the real models, the tiny configs' own size for tiny ones).
	Size int
	// MinNum and MaxNum bound the number of dynamic tiles (1 and 6 by
	// default in the seed's VLMEvalKit wrapper; 12 for MMMU).
	MinNum, MaxNum int
	// Thumbnail appends a Size x Size resize of the whole image when the
	// image is cut into more than one tile (use_thumbnail=True).
	Thumbnail bool
	// Upscale doubles the image with a bilinear resize before tiling, as
	// VLMEvalKit's InternVL wrapper does for MMMU (upscale=True).
	Upscale bool
}

// Check validates the options.
func (o Options) Check() error {
	if o.Size < 1 {
		return fmt.Errorf("imageproc: tile size %d must be >= 1", o.Size)
	}
	if o.MinNum < 1 || o.MaxNum < o.MinNum {
		return fmt.Errorf("imageproc: tile bounds min %d, max %d: want 1 <= min <= max", o.MinNum, o.MaxNum)
	}
	return nil
}

// Ratio is a tiling grid: Cols tiles across, Rows tiles down.
type Ratio struct{ Cols, Rows int }

// Tiles returns Cols*Rows.
func (r Ratio) Tiles() int { return r.Cols * r.Rows }

// TargetRatios returns the grids with min <= cols*rows <= max, sorted by
// tile count as dynamic_preprocess sorts them. Python sorts a set there,
// so grids of equal tile count come in set order; they are put in column
// order here. That order never changes the chosen grid: two grids of equal
// count tie for the closest aspect ratio only where a smaller grid is
// closer (checked exhaustively for max_num <= 40 and sides up to 3000 px;
// TestTieOrderIsImmaterial repeats a smaller sweep).
func TargetRatios(min, max int) []Ratio {
	var out []Ratio
	for c := 1; c <= max; c++ {
		for r := 1; r <= max; r++ {
			if n := c * r; n >= min && n <= max {
				out = append(out, Ratio{c, r})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tiles() < out[j].Tiles() })
	return out
}

// ClosestAspectRatio is InternVL's find_closest_aspect_ratio: the grid
// whose cols/rows is nearest to aspect (= width/height); on a tie, a later
// (larger) grid replaces the best one when the image's area exceeds half
// the grid's pixel area.
func ClosestAspectRatio(aspect float64, ratios []Ratio, width, height, size int) Ratio {
	bestDiff := math.Inf(1)
	best := Ratio{1, 1}
	area := float64(width) * float64(height)
	for _, r := range ratios {
		diff := math.Abs(aspect - float64(r.Cols)/float64(r.Rows))
		if diff < bestDiff {
			bestDiff, best = diff, r
		} else if diff == bestDiff && area > 0.5*float64(size)*float64(size)*float64(r.Cols)*float64(r.Rows) {
			best = r
		}
	}
	return best
}

// Grid returns the grid an image of width x height is cut into and the
// number of tiles the model sees (the grid's, plus the thumbnail when the
// grid has more than one tile). With o.Upscale the image is first doubled.
func Grid(width, height int, o Options) (Ratio, int) {
	if o.Upscale {
		width, height = 2*width, 2*height
	}
	r := ClosestAspectRatio(float64(width)/float64(height), TargetRatios(o.MinNum, o.MaxNum), width, height, o.Size)
	n := r.Tiles()
	if o.Thumbnail && n != 1 {
		n++
	}
	return r, n
}

// Tile is dynamic_preprocess: resize the image (bicubic) to the chosen
// grid's cols*Size x rows*Size, cut it into tiles row by row, and append
// the thumbnail (a bicubic resize of the whole image to Size x Size) when
// there is more than one tile. With o.Upscale the image is first doubled
// with a bilinear resize.
func Tile(im *RGB, o Options) ([]*RGB, Ratio) {
	if o.Upscale {
		im = im.Resize(2*im.W, 2*im.H, Bilinear)
	}
	r, _ := Grid(im.W, im.H, Options{Size: o.Size, MinNum: o.MinNum, MaxNum: o.MaxNum})
	S := o.Size
	resized := im.Resize(r.Cols*S, r.Rows*S, Bicubic)
	tiles := make([]*RGB, 0, r.Tiles()+1)
	for i := 0; i < r.Tiles(); i++ {
		x, y := (i%r.Cols)*S, (i/r.Cols)*S
		tiles = append(tiles, resized.Crop(x, y, x+S, y+S))
	}
	if o.Thumbnail && len(tiles) != 1 {
		tiles = append(tiles, im.Resize(S, S, Bicubic))
	}
	return tiles, r
}

// ImageNet normalisation constants (IMAGENET_MEAN / IMAGENET_STD).
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// Normalize is torchvision's ToTensor then Normalize(Mean, Std) on each
// tile, in float32 as torch computes it: (v/255 - mean) / std. It returns
// [len(tiles), 3, S, S] in CHW order; every tile must be S x S.
func Normalize(tiles []*RGB) ([]float32, error) {
	if len(tiles) == 0 {
		return nil, nil
	}
	W, H := tiles[0].W, tiles[0].H
	plane := W * H
	out := make([]float32, len(tiles)*3*plane)
	for t, im := range tiles {
		if im.W != W || im.H != H {
			return nil, fmt.Errorf("imageproc: tile %d is %dx%d, tile 0 is %dx%d", t, im.W, im.H, W, H)
		}
		base := out[t*3*plane:]
		for i := 0; i < plane; i++ {
			for c := 0; c < 3; c++ {
				v := float32(im.Pix[3*i+c]) / 255
				base[c*plane+i] = (v - Mean[c]) / Std[c]
			}
		}
	}
	return out, nil
}

// Pixels is a preprocessed image: Tiles tiles of Size x Size as float32
// [Tiles, 3, Size, Size].
type Pixels struct {
	Tiles, Size int
	Data        []float32
	// Grid is the dynamic grid; Thumbnail says whether a thumbnail tile
	// follows the grid's tiles.
	Grid      Ratio
	Thumbnail bool
	// Width and Height are the decoded image's size (before any upscale).
	Width, Height int
}

// Preprocess decodes an image file and runs load_image on it: tiling
// with o, then ImageNet normalisation.
func Preprocess(data []byte, o Options) (*Pixels, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	im, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return PreprocessRGB(im, o)
}

// PreprocessRGB is Preprocess on an already decoded image.
func PreprocessRGB(im *RGB, o Options) (*Pixels, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	tiles, r := Tile(im, o)
	data, err := Normalize(tiles)
	if err != nil {
		return nil, err
	}
	return &Pixels{Tiles: len(tiles), Size: o.Size, Data: data, Grid: r, Thumbnail: len(tiles) > r.Tiles(), Width: im.W, Height: im.H}, nil
}
