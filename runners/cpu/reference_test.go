package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
)

// This file re-implements runners/MODEL.md line by line, in float64 and
// with no attempt at speed or shared code, as an independent check of the
// optimised forward pass.

func refMatVec(w []float32, rows, cols int, x []float64) []float64 {
	y := make([]float64, rows)
	for r := 0; r < rows; r++ {
		var s float64
		for c := 0; c < cols; c++ {
			s += float64(w[r*cols+c]) * x[c]
		}
		y[r] = s
	}
	return y
}

func refRMSNorm(x []float64, w []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * inv * float64(w[i])
	}
	return out
}

func refSilu(z float64) float64 { return z / (1 + math.Exp(-z)) }

// refRope applies MODEL.md's rotate_half RoPE to one head vector.
func refRope(x []float64, pos int, theta float64) []float64 {
	d := len(x)
	out := make([]float64, d)
	for i := 0; i < d/2; i++ {
		ang := float64(pos) * math.Pow(theta, -2*float64(i)/float64(d))
		x1, x2 := x[i], x[i+d/2]
		out[i] = x1*math.Cos(ang) - x2*math.Sin(ang)
		out[i+d/2] = x2*math.Cos(ang) + x1*math.Sin(ang)
	}
	return out
}

func refAttention(c *configs.Model, l *Layer, xs [][]float64) [][]float64 {
	H, d, nh, nkv := c.Hidden, c.HeadDim, c.Heads, c.KVHeads
	g := nh / nkv
	T := len(xs)
	// W = wqkv.reshape(nkv, g+2, d, H); Wq = W[:, :g] -> (nh, d, H);
	// Wk = W[:, g]; Wv = W[:, g+1]
	row := func(kv, slot, i int) []float32 {
		r := ((kv*(g+2)+slot)*d + i) * H
		return l.Wqkv[r : r+H]
	}
	proj := func(kv, slot int, x []float64) []float64 {
		out := make([]float64, d)
		for i := 0; i < d; i++ {
			w := row(kv, slot, i)
			for j, v := range x {
				out[i] += float64(w[j]) * v
			}
		}
		return out
	}
	q := make([][][]float64, T) // [t][head][d]
	k := make([][][]float64, T) // [t][kvhead][d]
	v := make([][][]float64, T)
	for t, x := range xs {
		q[t], k[t], v[t] = make([][]float64, nh), make([][]float64, nkv), make([][]float64, nkv)
		for h := 0; h < nh; h++ {
			q[t][h] = refRope(proj(h/g, h%g, x), t, l.Theta)
		}
		for kv := 0; kv < nkv; kv++ {
			k[t][kv] = refRope(proj(kv, g, x), t, l.Theta)
			v[t][kv] = proj(kv, g+1, x)
		}
	}
	out := make([][]float64, T)
	for t := 0; t < T; t++ {
		cat := make([]float64, H)
		for h := 0; h < nh; h++ {
			kv := h / g // query head h reads KV head h // g
			scores := make([]float64, t+1)
			mx := math.Inf(-1)
			for s := 0; s <= t; s++ {
				for i := 0; i < d; i++ {
					scores[s] += q[t][h][i] * k[s][kv][i]
				}
				scores[s] /= math.Sqrt(float64(d))
				mx = math.Max(mx, scores[s])
			}
			var sum float64
			for s := range scores {
				scores[s] = math.Exp(scores[s] - mx)
				sum += scores[s]
			}
			for s := range scores {
				for i := 0; i < d; i++ {
					cat[h*d+i] += scores[s] / sum * v[s][kv][i]
				}
			}
		}
		out[t] = refMatVec(l.Wo, H, H, cat)
	}
	return out
}

func refMamba(c *configs.Model, l *Layer, xs [][]float64) [][]float64 {
	H, d, nh, nkv, K := c.Hidden, c.HeadDim, c.Heads, c.KVHeads, c.ConvKernel
	g := nh / nkv
	N := d
	Cc := (2*nkv + nh) * d
	Z := 2*nkv*d + 2*nh*d + nh
	T := len(xs)
	zs := make([][]float64, T)
	for t, x := range xs {
		zs[t] = refMatVec(l.InProj, Z, H, x)
	}
	S := make([][][]float64, nh) // [h][p][n]
	for h := range S {
		S[h] = make([][]float64, d)
		for p := range S[h] {
			S[h][p] = make([]float64, N)
		}
	}
	out := make([][]float64, T)
	for t := 0; t < T; t++ {
		z := zs[t]
		// v, k, q, gate, dtr = split(z, [nkv*d, nkv*d, nh*d, nh*d, nh]);
		// xbc = concat(v, k, q) = z[:Cc]
		xbc := make([]float64, Cc)
		for ch := 0; ch < Cc; ch++ {
			acc := float64(l.ConvB[ch])
			for j := 0; j < K; j++ {
				src := t - (K - 1) + j
				if src >= 0 {
					acc += float64(l.ConvW[ch*K+j]) * zs[src][ch]
				}
			}
			xbc[ch] = refSilu(acc)
		}
		vv := xbc[:nkv*d]
		kk := xbc[nkv*d : 2*nkv*d]
		qq := xbc[2*nkv*d:]
		gate := z[Cc : Cc+nh*d]
		dtr := z[Cc+nh*d:]
		y := make([]float64, nh*d)
		for h := 0; h < nh; h++ {
			grp := h / g
			x := vv[grp*d : (grp+1)*d]
			B := kk[grp*N : (grp+1)*N]
			C := qq[h*N : (h+1)*N]
			pre := dtr[h] + float64(l.DtBias[h])
			dt := math.Log1p(math.Exp(pre))
			A := -math.Exp(float64(l.ALog[h]))
			for p := 0; p < d; p++ {
				for n := 0; n < N; n++ {
					S[h][p][n] = math.Exp(dt*A)*S[h][p][n] + dt*x[p]*B[n]
					y[h*d+p] += S[h][p][n] * C[n]
				}
			}
			yn := refRMSNorm(y[h*d:(h+1)*d], l.GNorm, c.NormEps)
			for i := range yn {
				y[h*d+i] = yn[i] * refSilu(gate[h*d+i])
			}
		}
		out[t] = refMatVec(l.OProj, H, H, y)
	}
	return out
}

func refForward(m *Model, tokens []int) [][]float64 {
	c := m.Config
	H := c.Hidden
	xs := make([][]float64, len(tokens))
	for t, tok := range tokens {
		xs[t] = make([]float64, H)
		for i := range xs[t] {
			xs[t][i] = float64(m.TextEmbed[tok*H+i])
		}
	}
	for li := range m.Layers {
		l := &m.Layers[li]
		xn := make([][]float64, len(xs))
		for t := range xs {
			xn[t] = refRMSNorm(xs[t], l.AttnNorm, c.NormEps)
		}
		var mix [][]float64
		if l.Kind == configs.KindAttention {
			mix = refAttention(c, l, xn)
		} else {
			mix = refMamba(c, l, xn)
		}
		for t := range xs {
			for i := range xs[t] {
				xs[t][i] += mix[t][i]
			}
			f := refRMSNorm(xs[t], l.FFNNorm, c.NormEps)
			a := refMatVec(l.W1, c.Intermediate, H, f)
			b := refMatVec(l.W3, c.Intermediate, H, f)
			for i := range a {
				a[i] = refSilu(a[i]) * b[i]
			}
			o := refMatVec(l.W2, H, c.Intermediate, a)
			for i := range xs[t] {
				xs[t][i] += o[i]
			}
		}
	}
	logits := make([][]float64, len(xs))
	for t := range xs {
		logits[t] = refMatVec(m.Output, c.Vocab, H, refRMSNorm(xs[t], m.FinalNorm, c.NormEps))
	}
	return logits
}

// The optimised prefill (chunked scan with a short chunk, so that chunk
// boundaries are crossed) and the decode path both agree with the literal
// float64 rendering of MODEL.md.
func TestForwardMatchesModelSpec(t *testing.T) {
	const T = 21
	for _, name := range tinyVariants {
		for _, chunk := range []int{128, 8} {
			t.Run(fmt.Sprintf("%s/chunk%d", name, chunk), func(t *testing.T) {
				cfg, _ := configs.Builtin(name)
				cc := *cfg
				cc.ChunkSize = chunk
				m, err := NewRandom(&cc, 8)
				if err != nil {
					t.Fatal(err)
				}
				toks := randomTokens(T, cc.Vocab, 4)
				ref := refForward(m, toks)
				got, err := m.Prefill(m.NewState(T), toks, true)
				if err != nil {
					t.Fatal(err)
				}
				st := m.NewState(1)
				for pos := 0; pos < T; pos++ {
					want := make([]float32, cc.Vocab)
					for i, v := range ref[pos] {
						want[i] = float32(v)
					}
					if d := maxRelDiff(got[pos*cc.Vocab:(pos+1)*cc.Vocab], want); d > 5e-6 {
						t.Errorf("prefill position %d: rel diff %.3g from the spec", pos, d)
					}
					step, err := m.Step(st, toks[pos])
					if err != nil {
						t.Fatal(err)
					}
					if d := maxRelDiff(step, want); d > 5e-6 {
						t.Errorf("decode position %d: rel diff %.3g from the spec", pos, d)
					}
				}
			})
		}
	}
}
