package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ssmbench/ssmbench/runners/configs"
)

// CalibrationTokens is the longest real prefill FillSynthetic runs to learn
// the scale of each layer's cache and state.
const CalibrationTokens = 256

// FillSynthetic puts st at position n with synthesised caches instead of a
// real prefill of n tokens, so that a decode step at long context can be
// measured without an O(n²) CPU prefill. A real prefill of
// min(n, CalibrationTokens) random tokens first measures the RMS of every
// layer's K, V, conv state and SSM state; the caches are then filled with
// uniform values of the same RMS (K and V per channel, for all n positions). Decode cost
// does not depend on the values; their scale keeps the softmax and the
// recurrence in a realistic range.
func (m *Model) FillSynthetic(st *State, n int, seed uint64) error {
	if n < 1 {
		return fmt.Errorf("synthetic cache fill: length %d must be >= 1", n)
	}
	c := m.Config
	calib := min(n, CalibrationTokens)
	cs := m.NewState(calib)
	if _, err := m.Prefill(cs, PromptTokens(c, calib, seed), false); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	fill := func(dst []float32, rms float64) {
		a := float32(rms * math.Sqrt(3))
		for i := range dst {
			dst[i] = a * (2*r.Float32() - 1)
		}
	}
	st.Reset()
	st.ensure(n)
	for i, l := range m.Layers {
		src, dst := &cs.layers[i], &st.layers[i]
		if l.Kind == configs.KindAttention {
			for r := 0; r < c.KVHeads*c.HeadDim; r++ { // one row per (KV head, channel)
				fill(dst.k[r*st.cap:r*st.cap+n], rmsOf(src.k[r*cs.cap:r*cs.cap+calib]))
				fill(dst.v[r*st.cap:r*st.cap+n], rmsOf(src.v[r*cs.cap:r*cs.cap+calib]))
			}
			continue
		}
		fill(dst.conv, rmsOf(src.conv))
		fill(dst.ssm, rmsOf(src.ssm))
	}
	st.Pos = n
	return nil
}

func rmsOf(v []float32) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s / float64(len(v)))
}

// PromptTokens returns n deterministic pseudo-random text tokens for a
// benchmark prompt: ids below min(vocab, text vocab), never the
// <IMG_CONTEXT> id.
func PromptTokens(c *configs.Model, n int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 0x70c))
	hi := min(c.Vocab, c.TextVocab)
	out := make([]int, n)
	for i := range out {
		t := r.IntN(hi)
		for t == c.ImgContextTok {
			t = r.IntN(hi)
		}
		out[i] = t
	}
	return out
}
