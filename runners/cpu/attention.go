package cpu

import (
	"math"
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

// writeKV stores one token's K (already rotated) and V of every KV head
// from a packed qkv row into cache column pos.
func writeKV(ls *layerState, row []float32, pos, cap, nkv, g, d int) {
	for k := 0; k < nkv; k++ {
		kr := row[kOffset(k, g, d):][:d]
		vr := row[vOffset(k, g, d):][:d]
		base := k*d*cap + pos
		for i := 0; i < d; i++ {
			ls.k[base+i*cap] = kr[i]
			ls.v[base+i*cap] = vr[i]
		}
	}
}

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
			ropeApply(row[kOffset(k, g, d):][:d], cs, sn)
		}
		writeKV(ls, row, p0+t, cap, nkv, g, d)
	}
	o := make([]float32, T*H)
	scale := float32(1 / math.Sqrt(float64(d)))
	n := p0 + T
	// Row-major copies of each KV head's keys [n, d], for S = Q Kᵀ.
	keys := make([]float32, nkv*n*d)
	for k := 0; k < nkv; k++ {
		for i := 0; i < d; i++ {
			row := ls.k[(k*d+i)*cap:][:n]
			for s, v := range row {
				keys[(k*n+s)*d+i] = v
			}
		}
	}
	block := min(attnBlock, T)
	scores := make([]float32, nh*block*n)
	parallelFor(nh, T*n*d, func(_, h int) {
		k := h / g
		K := keys[k*n*d:]    // [n, d]
		VT := ls.v[k*d*cap:] // [d, cap]
		qo := qOffset(h, g, d)
		for i0 := 0; i0 < T; i0 += attnBlock {
			bl := min(attnBlock, T-i0)
			nk := p0 + i0 + bl // keys visible to the block's last row
			S := scores[h*block*n:][:bl*nk]
			// S = Q Kᵀ / sqrt(d), causal softmax, O = S V (= S VTᵀ)
			matmulNTStrided(S, nk, qkv[i0*W+qo:], W, K, d, bl, nk, d)
			for r := 0; r < bl; r++ {
				row := S[r*nk : (r+1)*nk]
				valid := p0 + i0 + r + 1
				for i := range row[:valid] {
					row[i] *= scale
				}
				softmaxRow(row[:valid])
				clear(row[valid:])
			}
			matmulNTStrided(o[i0*H+h*d:], H, S, nk, VT, cap, bl, d, nk)
		}
	})
	linear(out, o, l.Wo, T, H, H)
}

// attentionStep runs layer li's attention for the token at pos (st.xn),
// writing its K and V into cache column pos and the output to st.out.
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
		ropeApply(qkv[kOffset(k, g, d):][:d], cs, sn)
	}
	writeKV(ls, qkv, pos, cap, nkv, g, d)
	n := pos + 1
	scale := float32(1 / math.Sqrt(float64(d)))
	o := st.mix[:H]
	// Per KV head, the g query heads of its group share each pass over a
	// cache row (one row per channel), so the cache is read once per step.
	if parallelWorth(nkv, 2*nh*n*d) {
		parallelFor(nkv, 2*nh*n*d, func(_, k int) { attendStep(st, ls, qkv, o, k, n, scale) })
	} else {
		for k := 0; k < nkv; k++ {
			attendStep(st, ls, qkv, o, k, n, scale)
		}
	}
	linear(st.out, o, l.Wo, 1, H, H)
}

// attendStep computes the decode attention output of KV head k's query
// heads into o, over the n cached positions.
func attendStep(st *State, ls *layerState, qkv, o []float32, k, n int, scale float32) {
	c := st.m.Config
	d, g, cap := c.HeadDim, c.Heads/c.KVHeads, st.cap
	KT := ls.k[k*d*cap:] // [d, cap]
	VT := ls.v[k*d*cap:]
	S := st.scores[k*g*cap:]
	for j := 0; j < g; j++ {
		clear(S[j*cap : j*cap+n])
	}
	// scores_j = Σ_i q_j[i]/sqrt(d) · Kᵀ[i, :n]
	for i := 0; i < d; i++ {
		row := KT[i*cap : i*cap+n]
		for j := 0; j < g; j++ {
			q := qkv[qOffset(k*g+j, g, d)+i] * scale
			impl.Saxpy(n, q, row, 1, S[j*cap:j*cap+n], 1)
		}
	}
	for j := 0; j < g; j++ {
		softmaxRow(S[j*cap : j*cap+n])
	}
	// out_j[i] = Vᵀ[i, :n] · p_j
	for i := 0; i < d; i++ {
		row := VT[i*cap : i*cap+n]
		for j := 0; j < g; j++ {
			o[(k*g+j)*d+i] = impl.Sdot(n, row, 1, S[j*cap:j*cap+n], 1)
		}
	}
}

// unpackWqkv splits a packed wqkv [(nh+2nkv)d, H] into Wq [nh d, H] (query
// head order), Wk and Wv [nkv d, H]: the reshape (nkv, g+2, d, H) of
// MODEL.md.
func unpackWqkv(wqkv []float32, nh, nkv, d, H int) (wq, wk, wv []float32) {
	g := nh / nkv
	wq, wk, wv = make([]float32, nh*d*H), make([]float32, nkv*d*H), make([]float32, nkv*d*H)
	for h := 0; h < nh; h++ {
		copy(wq[h*d*H:(h+1)*d*H], wqkv[qOffset(h, g, d)*H:])
	}
	for k := 0; k < nkv; k++ {
		copy(wk[k*d*H:(k+1)*d*H], wqkv[kOffset(k, g, d)*H:])
		copy(wv[k*d*H:(k+1)*d*H], wqkv[vOffset(k, g, d)*H:])
	}
	return wq, wk, wv
}

// packWqkv is the inverse of unpackWqkv.
func packWqkv(wq, wk, wv []float32, nh, nkv, d, H int) []float32 {
	g := nh / nkv
	out := make([]float32, (nh+2*nkv)*d*H)
	for h := 0; h < nh; h++ {
		copy(out[qOffset(h, g, d)*H:], wq[h*d*H:(h+1)*d*H])
	}
	for k := 0; k < nkv; k++ {
		copy(out[kOffset(k, g, d)*H:], wk[k*d*H:(k+1)*d*H])
		copy(out[vOffset(k, g, d)*H:], wv[k*d*H:(k+1)*d*H])
	}
	return out
}
