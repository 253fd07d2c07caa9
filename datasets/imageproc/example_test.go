package imageproc_test

import (
	"fmt"

	"github.com/ssmbench/ssmbench/datasets/imageproc"
)

// A 640x480 COCO image at the seed's defaults: a 3x2 grid of 448-pixel
// tiles plus the thumbnail, 7 x 256 = 1792 image tokens.
func ExampleGrid() {
	o := imageproc.Options{Size: 448, MinNum: 1, MaxNum: 6, Thumbnail: true}
	grid, tiles := imageproc.Grid(640, 480, o)
	fmt.Println(grid.Cols, grid.Rows, tiles, tiles*256)
	// Output: 3 2 7 1792
}
