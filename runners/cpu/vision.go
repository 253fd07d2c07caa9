package cpu

import (
	"fmt"
	"math"
)

// ImageNet normalisation constants, per RGB channel.
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// NormalizeImageNet normalises a CHW RGB tile with values in [0, 1] in
// place: (x - mean) / std per channel.
func NormalizeImageNet(pix []float32) {
	n := len(pix) / 3
	for c := 0; c < 3; c++ {
		for i := c * n; i < (c+1)*n; i++ {
			pix[i] = (pix[i] - imageNetMean[c]) / imageNetStd[c]
		}
	}
}

// shuffleRatio returns the pixel-shuffle factor r = 1/downsample_ratio.
func (m *Model) shuffleRatio() int { return int(math.Round(1 / m.Config.DownSample)) }

// NumImageTokens returns the number of embeddings one image tile becomes:
// (G/r)² for a G x G patch grid and pixel-shuffle factor r.
func (m *Model) NumImageTokens() int {
	g := m.Config.ImageSize / m.Config.PatchSize / m.shuffleRatio()
	return g * g
}

// ImageTokens maps one image tile to its embeddings [NumImageTokens, H]
// (MODEL.md, image tokens): pixels is [3, S, S] in CHW order, already
// ImageNet-normalised (NormalizeImageNet). The steps are the patch
// embedding (Conv2d 3->H, kernel = stride = patch), the position embedding
// (entry 0 belongs to the class token, which is prepended and then dropped,
// so it does not reach the output), InternVL's pixel shuffle (v2) with
// ratio 1/r, and pixel_shuffle_proj: Linear(r²H -> H), exact GELU,
// Linear(H -> H).
func (m *Model) ImageTokens(pixels []float32) ([]float32, error) {
	c := m.Config
	S, P, H := c.ImageSize, c.PatchSize, c.Hidden
	if len(pixels) != 3*S*S {
		return nil, fmt.Errorf("image tile: %d values, want 3x%dx%d = %d", len(pixels), S, S, 3*S*S)
	}
	G := S / P
	grid := m.patchGrid(pixels)
	shuffled := pixelShuffle(grid, G, H, m.shuffleRatio())
	v := &m.Vision
	r := m.shuffleRatio()
	n := (G / r) * (G / r)
	hid := make([]float32, n*H)
	linear(hid, shuffled, v.Proj0W, n, r*r*H, H)
	for i := 0; i < n; i++ {
		row := hid[i*H : (i+1)*H]
		addTo(row, v.Proj0B)
		for j, x := range row {
			row[j] = gelu(x)
		}
	}
	out := make([]float32, n*H)
	linear(out, hid, v.Proj2W, n, H, H)
	for i := 0; i < n; i++ {
		addTo(out[i*H:(i+1)*H], v.Proj2B)
	}
	return out, nil
}

// patchGrid computes the patch embedding plus position embedding of a
// tile: [G*G, H], row-major over the grid.
func (m *Model) patchGrid(pixels []float32) []float32 {
	c := m.Config
	S, P, H := c.ImageSize, c.PatchSize, c.Hidden
	G := S / P
	K := 3 * P * P
	// im2col: one row per patch (row-major over the grid), columns in the
	// weight's [3, P, P] order.
	cols := make([]float32, G*G*K)
	for a := 0; a < G; a++ {
		for b := 0; b < G; b++ {
			dst := cols[(a*G+b)*K:]
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					src := pixels[ch*S*S+(a*P+ky)*S+b*P:]
					copy(dst[(ch*P+ky)*P:(ch*P+ky+1)*P], src[:P])
				}
			}
		}
	}
	v := &m.Vision
	grid := make([]float32, G*G*H)
	linear(grid, cols, v.PatchW, G*G, K, H)
	for i := 0; i < G*G; i++ {
		row := grid[i*H : (i+1)*H]
		addTo(row, v.PatchB)
		addTo(row, v.PosEmb[(1+i)*H:(2+i)*H])
	}
	return grid
}

// pixelShuffle rearranges a G x G grid of H-channel tokens into (G/r)²
// tokens of r²H channels as InternVL's pixel_shuffle (ps_version v2) does:
// output token (a2, b2), row-major, holds at channel j·rH + i·H + c the
// input channel c of grid cell (r·a2 + j, r·b2 + i).
func pixelShuffle(grid []float32, G, H, r int) []float32 {
	g := G / r
	out := make([]float32, g*g*r*r*H)
	for a2 := 0; a2 < g; a2++ {
		for b2 := 0; b2 < g; b2++ {
			dst := out[(a2*g+b2)*r*r*H:]
			for j := 0; j < r; j++ {
				for i := 0; i < r; i++ {
					src := grid[((r*a2+j)*G+r*b2+i)*H:]
					copy(dst[(j*r+i)*H:(j*r+i+1)*H], src[:H])
				}
			}
		}
	}
	return out
}

// SpliceImages replaces the embeddings of the <IMG_CONTEXT> positions of
// tokens in x ([T, H], from Embed) with image embeddings [n, H], in order.
// The number of placeholders must equal n.
func (m *Model) SpliceImages(tokens []int, x, images []float32) error {
	H := m.Config.Hidden
	if len(x) != len(tokens)*H || len(images)%H != 0 {
		return fmt.Errorf("splice images: %d tokens, %d embedding values and %d image values do not fit hidden size %d", len(tokens), len(x), len(images), H)
	}
	next := 0
	for t, tok := range tokens {
		if tok != m.Config.ImgContextTok {
			continue
		}
		if next == len(images)/H {
			return fmt.Errorf("splice images: more <IMG_CONTEXT> tokens (id %d) than the %d image embeddings", tok, len(images)/H)
		}
		copy(x[t*H:(t+1)*H], images[next*H:(next+1)*H])
		next++
	}
	if next != len(images)/H {
		return fmt.Errorf("splice images: %d <IMG_CONTEXT> tokens (id %d) for %d image embeddings", next, m.Config.ImgContextTok, len(images)/H)
	}
	return nil
}
