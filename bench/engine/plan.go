package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	"github.com/ssmbench/ssmbench/bench/spec"
)

// Cell is one point of a sweep's grid: one measurement with its own
// warm-up, repetitions and result row.
type Cell struct {
	Index     int    // position in the sweep's order
	ID        string // stable hash of everything that defines the cell
	Variant   string
	Model     spec.Model
	Phase     string
	SeqLen    int
	Batch     int
	NewTokens int // generate only
	Profile   string
	DType     string
	MemoryCap int64
	CacheFill string // decode only
	// Reps and Warmup are the repetition policy of the cell's grid.
	Reps   int
	Warmup spec.Warmup
}

// LoadKey identifies the runner process (and loaded model) a cell needs.
type LoadKey struct {
	Variant   string
	Profile   string
	DType     string
	MemoryCap int64
}

// Key returns the cell's LoadKey.
func (c Cell) Key() LoadKey {
	return LoadKey{Variant: c.Variant, Profile: c.Profile, DType: c.DType, MemoryCap: c.MemoryCap}
}

func (k LoadKey) String() string {
	s := fmt.Sprintf("%s/%s/%s", k.Variant, k.Profile, k.DType)
	if k.MemoryCap > 0 {
		s += fmt.Sprintf("/cap=%.1fGiB", float64(k.MemoryCap)/(1<<30))
	}
	return s
}

// Tokens returns the tokens one repetition processes or generates per
// sequence times the batch: the denominator of tokens/s and J/token.
func (c Cell) Tokens() int {
	switch c.Phase {
	case "prefill":
		return c.SeqLen * c.Batch
	case "generate":
		return c.NewTokens * c.Batch
	}
	return c.Batch
}

func (c Cell) String() string {
	s := fmt.Sprintf("%s %s seq=%d b=%d %s/%s", c.Phase, c.Variant, c.SeqLen, c.Batch, c.Profile, c.DType)
	if c.MemoryCap > 0 {
		s += fmt.Sprintf(" cap=%.0fGiB", float64(c.MemoryCap)/(1<<30))
	}
	return s
}

// cost ranks cells from cheap to expensive: by tokens of context, then by
// phase (a decode step is cheaper than a prefill of the same length). A
// generate cell counts each new token as a long prompt's worth of work, so
// it runs after the decode and prefill cells of moderate length.
func (c Cell) cost() (int, int) {
	phase := map[string]int{"decode": 0, "prefill": 1, "generate": 2}[c.Phase]
	return (c.SeqLen + 256*c.NewTokens) * c.Batch, phase
}

// Plan expands a spec's grids into cells and orders them.
//
// Cells are grouped by LoadKey (one runner process each). Groups are taken
// MaxLive at a time; within such a batch of groups the cells go from cheap
// to expensive with variants interleaved, so an interrupted sweep holds every
// variant at the short contexts and slow drift of the machine touches all
// variants alike. With MaxLive 1 (the GPU default: one model resident at a
// time) each variant's cells run together, cheap first. Duplicate cells
// (the same cell in two grids) are kept once.
func Plan(s *spec.Spec) []Cell {
	var cells []Cell
	seen := map[string]bool{}
	for _, g := range s.Grids {
		for _, v := range g.Variant {
			for _, prof := range g.Profile {
				for _, dt := range g.DType {
					for _, cap := range g.MemoryCap {
						for _, ph := range g.Phase {
							for _, b := range g.Batch {
								for _, l := range g.SeqLen {
									c := Cell{Variant: v, Model: s.ModelFor(v), Phase: ph, SeqLen: l, Batch: b,
										Profile: prof, DType: dt, MemoryCap: cap}
									if ph == "generate" {
										c.NewTokens = s.NewTokens
									}
									if ph == "decode" {
										c.CacheFill = s.CacheFill
									}
									c.Reps, c.Warmup = s.Repetitions, s.Warmup
									if g.Repetitions > 0 {
										c.Reps = g.Repetitions
									}
									if g.Warmup != nil {
										c.Warmup = *g.Warmup
									}
									c.ID = cellID(c)
									if seen[c.ID] {
										continue
									}
									seen[c.ID] = true
									cells = append(cells, c)
								}
							}
						}
					}
				}
			}
		}
	}
	order(cells, s.Runner.MaxLive, variantOrder(s))
	for i := range cells {
		cells[i].Index = i
	}
	return cells
}

func variantOrder(s *spec.Spec) map[string]int {
	o := map[string]int{}
	for _, g := range s.Grids {
		for _, v := range g.Variant {
			if _, ok := o[v]; !ok {
				o[v] = len(o)
			}
		}
	}
	return o
}

func order(cells []Cell, maxLive int, vorder map[string]int) {
	// Group order: by profile, dtype and cap first, variants interleaved
	// inside, in the order the spec names them.
	var keys []LoadKey
	seen := map[LoadKey]bool{}
	for _, c := range cells {
		if !seen[c.Key()] {
			seen[c.Key()] = true
			keys = append(keys, c.Key())
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.MemoryCap != b.MemoryCap {
			return a.MemoryCap < b.MemoryCap
		}
		if a.Profile != b.Profile {
			return a.Profile < b.Profile
		}
		if a.DType != b.DType {
			return a.DType < b.DType
		}
		return vorder[a.Variant] < vorder[b.Variant]
	})
	if maxLive < 1 {
		maxLive = 1
	}
	batch := map[LoadKey]int{}
	rank := map[LoadKey]int{}
	for i, k := range keys {
		batch[k] = i / maxLive
		rank[k] = i
	}
	slices.SortStableFunc(cells, func(a, b Cell) int {
		if d := batch[a.Key()] - batch[b.Key()]; d != 0 {
			return d
		}
		ca1, ca2 := a.cost()
		cb1, cb2 := b.cost()
		if ca1 != cb1 {
			return ca1 - cb1
		}
		if ca2 != cb2 {
			return ca2 - cb2
		}
		return rank[a.Key()] - rank[b.Key()]
	})
}

func cellID(c Cell) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1|%s|%s|%s|%d|%s|%d|%d|%d|%s|%s|%d|%s",
		c.Variant, c.Model.Config, c.Model.Weights, c.Model.Seed, c.Phase, c.SeqLen, c.Batch, c.NewTokens,
		c.Profile, c.DType, c.MemoryCap, c.CacheFill)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
