// Package reports renders sweep results: summary tables (text, Markdown),
// and comparisons against the seed paper. Renderers write to an io.Writer
// and do no other I/O.
package reports

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/ssmbench/ssmbench/bench/results"
)

// Format selects a table style.
type Format int

// Table formats.
const (
	Text     Format = iota // Unicode box drawing
	ASCII                  // +--+ borders, safe for any log
	Markdown               // GitHub-flavoured Markdown
)

func newTable(w io.Writer, f Format, header []string, align []tw.Align) *tablewriter.Table {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	}
	switch f {
	case ASCII:
		opts = append(opts, tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}))
	case Markdown:
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header(header)
	return t
}

// group is the set of cells that share everything but variant and length.
type group struct {
	Phase, Profile, DType string
	Batch                 int64
	Cap                   int64
}

func groupOf(r results.CellRow) group {
	return group{r.Phase, r.Profile, r.DType, r.Batch, r.MemoryCapBytes}
}

func (g group) title() string {
	s := fmt.Sprintf("%s, profile %s, %s, batch %d", g.Phase, g.Profile, g.DType, g.Batch)
	if g.Cap > 0 {
		s += fmt.Sprintf(", memory cap %s", Bytes(g.Cap))
	}
	return s
}

// Latency returns the median latency of a cell's phase, or nil.
func Latency(r results.CellRow) (p50, lo, hi *float64) {
	switch r.Phase {
	case "prefill":
		return r.PrefillMsP50, r.PrefillMsCILo, r.PrefillMsCIHi
	case "decode":
		return r.DecodeMsP50, r.DecodeMsCILo, r.DecodeMsCIHi
	case "generate":
		return r.GenerateMsP50, r.GenerateMsCILo, r.GenerateMsCIHi
	}
	return nil, nil, nil
}

// Memory returns the cell's headline memory and the method it came from:
// the allocator peak on GPU runners, the Go heap peak on the CPU runner.
func Memory(r results.CellRow) (bytes int64, method string, ok bool) {
	switch {
	case r.AllocPeakBytes != nil:
		return *r.AllocPeakBytes, "allocator peak", true
	case r.HeapPeakBytes != nil:
		return *r.HeapPeakBytes, "Go heap peak", true
	}
	return 0, "", false
}

// Summary writes, for each (phase, profile, dtype, batch, cap) group, a
// table with one row per context length and one latency column per variant
// (median ms with the half-width of its 95% CI in percent), then the memory
// columns. Cells that did not finish show their status.
func Summary(w io.Writer, rows []results.CellRow, f Format) error {
	groups := map[group][]results.CellRow{}
	var order []group
	for _, r := range rows {
		g := groupOf(r)
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	slices.SortStableFunc(order, func(a, b group) int {
		return cmp.Or(cmp.Compare(phaseRank(a.Phase), phaseRank(b.Phase)), cmp.Compare(a.Profile, b.Profile),
			cmp.Compare(a.DType, b.DType), cmp.Compare(a.Batch, b.Batch), cmp.Compare(a.Cap, b.Cap))
	})
	for i, g := range order {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", g.title())
		if err := groupTable(w, groups[g], f); err != nil {
			return err
		}
	}
	return nil
}

func phaseRank(p string) int { return map[string]int{"decode": 0, "prefill": 1, "generate": 2}[p] }

func groupTable(w io.Writer, rows []results.CellRow, f Format) error {
	var variants []string
	var lens []int64
	cell := map[string]map[int64]results.CellRow{}
	for _, r := range rows {
		if cell[r.Variant] == nil {
			cell[r.Variant] = map[int64]results.CellRow{}
			variants = append(variants, r.Variant)
		}
		cell[r.Variant][r.SeqLen] = r
		if !slices.Contains(lens, r.SeqLen) {
			lens = append(lens, r.SeqLen)
		}
	}
	slices.Sort(lens)
	header := []string{"seq_len"}
	align := []tw.Align{tw.AlignRight}
	for _, v := range variants {
		header = append(header, v+" ms")
		align = append(align, tw.AlignRight)
	}
	for _, v := range variants {
		header = append(header, v+" mem")
		align = append(align, tw.AlignRight)
	}
	t := newTable(w, f, header, align)
	for _, l := range lens {
		line := []string{Tokens(l)}
		for _, v := range variants {
			r, ok := cell[v][l]
			line = append(line, latencyCell(r, ok))
		}
		for _, v := range variants {
			r, ok := cell[v][l]
			s := ""
			if ok {
				if b, _, ok := Memory(r); ok {
					s = Bytes(b)
				}
			}
			line = append(line, s)
		}
		if err := t.Append(line); err != nil {
			return err
		}
	}
	return t.Render()
}

func latencyCell(r results.CellRow, ok bool) string {
	if !ok {
		return ""
	}
	if r.Status != results.StatusOK {
		return strings.ToUpper(r.Status)
	}
	p50, lo, hi := Latency(r)
	if p50 == nil {
		return "?"
	}
	s := Millis(*p50)
	if lo != nil && hi != nil && *p50 > 0 {
		half := math.Max(*hi-*p50, *p50-*lo) / *p50 * 100
		s += fmt.Sprintf(" ±%.0f%%", math.Ceil(half))
	} else {
		s += " ±?"
	}
	return s
}

// Cells writes one line per cell with its axes, status and main numbers.
func Cells(w io.Writer, rows []results.CellRow, f Format) error {
	header := []string{"#", "variant", "phase", "seq_len", "batch", "profile", "dtype", "cap", "status", "p50 ms", "95% CI ms", "CV", "tok/s", "memory", "floor ms", "x floor"}
	align := []tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignRight,
		tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	t := newTable(w, f, header, align)
	for _, r := range rows {
		p50, lo, hi := Latency(r)
		line := []string{strconv.FormatInt(r.CellIndex, 10), r.Variant, r.Phase, Tokens(r.SeqLen), strconv.FormatInt(r.Batch, 10),
			r.Profile, r.DType, capText(r.MemoryCapBytes), r.Status, opt(p50, Millis), ci(lo, hi), "", opt(r.TokensPerSP50, func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }),
			"", opt(r.FloorMs, Millis), opt(r.FloorRatio, func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "x" })}
		switch r.Phase {
		case "prefill":
			line[11] = opt(r.PrefillMsCV, pct)
		case "decode":
			line[11] = opt(r.DecodeMsCV, pct)
		case "generate":
			line[11] = opt(r.GenerateMsCV, pct)
		}
		if b, _, ok := Memory(r); ok {
			line[13] = Bytes(b)
		}
		if err := t.Append(line); err != nil {
			return err
		}
	}
	return t.Render()
}

func capText(b int64) string {
	if b == 0 {
		return "-"
	}
	return Bytes(b)
}

func ci(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "-"
	}
	return Millis(*lo) + " .. " + Millis(*hi)
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

func opt(v *float64, f func(float64) string) string {
	if v == nil {
		return "-"
	}
	return f(*v)
}

// Millis formats milliseconds with 3 significant digits (at least 2 decimals
// below 10 ms).
func Millis(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	}
	return strconv.FormatFloat(ms, 'f', 3, 64)
}

// Bytes formats a byte count in binary units (KiB, MiB, GiB).
func Bytes(b int64) string {
	v := float64(b)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if math.Abs(v) < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", b)
			}
			return fmt.Sprintf("%.2f %s", v, u)
		}
		v /= 1024
	}
	return ""
}

// Tokens formats a token count, using K (x1024) when it divides evenly.
func Tokens(n int64) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.FormatInt(n/1024, 10) + "K"
	}
	return strconv.FormatInt(n, 10)
}

// MemoryMethods writes, for every cell that measured memory, the numbers of
// each method side by side: the allocator peak of a step (what the seed
// reported), the allocator peak including the cache-filling prefill, the
// allocator's reserve, NVML's per-process and device peaks over the whole
// cell, and the analytic weights + KV cache + state.
func MemoryMethods(w io.Writer, rows []results.CellRow, f Format) error {
	header := []string{"variant", "phase", "seq_len", "profile", "cap", "alloc peak", "alloc incl. prefill", "reserved", "NVML process", "NVML device", "analytic", "NVML - reserved"}
	align := []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	t := newTable(w, f, header, align)
	b := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return Bytes(*p)
	}
	for _, r := range rows {
		if r.AllocPeakBytes == nil && r.NVMLProcessMemPeakBytes == nil {
			continue
		}
		var analytic *int64
		if r.WeightBytes != nil {
			a := *r.WeightBytes
			for _, p := range []*int64{r.KVCacheBytes, r.StateBytes} {
				if p != nil {
					a += *p
				}
			}
			analytic = &a
		}
		diff := "-"
		if r.NVMLProcessMemPeakBytes != nil && r.ReservedPeakBytes != nil {
			diff = Bytes(*r.NVMLProcessMemPeakBytes - *r.ReservedPeakBytes)
		}
		line := []string{r.Variant, r.Phase, Tokens(r.SeqLen), r.Profile, capText(r.MemoryCapBytes), b(r.AllocPeakBytes), b(r.AllocPeakInclPrefil),
			b(r.ReservedPeakBytes), b(r.NVMLProcessMemPeakBytes), b(r.NVMLDeviceMemPeakBytes), b(analytic), diff}
		if err := t.Append(line); err != nil {
			return err
		}
	}
	return t.Render()
}
