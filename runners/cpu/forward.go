package cpu

import (
	"fmt"

	"github.com/ssmbench/ssmbench/runners/configs"
)

// partIndex maps a layer's part to its RoPE table index.
func partIndex(l configs.Layer) int {
	if l.Part == "embedding" {
		return 0
	}
	return 1
}

// Embed returns the text embeddings [T, H] of tokens.
func (m *Model) Embed(tokens []int) ([]float32, error) {
	H := m.Config.Hidden
	x := make([]float32, len(tokens)*H)
	for t, tok := range tokens {
		if tok < 0 || tok >= m.Config.TextVocab {
			return nil, fmt.Errorf("token %d at position %d is outside the text vocabulary [0, %d)", tok, t, m.Config.TextVocab)
		}
		copy(x[t*H:(t+1)*H], m.TextEmbed[tok*H:])
	}
	return x, nil
}

// Prefill runs tokens through the model from the state's position, filling
// its caches with the chunked (SSD) scan for Mamba-2 layers and blocked
// causal attention. It returns the logits of every position ([T, V]) when
// all is set, else those of the last position ([V]).
func (m *Model) Prefill(st *State, tokens []int, all bool) ([]float32, error) {
	x, err := m.Embed(tokens)
	if err != nil {
		return nil, err
	}
	return m.PrefillEmbeds(st, x, all)
}

// PrefillEmbeds is Prefill from input embeddings x [T, H] (text embeddings
// with image tokens spliced in, see SpliceImages). x is overwritten.
func (m *Model) PrefillEmbeds(st *State, x []float32, all bool) ([]float32, error) {
	c := m.Config
	H, d := c.Hidden, c.HeadDim
	if len(x) == 0 || len(x)%H != 0 {
		return nil, fmt.Errorf("prefill: %d input values is not a positive multiple of hidden size %d", len(x), H)
	}
	T := len(x) / H
	p0 := st.Pos
	st.ensure(p0 + T)
	var cos, sin [2][]float32
	for p := range cos {
		cos[p], sin[p] = make([]float32, T*d/2), make([]float32, T*d/2)
		for t := 0; t < T; t++ {
			m.rope[p].angles(cos[p][t*d/2:(t+1)*d/2], sin[p][t*d/2:(t+1)*d/2], p0+t)
		}
	}
	xn := make([]float32, T*H)
	out := make([]float32, T*H)
	for i := range m.Layers {
		l := &m.Layers[i]
		rmsNorm(xn, x, l.AttnNorm, H, c.NormEps)
		if l.Kind == configs.KindAttention {
			m.attentionPrefill(st, i, xn, out, T, p0, cos[partIndex(l.Layer)], sin[partIndex(l.Layer)])
		} else {
			m.mambaPrefill(st, i, xn, out, T)
		}
		addTo(x, out)
		rmsNorm(xn, x, l.FFNNorm, H, c.NormEps)
		m.mlp(l, xn, out, T)
		addTo(x, out)
	}
	st.Pos = p0 + T
	if !all {
		x = x[(T-1)*H:]
		T = 1
	}
	rmsNorm(x, x, m.FinalNorm, H, c.NormEps)
	logits := make([]float32, T*c.Vocab)
	linear(logits, x, m.Output, T, H, c.Vocab)
	return logits, nil
}

// mlp computes the SwiGLU MLP of layer l over T rows of xn into out.
func (m *Model) mlp(l *Layer, xn, out []float32, T int) {
	c := m.Config
	h1 := make([]float32, T*c.Intermediate)
	h3 := make([]float32, T*c.Intermediate)
	linear(h1, xn, l.W1, T, c.Hidden, c.Intermediate)
	linear(h3, xn, l.W3, T, c.Hidden, c.Intermediate)
	swiglu(h1, h3)
	linear(out, h1, l.W2, T, c.Intermediate, c.Hidden)
}

// Step feeds one token at the state's position through the recurrent
// decode path (one KV row per attention layer, one recurrence step per
// Mamba-2 layer) and returns its logits [V]. The slice is the state's
// scratch, valid until the next Step. Step allocates nothing unless the KV
// cache must grow or a product is large enough to be split over goroutines.
func (m *Model) Step(st *State, token int) ([]float32, error) {
	c := m.Config
	if token < 0 || token >= c.TextVocab {
		return nil, fmt.Errorf("token %d is outside the text vocabulary [0, %d)", token, c.TextVocab)
	}
	H := c.Hidden
	copy(st.x, m.TextEmbed[token*H:(token+1)*H])
	return m.StepEmbed(st, st.x), nil
}

// StepEmbed is Step from an input embedding x [H] (which may alias the
// state's scratch).
func (m *Model) StepEmbed(st *State, x []float32) []float32 {
	c := m.Config
	H := c.Hidden
	if &x[0] != &st.x[0] {
		copy(st.x, x)
	}
	x = st.x
	pos := st.Pos
	st.ensure(pos + 1)
	for p := range st.cos {
		m.rope[p].angles(st.cos[p], st.sin[p], pos)
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		rmsNorm(st.xn, x, l.AttnNorm, H, c.NormEps)
		if l.Kind == configs.KindAttention {
			m.attentionStep(st, i, pos)
		} else {
			m.mambaStep(st, i)
		}
		addTo(x, st.out)
		rmsNorm(st.xn, x, l.FFNNorm, H, c.NormEps)
		linear(st.h1, st.xn, l.W1, 1, H, c.Intermediate)
		linear(st.h3, st.xn, l.W3, 1, H, c.Intermediate)
		swiglu(st.h1, st.h3)
		linear(st.out, st.h1, l.W2, 1, c.Intermediate, H)
		addTo(x, st.out)
	}
	st.Pos = pos + 1
	rmsNorm(st.xn, x, m.FinalNorm, H, c.NormEps)
	linear(st.logits, st.xn, m.Output, 1, H, c.Vocab)
	return st.logits
}
