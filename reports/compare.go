package reports

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/perf/benchmath"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/stats"
)

// CompareOptions tune the regression comparison.
type CompareOptions struct {
	// Alpha is the false-discovery rate controlled over all cells
	// (Benjamini-Hochberg on the Mann-Whitney U p-values).
	Alpha float64
	// MinLatencyDelta is the smallest relative latency change reported as
	// better or worse, however significant (the practical-effect floor).
	MinLatencyDelta float64
	// MinMemoryDelta is the same floor for memory, which is compared as an
	// exact quantity (no test: it barely varies between repetitions).
	MinMemoryDelta float64
}

// DefaultCompareOptions are the defaults of `ssmbench compare`.
var DefaultCompareOptions = CompareOptions{Alpha: 0.05, MinLatencyDelta: 0.03, MinMemoryDelta: 0.01}

// Change classifies a comparison.
type Change string

// Changes.
const (
	Better  Change = "better"
	Worse   Change = "worse"
	Same    Change = "~"       // no significant or no practical difference
	Unknown Change = "unknown" // too few samples to tell, or the cell failed in one run
)

// Delta is one cell's comparison between two runs.
type Delta struct {
	Key              string // variant phase seq_len batch profile dtype cap
	Metric           string // "latency_ms" or "memory_bytes"
	Old, New         float64
	OldLo, OldHi     float64
	NewLo, NewHi     float64
	Rel              float64 // New/Old - 1
	P                float64 // Mann-Whitney U p-value (latency), NaN for memory
	Change           Change
	OldStat, NewStat string // cell statuses
	Note             string
}

func cellKey(r results.CellRow) string {
	k := fmt.Sprintf("%s %s %s b%d %s %s", r.Variant, r.Phase, Tokens(r.SeqLen), r.Batch, r.Profile, r.DType)
	if r.MemoryCapBytes > 0 {
		k += " cap=" + Bytes(r.MemoryCapBytes)
	}
	return k
}

// Compare compares the cells two runs have in common: the measured
// latencies of each cell with a Mann-Whitney U test (as benchstat does),
// with the Benjamini-Hochberg procedure over all cells, and the memory
// figure as an exact value. A change is Better or Worse only when it is
// significant and larger than the practical floor.
func Compare(old, new *results.Run, o CompareOptions) []Delta {
	lat := func(run *results.Run) map[string][]float64 {
		m := map[string][]float64{}
		for _, s := range run.Samples {
			if !s.Warmup {
				m[s.CellID] = append(m[s.CellID], s.LatencyMs)
			}
		}
		return m
	}
	oldLat, newLat := lat(old), lat(new)
	newByKey := map[string]results.CellRow{}
	for _, r := range new.Cells {
		newByKey[cellKey(r)] = r
	}
	var out []Delta
	var tested []int // indexes of latency deltas with a p-value
	for _, or := range old.Cells {
		k := cellKey(or)
		nr, ok := newByKey[k]
		if !ok {
			continue
		}
		d := Delta{Key: k, Metric: "latency_ms", OldStat: or.Status, NewStat: nr.Status, P: math.NaN()}
		xs, ys := oldLat[or.CellID], newLat[nr.CellID]
		if or.Status != results.StatusOK || nr.Status != results.StatusOK || len(xs) == 0 || len(ys) == 0 {
			d.Change = Unknown
			if or.Status == results.StatusOK && nr.Status != results.StatusOK {
				d.Change, d.Note = Worse, "the cell no longer runs: "+nr.Status
			}
			if or.Status != results.StatusOK && nr.Status == results.StatusOK {
				d.Change, d.Note = Better, "the cell runs now (was "+or.Status+")"
			}
			out = append(out, d)
			continue
		}
		so, sn := stats.Summarize(xs, stats.DefaultConfidence), stats.Summarize(ys, stats.DefaultConfidence)
		d.Old, d.OldLo, d.OldHi = so.Median, so.Lo, so.Hi
		d.New, d.NewLo, d.NewHi = sn.Median, sn.Lo, sn.Hi
		d.Rel = sn.Median/so.Median - 1
		c := benchmath.AssumeNothing.Compare(
			benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds),
			benchmath.NewSample(slices.Clone(ys), &benchmath.DefaultThresholds))
		d.P = c.P
		for _, w := range c.Warnings {
			d.Note = w.Error()
		}
		tested = append(tested, len(out))
		out = append(out, d)
		// Memory: exact comparison.
		ob, _, ok1 := Memory(or)
		nb, _, ok2 := Memory(nr)
		if ok1 && ok2 && ob > 0 {
			m := Delta{Key: k, Metric: "memory_bytes", Old: float64(ob), New: float64(nb), Rel: float64(nb)/float64(ob) - 1,
				P: math.NaN(), OldStat: or.Status, NewStat: nr.Status, Change: Same}
			m.OldLo, m.OldHi, m.NewLo, m.NewHi = m.Old, m.Old, m.New, m.New
			switch {
			case m.Rel > o.MinMemoryDelta:
				m.Change = Worse
			case m.Rel < -o.MinMemoryDelta:
				m.Change = Better
			}
			out = append(out, m)
		}
	}
	// Benjamini-Hochberg over the latency tests.
	slices.SortFunc(tested, func(a, b int) int { return cmp.Compare(out[a].P, out[b].P) })
	cut := -1
	for rank, i := range tested {
		if out[i].P <= o.Alpha*float64(rank+1)/float64(len(tested)) {
			cut = rank
		}
	}
	for rank, i := range tested {
		d := &out[i]
		sig := rank <= cut
		switch {
		case sig && d.Rel > o.MinLatencyDelta:
			d.Change = Worse
		case sig && d.Rel < -o.MinLatencyDelta:
			d.Change = Better
		case !sig && d.Note != "":
			d.Change = Unknown // too few samples to detect a difference
		default:
			d.Change = Same
		}
	}
	return out
}

// Regressed reports whether any delta is Worse.
func Regressed(ds []Delta) bool {
	for _, d := range ds {
		if d.Change == Worse {
			return true
		}
	}
	return false
}

// WriteCompare renders the comparison, one line per cell and metric.
func WriteCompare(w io.Writer, ds []Delta, f Format) error {
	t := newTable(w, f, []string{"cell", "metric", "old", "new", "delta", "p", "change"},
		[]tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft})
	val := func(metric string, v float64) string {
		if metric == "memory_bytes" {
			return Bytes(int64(v))
		}
		return Millis(v)
	}
	counts := map[Change]int{}
	for _, d := range ds {
		counts[d.Change]++
		old, new, delta, p := "-", "-", "-", "-"
		if d.Old > 0 {
			old, new, delta = val(d.Metric, d.Old), val(d.Metric, d.New), fmt.Sprintf("%+.1f%%", 100*d.Rel)
		} else {
			old, new = d.OldStat, d.NewStat
		}
		if !math.IsNaN(d.P) {
			p = fmt.Sprintf("%.3f", d.P)
		}
		change := string(d.Change)
		if d.Note != "" {
			change += " (" + d.Note + ")"
		}
		if err := t.Append([]string{d.Key, d.Metric, old, new, delta, p, change}); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d worse, %d better, %d unchanged, %d unknown\n", counts[Worse], counts[Better], counts[Same], counts[Unknown])
	return err
}
