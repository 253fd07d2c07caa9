package overhead

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/ssmbench/ssmbench/bench/results"
)

// File names WriteFiles writes.
const (
	RepsFile      = "overhead.parquet"
	SummaryFile   = "overhead.json"
	TelemetryFile = "telemetry.parquet"
)

// Failed returns the comparisons at the gated rates whose verdict is FAIL
// and whose sampler really ran (an unsampled arm decides nothing).
func (r *Result) Failed(gateHz []float64) []Comparison {
	var out []Comparison
	for _, c := range r.Summary.Comparisons {
		if c.Sampled && c.Verdict == Fail && slices.Contains(gateHz, c.Hz) {
			out = append(out, c)
		}
	}
	return out
}

// WriteJSON writes the result (everything but the per-repetition rows and
// the telemetry samples) as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes overhead.parquet (one row per measured repetition),
// overhead.json (the result) and, when sessions ran, telemetry.parquet
// (their samples) into dir, creating it; each file atomically.
func (r *Result) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := results.WriteParquet(filepath.Join(dir, RepsFile), r.Repetitions); err != nil {
		return err
	}
	if len(r.Telemetry) > 0 {
		if err := results.WriteParquet(filepath.Join(dir, TelemetryFile), r.Telemetry); err != nil {
			return err
		}
	}
	return results.WriteJSON(filepath.Join(dir, SummaryFile), r)
}

// WriteTable writes the result for a reader: what was measured, a table of
// the arms, each rate's verdict with its reason, the rule and the
// warnings.
func (r *Result) WriteTable(w io.Writer) error {
	c := r.Cell
	fmt.Fprintf(w, "cell %d: %s %s seq=%d b=%d %s/%s", c.Index, c.Phase, c.Variant, c.SeqLen, c.Batch, c.Profile, c.DType)
	if h := r.Runner.Hello; h != nil && h.Runner != nil {
		fmt.Fprintf(w, " (runner %s %s", h.Runner.Name, h.Runner.Version)
		if h.Device != nil && h.Device.Name != "" {
			fmt.Fprintf(w, " on %s", h.Device.Name)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	sampled := "sampled"
	if !r.Sampled {
		sampled = "NOT sampled"
	}
	fmt.Fprintf(w, "%d rounds of %d reps per arm (>= %d each), arm order rotating, after %d warm-up reps; rates %s; T = %g%%, %.0f%% intervals\n\n",
		r.Rounds, r.RepsPerRound, r.Reps, r.WarmupReps, sampled, r.Summary.ThresholdPct, 100*r.Summary.Confidence)
	if err := r.Summary.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, cmp := range r.Summary.Comparisons {
		fmt.Fprintf(w, "%s: %s: %s\n", cmp.Arm, verdictCell(cmp), cmp.Reason)
	}
	fmt.Fprintf(w, "rule: %s (T = %g%%)\n", Rule, r.Summary.ThresholdPct)
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	for _, a := range r.Summary.Arms {
		for _, s := range a.Warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", a.Arm, s)
		}
	}
	for _, cmp := range r.Summary.Comparisons {
		for _, s := range cmp.Warnings {
			fmt.Fprintf(w, "warning: %s vs off: %s\n", cmp.Arm, s)
		}
	}
	return nil
}

// WriteTable writes the summary as one table: a row per arm.
func (s Summary) WriteTable(w io.Writer) error {
	conf := fmt.Sprintf("%.0f%%", 100*s.Confidence)
	header := []string{"arm", "Hz achieved", "NVML read µs", "n", "median ms", conf + " CI ms", "Δ median", "shift (" + conf + " CI)", "p", "verdict"}
	align := []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}),
	)
	t.Header(header)
	cmps := map[string]Comparison{}
	for _, c := range s.Comparisons {
		cmps[c.Arm] = c
	}
	for _, a := range s.Arms {
		row := []string{a.Arm, optF(a.HzAchieved, 1), optF(a.ReadUsMean, 1), strconv.Itoa(a.N), ms(a.MedianMs), ciMs(a.CILoMs, a.CIHiMs), "", "", "", ""}
		if c, ok := cmps[a.Arm]; ok {
			row[6] = fmt.Sprintf("%+.3f%%", c.MedianDiffPct)
			row[7] = fmt.Sprintf("%+.3f%% %s", c.ShiftPct, ciPct(c.ShiftCILoPct, c.ShiftCIHiPct))
			row[8] = fmt.Sprintf("%.3g", c.PValue)
			row[9] = verdictCell(c)
		}
		if err := t.Append(row); err != nil {
			return err
		}
	}
	return t.Render()
}

func verdictCell(c Comparison) string {
	if !c.Sampled {
		return c.Verdict + " (not sampled)"
	}
	return c.Verdict
}

func ms(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func optF(v *float64, prec int) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}

func ciMs(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "unbounded"
	}
	return "[" + ms(*lo) + ", " + ms(*hi) + "]"
}

func ciPct(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "[unbounded]"
	}
	return fmt.Sprintf("[%+.3f%%, %+.3f%%]", *lo, *hi)
}
