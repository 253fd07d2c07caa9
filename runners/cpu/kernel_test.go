package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestMatmulNT(t *testing.T) {
	for _, tc := range []struct{ m, n, k int }{
		{1, 1, 1}, {1, 7, 5}, {1, 130, 128}, {3, 4, 8}, {5, 9, 13}, {17, 33, 40}, {64, 300, 129}, {2, 2000, 64},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d", tc.m, tc.n, tc.k), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n*tc.k)))
			a := make([]float32, tc.m*tc.k)
			b := make([]float32, tc.n*tc.k)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			for i := range b {
				b[i] = float32(r.NormFloat64())
			}
			c := make([]float32, tc.m*tc.n)
			matmulNT(c, a, b, tc.m, tc.n, tc.k)
			for i := 0; i < tc.m; i++ {
				for j := 0; j < tc.n; j++ {
					var want float64
					for l := 0; l < tc.k; l++ {
						want += float64(a[i*tc.k+l]) * float64(b[j*tc.k+l])
					}
					if d := math.Abs(float64(c[i*tc.n+j]) - want); d > 1e-5*math.Sqrt(float64(tc.k))*4 {
						t.Fatalf("c[%d,%d] = %v, want %v (kernel %s)", i, j, c[i*tc.n+j], want, kernelName())
					}
				}
			}
		})
	}
}

func BenchmarkMatmulNT(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{1, 388, 128}, {512, 256, 128}, {512, 128, 256}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			a := make([]float32, s.m*s.k)
			w := make([]float32, s.n*s.k)
			c := make([]float32, s.m*s.n)
			b.SetBytes(int64(4 * (len(a) + len(w))))
			for b.Loop() {
				matmulNT(c, a, w, s.m, s.n, s.k)
			}
			b.ReportMetric(float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// expf is within one float32 ulp of the correctly rounded exponential over
// the whole float32 range, and handles the edges.
func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x < 88.7; x += 0.00137 {
		want := math.Exp(float64(x))
		got := float64(expf(x))
		if d := math.Abs(got-want) / want; d > worst {
			worst = d
		}
	}
	for x := float32(-103.9); x < -87; x += 0.01 { // subnormal results: one subnormal step
		if d := math.Abs(float64(expf(x)) - float64(float32(math.Exp(float64(x))))); d > 1.5e-45 {
			t.Errorf("expf(%v) = %v, want %v", x, expf(x), float32(math.Exp(float64(x))))
		}
	}
	if worst > 1.2e-7 {
		t.Errorf("worst relative error %.3g, over one float32 ulp", worst)
	}
	for _, tc := range []struct {
		x, want float32
	}{
		{0, 1}, {1, float32(math.E)}, {-200, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
	} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(expf(nan))) {
		t.Error("expf(NaN) is not NaN")
	}
}
