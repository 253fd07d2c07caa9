package cpu

import (
	"math"

	"gonum.org/v1/gonum/blas/gonum"
)

// impl is gonum's pure-Go BLAS (assembly kernels on amd64). Its Sgemm
// partitions work by output blocks and sums each block's k range in a fixed
// order, so results do not depend on GOMAXPROCS.
var impl gonum.Implementation

// linear computes y[T, out] = x[T, in] · W[out, in]ᵀ.
func linear(y, x, w []float32, T, in, out int) {
	matmulNT(y, x, w, T, out, in)
}

// rmsNorm writes x / sqrt(mean(x²) + eps) * w for each row of n values.
// The mean is accumulated in float64.
func rmsNorm(dst, x, w []float32, n int, eps float64) {
	for r := 0; r+n <= len(x); r += n {
		row := x[r : r+n]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(n)+eps))
		out := dst[r : r+n]
		for i, v := range row {
			out[i] = v * inv * w[i]
		}
	}
}

// silu returns z·sigmoid(z).
func silu(z float32) float32 { return float32(float64(z) / (1 + float64(expf(-z)))) }

// exp2Table holds 2^(j/64) for j in [0, 64).
var exp2Table = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// expf returns e^x rounded to float32, within one float32 ulp of the
// correctly rounded value (equal to float32(math.Exp(x)) for more than
// 99.8% of inputs) and about five times faster: x = (64k + j + f)·ln2/64
// with e^x = 2^k · 2^(j/64) · e^(f·ln2/64), the last factor by a cubic.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < -104:
		return 0
	case x > 89:
		return float32(math.Inf(1))
	}
	t := float64(x) * (64 / math.Ln2)
	kf := math.Floor(t)
	r := (t - kf) * (math.Ln2 / 64)
	k := int64(kf)
	p := 1 + r*(1+r*(0.5+r*(1.0/6)))
	return float32(math.Float64frombits(math.Float64bits(exp2Table[k&63]*p) + uint64(k>>6)<<52))
}

// softplus returns log(1 + exp(z)), linear above 20 as in PyTorch.
func softplus(z float64) float64 {
	if z > 20 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

// gelu is the exact (erf) GELU of torch.nn.GELU().
func gelu(z float32) float32 {
	return float32(0.5 * float64(z) * (1 + math.Erf(float64(z)/math.Sqrt2)))
}

// addTo adds src into dst.
func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// swiglu writes silu(a)·b into a.
func swiglu(a, b []float32) {
	for i, v := range a {
		a[i] = silu(v) * b[i]
	}
}

// rope holds the rotary frequencies of one RoPE base.
type rope struct {
	invFreq []float64 // [d/2]: theta^(-2i/d)
}

func newRope(theta float64, d int) *rope {
	r := &rope{invFreq: make([]float64, d/2)}
	for i := range r.invFreq {
		r.invFreq[i] = math.Pow(theta, -2*float64(i)/float64(d))
	}
	return r
}

// angles fills cos and sin ([d/2] each) for position pos. Angles and
// their cos/sin are computed in float64 and rounded to float32.
func (r *rope) angles(cos, sin []float32, pos int) {
	for i, f := range r.invFreq {
		s, c := math.Sincos(float64(pos) * f)
		cos[i], sin[i] = float32(c), float32(s)
	}
}

// ropeApply rotates one head vector x[d] in place (non-interleaved,
// "rotate_half"), with the cos/sin of its position.
func ropeApply(x, cos, sin []float32) {
	h := len(cos)
	for i := 0; i < h; i++ {
		x1, x2 := x[i], x[i+h]
		x[i] = x1*cos[i] - x2*sin[i]
		x[i+h] = x2*cos[i] + x1*sin[i]
	}
}

// softmaxRow replaces row with its softmax (max-subtracted, sum in
// float64).
func softmaxRow(row []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for i, v := range row {
		e := expf(v - mx)
		row[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}

// argmax returns the index of the largest value (the first on ties).
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
