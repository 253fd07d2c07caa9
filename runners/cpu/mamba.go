package cpu

import (
	"math"
	"runtime"
)

// mambaDims are the Mamba-2 mixer's sizes.
type mambaDims struct {
	H, d, nh, nkv, g, N int
	C, K                int // conv channels and kernel
	Z                   int // wvkqgdt rows
	vOff, kOff, qOff    int // V, K, Q offsets in xbc (and z)
	gOff, dtOff         int // gate and dt offsets in z
}

func (m *Model) mambaDims() mambaDims {
	c := m.Config
	vw, kw, qw, gw, dtw := c.MambaWidths()
	return mambaDims{
		H: c.Hidden, d: c.HeadDim, nh: c.Heads, nkv: c.KVHeads, g: c.Heads / c.KVHeads, N: c.DState(),
		C: c.ConvChannels(), K: c.ConvKernel, Z: vw + kw + qw + gw + dtw,
		vOff: 0, kOff: vw, qOff: vw + kw, gOff: vw + kw + qw, dtOff: vw + kw + qw + gw,
	}
}

// mambaPrefill runs layer li's Mamba-2 mixer over T rows of xn from the
// state's conv and SSM state (updating both), writing [T, H] to out. The
// scan is the chunked (SSD) form with the config's chunk length.
func (m *Model) mambaPrefill(st *State, li int, xn, out []float32, T int) {
	l := &m.Layers[li]
	ls := &st.layers[li]
	D := m.mambaDims()
	z := make([]float32, T*D.Z)
	linear(z, xn, l.InProj, T, D.H, D.Z)

	// Depthwise causal conv over V|K|Q, then SiLU.
	post := make([]float32, T*D.C)
	K1 := D.K - 1
	for t := 0; t < T; t++ {
		in := z[t*D.Z : t*D.Z+D.C]
		dst := post[t*D.C : (t+1)*D.C]
		for ch := 0; ch < D.C; ch++ {
			w := l.ConvW[ch*D.K : (ch+1)*D.K]
			acc := l.ConvB[ch] + w[K1]*in[ch]
			for j := 0; j < K1; j++ {
				// input at time t-K1+j: from this call, or the saved state
				src := t - K1 + j
				var v float32
				if src >= 0 {
					v = z[src*D.Z+ch]
				} else {
					v = ls.conv[ch*K1+K1+src]
				}
				acc += w[j] * v
			}
			dst[ch] = silu(acc)
		}
	}
	if K1 > 0 { // the new conv state: the last K1 inputs of (old state ++ new inputs)
		old := append([]float32(nil), ls.conv...)
		for ch := 0; ch < D.C; ch++ {
			for s := 0; s < K1; s++ {
				idx := T + s // in the concatenation [old K1 | new T]
				if idx < K1 {
					ls.conv[ch*K1+s] = old[ch*K1+idx]
				} else {
					ls.conv[ch*K1+s] = z[(idx-K1)*D.Z+ch]
				}
			}
		}
	}

	dt := make([]float32, T*D.nh)
	for t := 0; t < T; t++ {
		for h := 0; h < D.nh; h++ {
			dt[t*D.nh+h] = float32(softplus(float64(z[t*D.Z+D.dtOff+h]) + float64(l.DtBias[h])))
		}
	}
	A := make([]float64, D.nh)
	for h := range A {
		A[h] = -math.Exp(float64(l.ALog[h]))
	}
	y := make([]float32, T*D.nh*D.d)
	ssdScan(D, m.Config.ChunkSize, post, dt, A, ls.ssm, y, T)
	m.gateOut(l, D, y, z, out, T)
}

// gateOut applies the per-head RMSNorm, the SiLU gate and o_proj to T rows
// of y (overwritten), writing [T, H] to out.
func (m *Model) gateOut(l *Layer, D mambaDims, y, z, out []float32, T int) {
	eps := m.Config.NormEps
	for t := 0; t < T; t++ {
		for h := 0; h < D.nh; h++ {
			yh := y[(t*D.nh+h)*D.d : (t*D.nh+h+1)*D.d]
			rmsNorm(yh, yh, l.GNorm, D.d, eps)
			gate := z[t*D.Z+D.gOff+h*D.d:]
			for i := range yh {
				yh[i] *= silu(gate[i])
			}
		}
	}
	linear(out, y, l.OProj, T, D.nh*D.d, D.H)
}

// ssdScan computes y [T, nh*d] for the recurrence
//
//	S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_tᵀ,  y_t = S_t C_t
//
// per head, starting from and updating S [nh][d][N], in chunks of length
// Q. x, B, C are read from post [T, C] (x = V and B = K of the head's KV
// group, C = Q of the head). Within a chunk, with cs_t the cumulative sum
// of dt·A:
//
//	y_t = Σ_{s<=t} exp(cs_t - cs_s) dt_s (C_t·B_s) x_s + exp(cs_t) S_prev C_t
//	S   = exp(cs_Q) S_prev + Σ_s exp(cs_Q - cs_s) dt_s x_s B_sᵀ
func ssdScan(D mambaDims, Q int, post, dt []float32, A []float64, S, y []float32, T int) {
	P, N := D.d, D.N
	Y := D.nh * D.d
	type scratch struct {
		cs, ecs, necs      []float64
		G, tmp, xt, bt, st []float32
	}
	workers := make([]*scratch, runtime.GOMAXPROCS(0))
	for t0 := 0; t0 < T; t0 += Q {
		L := min(Q, T-t0)
		parallelFor(D.nh, D.nh*L*(L+P)*N, func(w, h int) {
			sc := workers[w]
			if sc == nil {
				sc = &scratch{
					cs: make([]float64, Q), ecs: make([]float64, Q), necs: make([]float64, Q),
					G: make([]float32, Q*Q), tmp: make([]float32, Q*P), xt: make([]float32, P*Q),
					bt: make([]float32, N*Q), st: make([]float32, P*N),
				}
				workers[w] = sc
			}
			j := h / D.g
			Sh := S[h*P*N : (h+1)*P*N]
			X := post[t0*D.C+D.vOff+j*P:]
			B := post[t0*D.C+D.kOff+j*N:]
			Cm := post[t0*D.C+D.qOff+h*N:]
			cs, ecs, necs := sc.cs, sc.ecs, sc.necs
			var acc float64
			for t := 0; t < L; t++ {
				acc += float64(dt[(t0+t)*D.nh+h]) * A[h]
				cs[t] = acc
			}
			// exp(cs_t - cs_s) = exp(cs_t) exp(-cs_s) is exact enough in
			// float64 while exp(-cs) stays far from overflow.
			factored := -cs[L-1] < 600
			for t := 0; t < L; t++ {
				ecs[t] = math.Exp(cs[t])
				if factored {
					necs[t] = math.Exp(-cs[t])
				}
			}
			decay := func(t, s int) float64 {
				if factored {
					return ecs[t] * necs[s]
				}
				return math.Exp(cs[t] - cs[s])
			}
			// Transposed chunk inputs: xt [P, L] and bt [N, L].
			xt, bt := sc.xt[:P*L], sc.bt[:N*L]
			for s := 0; s < L; s++ {
				xr, br := X[s*D.C:s*D.C+P], B[s*D.C:s*D.C+N]
				for p, v := range xr {
					xt[p*L+s] = v
				}
				for n, v := range br {
					bt[n*L+s] = v
				}
			}
			// G = C Bᵀ, masked and weighted by decay and dt.
			g := sc.G[:L*L]
			matmulNTStrided(g, L, Cm, D.C, B, D.C, L, L, N)
			for t := 0; t < L; t++ {
				row := g[t*L : (t+1)*L]
				for s := 0; s <= t; s++ {
					row[s] = float32(float64(row[s]) * decay(t, s) * float64(dt[(t0+s)*D.nh+h]))
				}
				clear(row[t+1:])
			}
			Yh := y[t0*Y+h*P:]
			matmulNTStrided(Yh, Y, g, L, xt, L, L, P, L)
			// Contribution of the state entering the chunk: exp(cs_t) C_t·S.
			tp := sc.tmp[:L*P]
			matmulNTStrided(tp, P, Cm, D.C, Sh, N, L, P, N)
			for t := 0; t < L; t++ {
				e := float32(ecs[t])
				yr := Yh[t*Y : t*Y+P]
				for p, v := range tp[t*P : (t+1)*P] {
					yr[p] += e * v
				}
			}
			// State leaving the chunk: exp(cs_L) S + Σ_s w_s x_s B_sᵀ.
			for s := 0; s < L; s++ {
				ws := float32(decay(L-1, s) * float64(dt[(t0+s)*D.nh+h]))
				for p := 0; p < P; p++ {
					xt[p*L+s] *= ws
				}
			}
			upd := sc.st[:P*N]
			matmulNTStrided(upd, N, xt, L, bt, L, P, N, L)
			e := float32(ecs[L-1])
			for i, v := range upd {
				Sh[i] = e*Sh[i] + v
			}
		})
	}
}

// mambaStep runs layer li's Mamba-2 mixer for one token (st.xn) with the
// recurrent form, updating the conv and SSM state; output to st.out.
func (m *Model) mambaStep(st *State, li int) {
	l := &m.Layers[li]
	ls := &st.layers[li]
	D := m.mambaDims()
	z := st.proj[:D.Z]
	linear(z, st.xn, l.InProj, 1, D.H, D.Z)
	post := st.mix[:D.C]
	K1 := D.K - 1
	for ch := 0; ch < D.C; ch++ {
		w := l.ConvW[ch*D.K : (ch+1)*D.K]
		acc := l.ConvB[ch] + w[K1]*z[ch]
		state := ls.conv[ch*K1 : (ch+1)*K1]
		for j, v := range state {
			acc += w[j] * v
		}
		if K1 > 0 {
			copy(state, state[1:])
			state[K1-1] = z[ch]
		}
		post[ch] = silu(acc)
	}
	P, N := D.d, D.N
	y := st.y
	for h := 0; h < D.nh; h++ {
		j := h / D.g
		dt := softplus(float64(z[D.dtOff+h]) + float64(l.DtBias[h]))
		decay := float32(math.Exp(dt * -math.Exp(float64(l.ALog[h]))))
		dtf := float32(dt)
		x := post[D.vOff+j*P : D.vOff+(j+1)*P]
		B := post[D.kOff+j*N : D.kOff+(j+1)*N]
		Cq := post[D.qOff+h*N : D.qOff+(h+1)*N]
		Sh := ls.ssm[h*P*N : (h+1)*P*N]
		for p := 0; p < P; p++ {
			row := Sh[p*N : (p+1)*N]
			xp := dtf * x[p]
			var acc float32
			for n := range row {
				v := decay*row[n] + xp*B[n]
				row[n] = v
				acc += v * Cq[n]
			}
			y[h*P+p] = acc
		}
	}
	m.gateOut(l, D, y, z, st.out, 1)
}
