package imageproc

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"golang.org/x/image/draw"
)

func TestGrid(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w, h, max    int
		size         int
		want         Ratio
		tiles        int
		upscale      bool
		noThumbnails bool
	}{
		{"square", 448, 448, 6, 448, Ratio{1, 1}, 1, false, false},
		// 1000x1000: (1,1) first, then the equal-ratio (2,2) replaces it
		// because the area exceeds half of 2x2 tiles; (3,3) is not allowed at 6.
		{"big square max 6", 1000, 1000, 6, 448, Ratio{2, 2}, 5, false, false},
		{"big square max 12", 1000, 1000, 12, 448, Ratio{3, 3}, 10, false, false},
		{"small square stays one tile", 500, 500, 12, 448, Ratio{1, 1}, 1, false, false},
		{"4:3", 800, 600, 6, 448, Ratio{3, 2}, 7, false, false},
		{"wide 5:1", 1000, 200, 6, 448, Ratio{5, 1}, 6, false, false},
		{"tall 1:5", 200, 1000, 6, 448, Ratio{1, 5}, 6, false, false},
		{"very wide capped", 4000, 100, 6, 448, Ratio{6, 1}, 7, false, false},
		// 5:4 ties (1,1), (2,2) and (3,2) at distance 0.25: a small image
		// keeps (1,1), a large one moves on to each later tie.
		{"5:4 small keeps first tie", 560, 448, 6, 448, Ratio{1, 1}, 1, false, false},
		{"5:4 large takes last tie", 2240, 1792, 6, 448, Ratio{3, 2}, 7, false, false},
		{"coco 640x480", 640, 480, 6, 448, Ratio{3, 2}, 7, false, false},
		{"coco 640x427", 640, 427, 6, 448, Ratio{3, 2}, 7, false, false},
		{"mmmu upscale", 300, 300, 12, 448, Ratio{1, 1}, 1, true, false},
		{"mmmu upscale wide", 600, 300, 12, 448, Ratio{2, 1}, 3, true, false},
		{"no thumbnail", 800, 600, 6, 448, Ratio{3, 2}, 6, false, true},
		{"tiny tiles", 4, 4, 6, 56, Ratio{1, 1}, 1, false, false},
		{"tiny tiles wide", 120, 56, 6, 56, Ratio{2, 1}, 3, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, n := Grid(tc.w, tc.h, Options{Size: tc.size, MinNum: 1, MaxNum: tc.max, Thumbnail: !tc.noThumbnails, Upscale: tc.upscale})
			if r != tc.want || n != tc.tiles {
				t.Errorf("Grid(%dx%d, max %d) = %v, %d tiles; want %v, %d", tc.w, tc.h, tc.max, r, n, tc.want, tc.tiles)
			}
		})
	}
}

func TestTargetRatios(t *testing.T) {
	rs := TargetRatios(1, 6)
	if len(rs) != 14 {
		t.Fatalf("%d ratios for max 6, want 14: %v", len(rs), rs)
	}
	if !sort.SliceIsSorted(rs, func(i, j int) bool { return rs[i].Tiles() < rs[j].Tiles() }) || rs[0] != (Ratio{1, 1}) {
		t.Errorf("not sorted by tile count: %v", rs)
	}
	for _, r := range TargetRatios(3, 4) {
		if r.Tiles() < 3 || r.Tiles() > 4 {
			t.Errorf("ratio %v outside [3, 4]", r)
		}
	}
}

// TestTieOrderIsImmaterial checks that the order of equal-count grids
// (Python's set order, unknown here) cannot change the chosen grid.
func TestTieOrderIsImmaterial(t *testing.T) {
	for max := 1; max <= 24; max++ {
		a := TargetRatios(1, max)
		b := append([]Ratio(nil), a...)
		sort.SliceStable(b, func(i, j int) bool {
			if b[i].Tiles() != b[j].Tiles() {
				return b[i].Tiles() < b[j].Tiles()
			}
			return b[i].Cols > b[j].Cols
		})
		for w := 1; w <= 200; w += 1 {
			for h := 1; h <= 200; h += 3 {
				for _, scale := range []int{1, 9} {
					W, H := w*scale, h*scale
					ar := float64(W) / float64(H)
					if x, y := ClosestAspectRatio(ar, a, W, H, 448), ClosestAspectRatio(ar, b, W, H, 448); x != y {
						t.Fatalf("max %d, %dx%d: %v vs %v depending on tie order", max, W, H, x, y)
					}
				}
			}
		}
	}
}

func randomRGB(w, h int, seed uint64, smooth bool) *RGB {
	rng := rand.New(rand.NewPCG(seed, 2))
	im := NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				v := rng.IntN(256)
				if smooth {
					v = int(127.5 + 100*math.Sin(float64(x)/7+float64(c))*math.Cos(float64(y)/5))
				}
				im.Pix[(y*w+x)*3+c] = uint8(v)
			}
		}
	}
	return im
}

func TestResizeKnownValues(t *testing.T) {
	// One row 0, 70, 140, 210 halved with the bilinear filter: the
	// support doubles to 2, so output 0 (centre 1.0) weighs inputs 0..2 by
	// 0.75, 0.75, 0.25 (normalised 3/7, 3/7, 1/7) = 50, and output 1
	// (centre 3.0) weighs inputs 1..3 by 1/7, 3/7, 3/7 = 160.
	im := &RGB{W: 4, H: 1, Pix: []uint8{0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210}}
	out := im.Resize(2, 1, Bilinear)
	if r0, _, _ := out.At(0, 0); r0 != 50 {
		t.Errorf("out[0] = %d, want 50", r0)
	}
	if r1, _, _ := out.At(1, 0); r1 != 160 {
		t.Errorf("out[1] = %d, want 160", r1)
	}
	// Bicubic upscaling 2 -> 4 of 0, 255: output centres 0.25, 0.75,
	// 1.25, 1.75 in input units, input centres 0.5 and 1.5. Output 0 weighs
	// input 0 at distance 0.25 and input 1 at 1.25 (a negative lobe of the
	// a=-0.5 kernel): below 0, clipped. Output 1 weighs them at 0.25 and 0.75.
	up := (&RGB{W: 2, H: 1, Pix: []uint8{0, 0, 0, 255, 255, 255}}).Resize(4, 1, Bicubic)
	var got []uint8
	for x := 0; x < 4; x++ {
		r, _, _ := up.At(x, 0)
		got = append(got, r)
	}
	w := Bicubic.eval
	want1 := 255 * w(0.75) / (w(0.25) + w(0.75)) // 52.8
	if w(1.25) >= 0 || got[0] != 0 || math.Abs(float64(got[1])-want1) > 0.5 || got[0] != 255-got[3] || got[1] != 255-got[2] {
		t.Errorf("bicubic 2->4 = %v, want [0 %.1f %.1f 255]", got, want1, 255-want1)
	}
}

func TestResizeProperties(t *testing.T) {
	flat := NewRGB(37, 23)
	for i := range flat.Pix {
		flat.Pix[i] = []uint8{200, 13, 97}[i%3]
	}
	for _, f := range []Filter{Bicubic, Bilinear} {
		for _, sz := range [][2]int{{448, 448}, {5, 3}, {74, 23}, {37, 90}} {
			out := flat.Resize(sz[0], sz[1], f)
			if out.W != sz[0] || out.H != sz[1] {
				t.Fatalf("size %dx%d", out.W, out.H)
			}
			for i, v := range out.Pix {
				if v != []uint8{200, 13, 97}[i%3] {
					t.Fatalf("%s %v: a flat image changed at byte %d: %d", f, sz, i, v)
				}
			}
		}
	}
	im := randomRGB(50, 40, 1, false)
	if same := im.Resize(50, 40, Bicubic); !bytes.Equal(same.Pix, im.Pix) || &same.Pix[0] == &im.Pix[0] {
		t.Error("a same-size resize must be a copy")
	}
}

// TestResizeNearXImageDraw cross-checks the kernel against
// golang.org/x/image/draw's Catmull-Rom (the same a=-0.5 cubic, also
// stretched when shrinking) on a smooth image: they differ only by the
// fixed-point and 8-bit rounding between passes.
func TestResizeNearXImageDraw(t *testing.T) {
	src := randomRGB(300, 200, 3, true)
	rgba := image.NewRGBA(image.Rect(0, 0, src.W, src.H))
	for y := 0; y < src.H; y++ {
		for x := 0; x < src.W; x++ {
			r, g, b := src.At(x, y)
			rgba.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	for _, sz := range [][2]int{{448, 448}, {112, 75}, {896, 448}} {
		ours := src.Resize(sz[0], sz[1], Bicubic)
		ref := image.NewRGBA(image.Rect(0, 0, sz[0], sz[1]))
		draw.CatmullRom.Scale(ref, ref.Bounds(), rgba, rgba.Bounds(), draw.Src, nil)
		worst := 0
		for y := 2; y < sz[1]-2; y++ { // edges are handled differently
			for x := 2; x < sz[0]-2; x++ {
				r, g, b := ours.At(x, y)
				c := ref.RGBAAt(x, y)
				for _, d := range []int{int(r) - int(c.R), int(g) - int(c.G), int(b) - int(c.B)} {
					worst = max(worst, d, -d)
				}
			}
		}
		if worst > 2 {
			t.Errorf("%v: differs from x/image/draw CatmullRom by up to %d levels", sz, worst)
		}
	}
}

func TestTileLayoutAndThumbnail(t *testing.T) {
	im := randomRGB(120, 56, 5, false)
	o := Options{Size: 56, MinNum: 1, MaxNum: 6, Thumbnail: true}
	tiles, r := Tile(im, o)
	if r != (Ratio{2, 1}) || len(tiles) != 3 {
		t.Fatalf("grid %v, %d tiles", r, len(tiles))
	}
	resized := im.Resize(112, 56, Bicubic)
	if !bytes.Equal(tiles[0].Pix, resized.Crop(0, 0, 56, 56).Pix) || !bytes.Equal(tiles[1].Pix, resized.Crop(56, 0, 112, 56).Pix) {
		t.Error("tiles are not the left and right halves of the resized image")
	}
	if !bytes.Equal(tiles[2].Pix, im.Resize(56, 56, Bicubic).Pix) {
		t.Error("the last tile is not the thumbnail of the whole image")
	}
	single, _ := Tile(randomRGB(56, 56, 6, false), o)
	if len(single) != 1 {
		t.Errorf("a one-tile image got %d tiles (no thumbnail expected)", len(single))
	}
	up, r := Tile(randomRGB(60, 30, 7, false), Options{Size: 56, MinNum: 1, MaxNum: 12, Thumbnail: true, Upscale: true})
	if r != (Ratio{2, 1}) || len(up) != 3 {
		t.Errorf("upscaled 60x30 -> %v, %d tiles", r, len(up))
	}
}

func TestNormalize(t *testing.T) {
	tile := &RGB{W: 2, H: 1, Pix: []uint8{0, 128, 255, 255, 0, 1}}
	out, err := Normalize([]*RGB{tile})
	if err != nil {
		t.Fatal(err)
	}
	f := func(v uint8, c int) float32 { return (float32(v)/255 - Mean[c]) / Std[c] }
	want := []float32{f(0, 0), f(255, 0), f(128, 1), f(0, 1), f(255, 2), f(1, 2)} // CHW
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("out[%d] = %v, want %v", i, out[i], want[i])
		}
	}
	if math.Abs(float64(out[0])+2.1179039) > 1e-6 || math.Abs(float64(out[1])-2.2489083) > 1e-6 {
		t.Errorf("ImageNet extremes: %v %v", out[0], out[1])
	}
	if _, err := Normalize([]*RGB{tile, NewRGB(3, 1)}); err == nil {
		t.Error("mixed tile sizes accepted")
	}
}

func TestPreprocessPNG(t *testing.T) {
	// An RGBA PNG with transparency: alpha is dropped, not composited.
	src := image.NewNRGBA(image.Rect(0, 0, 90, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 90; x++ {
			src.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y * 3), 77, uint8(x + y)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	w, h, err := DecodeSize(buf.Bytes())
	if err != nil || w != 90 || h != 40 {
		t.Fatalf("size %dx%d %v", w, h, err)
	}
	im, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b := im.At(10, 5); r != 10 || g != 15 || b != 77 {
		t.Errorf("pixel (10,5) = %d %d %d, want the unpremultiplied 10 15 77", r, g, b)
	}
	px, err := Preprocess(buf.Bytes(), Options{Size: 28, MinNum: 1, MaxNum: 6, Thumbnail: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n := Grid(90, 40, Options{Size: 28, MinNum: 1, MaxNum: 6, Thumbnail: true})
	if px.Tiles != n || len(px.Data) != n*3*28*28 || !px.Thumbnail || px.Width != 90 {
		t.Errorf("pixels: %d tiles (grid says %d), %d values, %+v", px.Tiles, n, len(px.Data), px.Grid)
	}
	if _, err := Preprocess([]byte("not an image"), Options{Size: 28, MinNum: 1, MaxNum: 6}); err == nil {
		t.Error("garbage decoded")
	}
	if _, err := Preprocess(buf.Bytes(), Options{Size: 28, MinNum: 2, MaxNum: 1}); err == nil {
		t.Error("bad bounds accepted")
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, err := DecodeSize(data)
		if err != nil || w*h > 1<<16 {
			return // skip huge claimed sizes: the decoder would allocate them
		}
		im, err := Decode(data)
		if err != nil {
			return
		}
		if len(im.Pix) != 3*im.W*im.H {
			t.Fatalf("%dx%d image with %d bytes", im.W, im.H, len(im.Pix))
		}
		tiles, _ := Tile(im, Options{Size: 14, MinNum: 1, MaxNum: 4, Thumbnail: true})
		for _, tl := range tiles {
			if tl.W != 14 || tl.H != 14 {
				t.Fatalf("tile %dx%d", tl.W, tl.H)
			}
		}
	})
}
