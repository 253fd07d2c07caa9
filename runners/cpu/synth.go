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

// calibration holds the RMS of every layer's caches after a real prefill:
// per (KV head, channel) row for K and V, per layer for the Mamba states.
type calibration struct {
	k, v      [][]float64
	conv, ssm []float64
}

// calibrate runs (once per length; the result is cached in the model) a
// real prefill of n deterministic prompt tokens and measures the RMS of
// each layer's caches.
func (m *Model) calibrate(n int) (*calibration, error) {
	m.calibMu.Lock()
	defer m.calibMu.Unlock()
	if cal, ok := m.calib[n]; ok {
		return cal, nil
	}
	c := m.Config
	cs := m.NewState(n)
	if _, err := m.Prefill(cs, PromptTokens(c, n, 0xca11b), false); err != nil {
		return nil, err
	}
	cal := &calibration{
		k: make([][]float64, len(m.Layers)), v: make([][]float64, len(m.Layers)),
		conv: make([]float64, len(m.Layers)), ssm: make([]float64, len(m.Layers)),
	}
	for i, l := range m.Layers {
		src := &cs.layers[i]
		if l.Kind == configs.KindAttention {
			for r := 0; r < c.KVHeads*c.HeadDim; r++ { // one row per (KV head, channel)
				cal.k[i] = append(cal.k[i], rmsOf(src.k[r*cs.cap:r*cs.cap+n]))
				cal.v[i] = append(cal.v[i], rmsOf(src.v[r*cs.cap:r*cs.cap+n]))
			}
			continue
		}
		cal.conv[i], cal.ssm[i] = rmsOf(src.conv), rmsOf(src.ssm)
	}
	if m.calib == nil {
		m.calib = map[int]*calibration{}
	}
	m.calib[n] = cal
	return cal, nil
}

// FillSynthetic puts st at position n with synthesised caches instead of a
// real prefill of n tokens, so that a decode step at long context can be
// measured without an O(n²) CPU prefill. A real prefill of
// min(n, CalibrationTokens) tokens (run once per model and length) gives
// the RMS of every layer's K and V per channel and of its conv and SSM
// state; the caches are filled with uniform values of the same RMS, K and
// V for all n positions. Decode cost does not depend on the values; their
// scale keeps the softmax and the recurrence in a realistic range.
func (m *Model) FillSynthetic(st *State, n int, seed uint64) error {
	if n < 1 {
		return fmt.Errorf("synthetic cache fill: length %d must be >= 1", n)
	}
	cal, err := m.calibrate(min(n, CalibrationTokens))
	if err != nil {
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
		dst := &st.layers[i]
		if l.Kind == configs.KindAttention {
			for row := range cal.k[i] {
				fill(dst.k[row*st.cap:row*st.cap+n], cal.k[i][row])
				fill(dst.v[row*st.cap:row*st.cap+n], cal.v[i][row])
			}
			continue
		}
		fill(dst.conv, cal.conv[i])
		fill(dst.ssm, cal.ssm[i])
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
