package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randomTile(m *Model, seed uint64) []float32 {
	S := m.Config.ImageSize
	r := rand.New(rand.NewPCG(seed, 9))
	pix := make([]float32, 3*S*S)
	for i := range pix {
		pix[i] = r.Float32()
	}
	NormalizeImageNet(pix)
	return pix
}

func TestImageTokensShapes(t *testing.T) {
	for _, name := range tinyVariants {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, name, 1)
			c := m.Config
			G := c.ImageSize / c.PatchSize
			if want := (G / 2) * (G / 2); m.NumImageTokens() != want {
				t.Fatalf("NumImageTokens = %d, want %d", m.NumImageTokens(), want)
			}
			emb, err := m.ImageTokens(randomTile(m, 1))
			if err != nil {
				t.Fatal(err)
			}
			if len(emb) != m.NumImageTokens()*c.Hidden {
				t.Fatalf("%d values, want %d x %d", len(emb), m.NumImageTokens(), c.Hidden)
			}
			if rms := rmsOf(emb); !(rms > 0.01 && rms < 100) {
				t.Errorf("image embedding rms %v", rms)
			}
			other, _ := m.ImageTokens(randomTile(m, 2))
			if maxRelDiff(other, emb) < 1e-3 {
				t.Error("different tiles give the same embeddings")
			}
			if _, err := m.ImageTokens(make([]float32, 10)); err == nil || !strings.Contains(err.Error(), "want 3x") {
				t.Errorf("short tile: err = %v", err)
			}
		})
	}
}

// The im2col patch embedding equals a direct convolution.
func TestPatchEmbeddingIsConv(t *testing.T) {
	m := tinyModel(t, "hovle-tiny", 4)
	c := m.Config
	S, P, H := c.ImageSize, c.PatchSize, c.Hidden
	G := S / P
	pix := randomTile(m, 3)
	got := m.patchGrid(pix)
	for _, cell := range [][2]int{{0, 0}, {1, 2}, {G - 1, G - 1}} {
		a, b := cell[0], cell[1]
		for h := 0; h < H; h += 17 {
			acc := float64(m.Vision.PatchB[h]) + float64(m.Vision.PosEmb[(1+a*G+b)*H+h])
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					for kx := 0; kx < P; kx++ {
						w := m.Vision.PatchW[((h*3+ch)*P+ky)*P+kx]
						acc += float64(w) * float64(pix[ch*S*S+(a*P+ky)*S+b*P+kx])
					}
				}
			}
			if d := math.Abs(float64(got[(a*G+b)*H+h]) - acc); d > 1e-4 {
				t.Errorf("cell (%d,%d) channel %d: %v, direct conv %v", a, b, h, got[(a*G+b)*H+h], acc)
			}
		}
	}
}

// torchPixelShuffle replays InternVL's pixel_shuffle (v2) step by step:
// view(n, A, B*s, C/s); permute(0,2,1,3); view(n, B*s, A*s, C/s²);
// permute(0,2,1,3); with s = 1/r, each view on a contiguous array.
func torchPixelShuffle(x []float32, A, C, r int) []float32 {
	B := A
	// x is [A, B, C]; view -> [A, B/r, rC] is the same memory.
	// permute -> [B/r, A, rC]
	p1 := make([]float32, len(x))
	for a := 0; a < A; a++ {
		for b2 := 0; b2 < B/r; b2++ {
			for c := 0; c < r*C; c++ {
				p1[(b2*A+a)*r*C+c] = x[(a*(B/r)+b2)*r*C+c]
			}
		}
	}
	// view -> [B/r, A/r, r²C] (same memory); permute -> [A/r, B/r, r²C]
	out := make([]float32, len(x))
	for b2 := 0; b2 < B/r; b2++ {
		for a2 := 0; a2 < A/r; a2++ {
			for c := 0; c < r*r*C; c++ {
				out[(a2*(B/r)+b2)*r*r*C+c] = p1[(b2*(A/r)+a2)*r*r*C+c]
			}
		}
	}
	return out
}

func TestPixelShuffleMatchesInternVL(t *testing.T) {
	for _, tc := range []struct{ G, H, r int }{{4, 3, 2}, {8, 5, 2}, {6, 2, 3}} {
		grid := make([]float32, tc.G*tc.G*tc.H)
		for i := range grid {
			grid[i] = float32(i)
		}
		got := pixelShuffle(grid, tc.G, tc.H, tc.r)
		want := torchPixelShuffle(grid, tc.G, tc.H, tc.r)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("G=%d H=%d r=%d: out[%d] = %v, want %v", tc.G, tc.H, tc.r, i, got[i], want[i])
			}
		}
	}
}

func TestSpliceImages(t *testing.T) {
	m := tinyModel(t, "mmmamba-hybrid-tiny", 1)
	c := m.Config
	H, n := c.Hidden, m.NumImageTokens()
	img, err := m.ImageTokens(randomTile(m, 5))
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int{1, 7}
	for i := 0; i < n; i++ {
		tokens = append(tokens, c.ImgContextTok)
	}
	tokens = append(tokens, 9, 10)
	x, err := m.Embed(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SpliceImages(tokens, x, img); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if maxRelDiff(x[(2+i)*H:(3+i)*H], img[i*H:(i+1)*H]) != 0 {
			t.Errorf("position %d does not hold image token %d", 2+i, i)
		}
	}
	if maxRelDiff(x[:H], m.TextEmbed[1*H:2*H]) != 0 {
		t.Error("text position 0 changed")
	}
	logits, err := m.PrefillEmbeds(m.NewState(len(tokens)), x, false)
	if err != nil || len(logits) != c.Vocab {
		t.Fatalf("prefill with image tokens: %d logits, %v", len(logits), err)
	}
	x2, _ := m.Embed(tokens)
	if err := m.SpliceImages(tokens, x2, img[:H]); err == nil {
		t.Error("splice accepted too few image embeddings")
	}
	if err := m.SpliceImages(tokens[:3], x2[:3*H], img); err == nil {
		t.Error("splice accepted too many image embeddings")
	}
}
