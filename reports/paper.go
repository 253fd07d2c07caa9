package reports

import "math"

// PaperPoint is one context length of the seed paper's Fig. 1 (c, d): the
// next-token latency and GPU memory of HoVLE, mmMamba-hybrid and
// mmMamba-linear on one RTX 4090, bf16, batch 1. Values at 103K are the
// figure's printed labels; the others are pixel reads (about ±0.5 ms and
// ±0.1 GiB). NaN means not given; OOM means the model did not fit.
// Source: ../shared/reference/mmmamba.md §2.2.
type PaperPoint struct {
	SeqLen                         int64
	HoVLEMs, HybridMs, LinearMs    float64
	HoVLEGiB, HybridGiB, LinearGiB float64
	HoVLEOOM                       bool
	Exact                          bool // printed labels rather than pixel reads
}

var nan = math.NaN()

// Fig1 is the seed paper's Fig. 1 (c, d).
var Fig1 = []PaperPoint{
	{SeqLen: 1 << 10, HoVLEMs: 30.4, HybridMs: 7.2, LinearMs: 6.9, HoVLEGiB: 5.6, HybridGiB: 5.15, LinearGiB: 5.22},
	{SeqLen: 2 << 10, HoVLEMs: 29.7, HybridMs: 7.2, LinearMs: 6.9, HoVLEGiB: 5.65, HybridGiB: 5.2, LinearGiB: 5.22},
	{SeqLen: 4 << 10, HoVLEMs: 31.2, HybridMs: 7.9, LinearMs: 6.9, HoVLEGiB: 5.9, HybridGiB: nan, LinearGiB: 5.22},
	{SeqLen: 8 << 10, HoVLEMs: 32.6, HybridMs: 8.1, LinearMs: 6.9, HoVLEGiB: 6.4, HybridGiB: nan, LinearGiB: 5.22},
	{SeqLen: 16 << 10, HoVLEMs: 36.1, HybridMs: 8.4, LinearMs: 6.9, HoVLEGiB: 7.55, HybridGiB: 5.66, LinearGiB: 5.22},
	{SeqLen: 32 << 10, HoVLEMs: 60.8, HybridMs: 8.9, LinearMs: 6.9, HoVLEGiB: 10.15, HybridGiB: 6.23, LinearGiB: 5.22},
	{SeqLen: 64 << 10, HoVLEMs: 96.8, HybridMs: 9.5, LinearMs: 6.9, HoVLEGiB: 15.3, HybridGiB: 7.29, LinearGiB: 5.22},
	{SeqLen: 103 << 10, HoVLEMs: 142.65, HybridMs: 10.54, LinearMs: 6.94, HoVLEGiB: 21.69, HybridGiB: 8.64, LinearGiB: 5.22, Exact: true},
	{SeqLen: 128 << 10, HoVLEMs: nan, HybridMs: 11.5, LinearMs: 6.9, HoVLEGiB: nan, HybridGiB: 9.45, LinearGiB: 5.22, HoVLEOOM: true},
}

// The paper's headline claim at 103K tokens.
const (
	ClaimSeqLen          = 103 << 10
	ClaimLinearSpeedup   = 20.6  // x, HoVLE / mmMamba-linear next-token latency
	ClaimHybridSpeedup   = 13.5  // x
	ClaimLinearMemSaving = 0.758 // 1 - linear / HoVLE memory
	ClaimHybridMemSaving = 0.602
)

// PaperAt returns the Fig. 1 point at a context length.
func PaperAt(seqLen int64) (PaperPoint, bool) {
	for _, p := range Fig1 {
		if p.SeqLen == seqLen {
			return p, true
		}
	}
	return PaperPoint{}, false
}

// paperValue returns the Fig. 1 latency (ms) and memory (GiB) of a variant
// family ("hovle", "hybrid", "linear").
func (p PaperPoint) value(family string) (ms, gib float64) {
	switch family {
	case "hovle":
		return p.HoVLEMs, p.HoVLEGiB
	case "hybrid":
		return p.HybridMs, p.HybridGiB
	case "linear":
		return p.LinearMs, p.LinearGiB
	}
	return nan, nan
}
