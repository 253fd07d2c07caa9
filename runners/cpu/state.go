package cpu

import (
	"github.com/ssmbench/ssmbench/runners/configs"
)

// State is one sequence's decode caches (KV cache of the attention layers,
// conv and SSM state of the Mamba-2 layers) and the scratch buffers of a
// decode step. A State belongs to one model and one goroutine at a time.
type State struct {
	m *Model
	// Pos is the number of tokens the state has consumed: the position of
	// the next token.
	Pos    int
	cap    int
	layers []layerState

	// Step scratch.
	x, xn, proj, mix, y, out, h1, h3, logits []float32
	scores                                   []float32 // [nh, cap]
	cos, sin                                 [2][]float32
}

type layerState struct {
	k, v []float32 // attention: [nkv][d][cap] (transposed: one row per channel), K after RoPE
	conv []float32 // Mamba-2: [C][K-1], the previous K-1 pre-conv inputs, oldest first
	ssm  []float32 // Mamba-2: [nh][d][N]
}

// NewState returns an empty state whose KV cache holds capacity tokens
// before it has to grow.
func (m *Model) NewState(capacity int) *State {
	c := m.Config
	H, d := c.Hidden, c.HeadDim
	vw, kw, qw, gw, dtw := c.MambaWidths()
	proj := max((c.Heads+2*c.KVHeads)*d, vw+kw+qw+gw+dtw)
	st := &State{
		m:      m,
		layers: make([]layerState, len(m.Layers)),
		x:      make([]float32, H),
		xn:     make([]float32, H),
		proj:   make([]float32, proj),
		mix:    make([]float32, max(H, c.ConvChannels())),
		y:      make([]float32, H),
		out:    make([]float32, H),
		h1:     make([]float32, c.Intermediate),
		h3:     make([]float32, c.Intermediate),
		logits: make([]float32, c.Vocab),
	}
	for i := range st.cos {
		st.cos[i] = make([]float32, d/2)
		st.sin[i] = make([]float32, d/2)
	}
	C, K := c.ConvChannels(), c.ConvKernel
	for i, l := range m.Layers {
		if l.Kind == configs.KindMamba2 {
			st.layers[i].conv = make([]float32, C*(K-1))
			st.layers[i].ssm = make([]float32, c.Heads*d*c.DState())
		}
	}
	st.grow(max(capacity, 1))
	return st
}

// Capacity returns how many tokens the KV cache holds before growing.
func (s *State) Capacity() int { return s.cap }

// grow makes room for n tokens in every KV cache, keeping the first Pos.
func (s *State) grow(n int) {
	if n <= s.cap {
		return
	}
	c := s.m.Config
	d, nkv := c.HeadDim, c.KVHeads
	for i, l := range s.m.Layers {
		if l.Kind != configs.KindAttention {
			continue
		}
		ls := &s.layers[i]
		k, v := make([]float32, nkv*d*n), make([]float32, nkv*d*n)
		if ls.k != nil {
			for r := 0; r < nkv*d; r++ { // one row per (KV head, channel)
				copy(k[r*n:r*n+s.Pos], ls.k[r*s.cap:])
				copy(v[r*n:r*n+s.Pos], ls.v[r*s.cap:])
			}
		}
		ls.k, ls.v = k, v
	}
	if s.m.Config.CountKind(configs.KindAttention) > 0 {
		s.scores = make([]float32, c.Heads*n)
	}
	s.cap = n
}

// ensure grows the caches geometrically to hold n tokens.
func (s *State) ensure(n int) {
	if n > s.cap {
		s.grow(max(n, s.cap+s.cap/2))
	}
}

// Reset empties the state: position 0, zero Mamba state. The KV cache
// keeps its capacity.
func (s *State) Reset() {
	s.Pos = 0
	for i := range s.layers {
		clear(s.layers[i].conv)
		clear(s.layers[i].ssm)
	}
}

// CacheBytes returns the bytes allocated for the KV caches (at capacity)
// and for the Mamba conv and SSM states.
func (s *State) CacheBytes() (kv, state int64) {
	for _, ls := range s.layers {
		kv += 4 * int64(len(ls.k)+len(ls.v))
		state += 4 * int64(len(ls.conv)+len(ls.ssm))
	}
	return kv, state
}

// Snapshot is a saved position and Mamba state, to roll a State back after
// decode steps. KV entries below the saved position are never overwritten
// by later steps, so they need no copy.
type Snapshot struct {
	pos    int
	layers []layerState
}

// Save records the state's position and Mamba state.
func (s *State) Save() *Snapshot {
	snap := &Snapshot{pos: s.Pos, layers: make([]layerState, len(s.layers))}
	for i, ls := range s.layers {
		snap.layers[i].conv = append([]float32(nil), ls.conv...)
		snap.layers[i].ssm = append([]float32(nil), ls.ssm...)
	}
	return snap
}

// Restore rolls the state back to a snapshot taken from it.
func (s *State) Restore(snap *Snapshot) {
	s.Pos = snap.pos
	for i := range s.layers {
		copy(s.layers[i].conv, snap.layers[i].conv)
		copy(s.layers[i].ssm, snap.layers[i].ssm)
	}
}
