package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
)

var tinyVariants = []string{"hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"}

func tinyModel(t testing.TB, name string, seed int64) *Model {
	t.Helper()
	cfg, err := configs.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomTokens(n, vocab int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int, n)
	for i := range out {
		out[i] = r.IntN(vocab)
	}
	return out
}

// maxRelDiff returns max|a-b| / max(max|b|, 1e-6).
func maxRelDiff(a, b []float32) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	return d / math.Max(s, 1e-6)
}

// The logits of decode step t equal the last-position logits of a prefill
// of the first t+1 tokens, for every variant; the prefill crosses a chunk
// boundary first, so the decode continues from a chunked-scan state.
func TestDecodeMatchesPrefill(t *testing.T) {
	const prompt, steps = 130, 6
	for _, name := range tinyVariants {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, name, 3)
			toks := randomTokens(prompt+steps, m.Config.Vocab, 11)
			st := m.NewState(8) // small capacity: decode must grow the cache
			all, err := m.Prefill(st, toks[:prompt], true)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			// Prefill's all-position logits agree with shorter prefills.
			for _, n := range []int{1, 64, 128, 129} {
				ref, err := m.Prefill(m.NewState(n), toks[:n], false)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxRelDiff(all[(n-1)*V:n*V], ref); d > 5e-6 {
					t.Errorf("prefill(%d) logits at position %d differ from prefill(%d): rel %.3g", prompt, n-1, n, d)
				}
			}
			for s := 0; s < steps; s++ {
				pos := prompt + s
				got, err := m.Step(st, toks[pos])
				if err != nil {
					t.Fatal(err)
				}
				ref, err := m.Prefill(m.NewState(pos+1), toks[:pos+1], false)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxRelDiff(got, ref); d > 5e-6 {
					t.Errorf("step at position %d: rel diff %.3g from a prefill of %d tokens", pos, d, pos+1)
				}
			}
			if st.Pos != prompt+steps {
				t.Errorf("Pos = %d", st.Pos)
			}
		})
	}
}

// Prefill in pieces (a continuation prefill from a non-empty state) equals
// one prefill.
func TestPrefillContinuation(t *testing.T) {
	for _, name := range tinyVariants {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, name, 5)
			toks := randomTokens(300, m.Config.Vocab, 2)
			ref, _ := m.Prefill(m.NewState(300), toks, false)
			st := m.NewState(1)
			for _, piece := range [][2]int{{0, 100}, {100, 101}, {101, 250}} {
				if _, err := m.Prefill(st, toks[piece[0]:piece[1]], false); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := m.Prefill(st, toks[250:], false)
			if d := maxRelDiff(got, ref); d > 5e-6 {
				t.Errorf("piecewise prefill differs: rel %.3g", d)
			}
		})
	}
}

// naiveScan is the step-by-step recurrence in float64.
func naiveScan(D mambaDims, post, dt []float32, A []float64, S0 []float32, T int) (y, S []float64) {
	P, N := D.d, D.N
	S = make([]float64, len(S0))
	for i, v := range S0 {
		S[i] = float64(v)
	}
	y = make([]float64, T*D.nh*P)
	for t := 0; t < T; t++ {
		row := post[t*D.C:]
		for h := 0; h < D.nh; h++ {
			j := h / D.g
			a := float64(dt[t*D.nh+h])
			decay := math.Exp(a * A[h])
			for p := 0; p < P; p++ {
				var acc float64
				for n := 0; n < N; n++ {
					i := (h*P+p)*N + n
					S[i] = decay*S[i] + a*float64(row[D.vOff+j*P+p])*float64(row[D.kOff+j*N+n])
					acc += S[i] * float64(row[D.qOff+h*N+n])
				}
				y[(t*D.nh+h)*P+p] = acc
			}
		}
	}
	return y, S
}

// The chunked SSD scan equals the recurrence, for lengths below, at and
// across chunk boundaries, from a zero and a non-zero initial state, and
// with decays from slow to fast.
func TestChunkedScanMatchesRecurrence(t *testing.T) {
	cfg, _ := configs.Builtin("mmmamba-linear-tiny")
	m, _ := NewRandom(cfg, 1)
	D := m.mambaDims()
	for _, tc := range []struct {
		T       int
		chunk   int
		dtMax   float64
		initial bool
	}{
		{1, 128, 0.1, false}, {7, 128, 0.1, true}, {127, 128, 0.1, false}, {128, 128, 0.1, true},
		{129, 128, 0.1, false}, {200, 128, 0.1, true}, {300, 128, 0.1, true}, {513, 128, 0.1, false},
		{300, 128, 3, true}, // fast decay: exp(cs) underflows across a chunk
		{100, 16, 0.1, true}, {45, 1, 0.1, true},
	} {
		t.Run(fmt.Sprintf("T%d_chunk%d_dt%g_init%v", tc.T, tc.chunk, tc.dtMax, tc.initial), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.T), uint64(tc.chunk)))
			post := make([]float32, tc.T*D.C)
			for i := range post {
				post[i] = float32(r.NormFloat64())
			}
			dt := make([]float32, tc.T*D.nh)
			for i := range dt {
				dt[i] = float32(tc.dtMax * math.Exp(-5*r.Float64()))
			}
			A := make([]float64, D.nh)
			for h := range A {
				A[h] = -math.Exp(r.Float64())
			}
			S := make([]float32, D.nh*D.d*D.N)
			if tc.initial {
				for i := range S {
					S[i] = float32(r.NormFloat64())
				}
			}
			wantY, wantS := naiveScan(D, post, dt, A, S, tc.T)
			y := make([]float32, tc.T*D.nh*D.d)
			ssdScan(D, tc.chunk, post, dt, A, S, y, tc.T)
			check := func(what string, got []float32, want []float64) {
				var d, s float64
				for i := range got {
					d = math.Max(d, math.Abs(float64(got[i])-want[i]))
					s = math.Max(s, math.Abs(want[i]))
				}
				if d/s > 1e-5 {
					t.Errorf("%s: max abs diff %.3g (scale %.3g)", what, d, s)
				}
			}
			check("y", y, wantY)
			check("final state", S, wantS)
		})
	}
}
