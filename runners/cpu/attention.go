package cpu

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// Packed wqkv layout (InternLM2): the projection output of one token is
// [nkv][g+2][d]: for KV head k, g query heads (q head k*g+j), then K, then V.

// qOffset returns the offset of query head h in a packed qkv row.
func qOffset(h, g, d int) int { return ((h/g)*(g+2) + h%g) * d }

// kOffset and vOffset return the offsets of KV head k's key and value.
func kOffset(k, g, d int) int { return (k*(g+2) + g) * d }
func vOffset(k, g, d int) int { return (k*(g+2) + g + 1) * d }

// attnBlock is the number of query rows whose scores prefill computes at
// once (a [attnBlock, context] score block per head).
const attnBlock = 64

// attentionPrefill runs layer li's attention over T rows of xn (positions
// p0..p0+T-1), appending K and V to the cache, and writes [T, H] to out.
func (m *Model) attentionPrefill(st *State, li int, xn, out []float32, T, p0 int, cos, sin []float32) {
	c := m.Config
	l := &m.Layers[li]
	ls := &st.layers[li]
	H, d, nh, nkv := c.Hidden, c.HeadDim, c.Heads, c.KVHeads
	g := nh / nkv
	W := (nh + 2*nkv) * d
	qkv := make([]float32, T*W)
	linear(qkv, xn, l.Wqkv, T, H, W)
	cap := st.cap
	for t := 0; t < T; t++ {
		row := qkv[t*W : (t+1)*W]
		cs, sn := cos[t*d/2:(t+1)*d/2], sin[t*d/2:(t+1)*d/2]
		for h := 0; h < nh; h++ {
			ropeApply(row[qOffset(h, g, d):][:d], cs, sn)
		}
		for k := 0; k < nkv; k++ {
			kr := row[kOffset(k, g, d):][:d]
			ropeApply(kr, cs, sn)
			copy(ls.k[(k*cap+p0+t)*d:], kr)
			copy(ls.v[(k*cap+p0+t)*d:], row[vOffset(k, g, d):][:d])
		}
	}
	o := make([]float32, T*H)
	scale := float32(1 / math.Sqrt(float64(d)))
	n := p0 + T
	scores := make([]float32, min(attnBlock, T)*n)
	for h := 0; h < nh; h++ {
		k := h / g
		K := ls.k[k*cap*d : (k*cap+n)*d]
		V := ls.v[k*cap*d : (k*cap+n)*d]
		qo := qOffset(h, g, d)
		for i0 := 0; i0 < T; i0 += attnBlock {
			bl := min(attnBlock, T-i0)
			nk := p0 + i0 + bl // keys visible to the block's last row
			S := scores[:bl*nk]
			impl.Sgemm(blas.NoTrans, blas.Trans, bl, nk, d, scale, qkv[i0*W+qo:], W, K, d, 0, S, nk)
			for r := 0; r < bl; r++ {
				row := S[r*nk : (r+1)*nk]
				valid := p0 + i0 + r + 1
				softmaxRow(row[:valid])
				clear(row[valid:])
			}
			impl.Sgemm(blas.NoTrans, blas.NoTrans, bl, d, nk, 1, S, nk, V, d, 0, o[i0*H+h*d:], H)
		}
	}
	linear(out, o, l.Wo, T, H, H)
}

// attentionStep runs layer li's attention for the token at pos (st.xn),
// writing its K and V into cache slot pos and the output to st.out.
func (m *Model) attentionStep(st *State, li, pos int) {
	c := m.Config
	l := &m.Layers[li]
	ls := &st.layers[li]
	H, d, nh, nkv := c.Hidden, c.HeadDim, c.Heads, c.KVHeads
	g := nh / nkv
	W := (nh + 2*nkv) * d
	part := partIndex(l.Layer)
	cs, sn := st.cos[part], st.sin[part]
	qkv := st.proj[:W]
	linear(qkv, st.xn, l.Wqkv, 1, H, W)
	cap := st.cap
	for h := 0; h < nh; h++ {
		ropeApply(qkv[qOffset(h, g, d):][:d], cs, sn)
	}
	for k := 0; k < nkv; k++ {
		kr := qkv[kOffset(k, g, d):][:d]
		ropeApply(kr, cs, sn)
		copy(ls.k[(k*cap+pos)*d:], kr)
		copy(ls.v[(k*cap+pos)*d:], qkv[vOffset(k, g, d):][:d])
	}
	n := pos + 1
	scale := float32(1 / math.Sqrt(float64(d)))
	o := st.mix[:H]
	S := st.scores[:n]
	for h := 0; h < nh; h++ {
		k := h / g
		K := ls.k[k*cap*d : (k*cap+n)*d]
		V := ls.v[k*cap*d : (k*cap+n)*d]
		// scores = K q / sqrt(d); out = Vᵀ softmax(scores)
		impl.Sgemv(blas.NoTrans, n, d, scale, K, d, qkv[qOffset(h, g, d):], 1, 0, S, 1)
		softmaxRow(S)
		impl.Sgemv(blas.Trans, n, d, 1, V, d, S, 1, 0, o[h*d:(h+1)*d], 1)
	}
	linear(st.out, o, l.Wo, 1, H, H)
}
