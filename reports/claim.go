package reports

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/ssmbench/ssmbench/bench/results"
)

// Family maps a variant name to "hovle", "hybrid" or "linear" ("" when it
// is none of them).
func Family(variant string) string {
	v := strings.ToLower(variant)
	switch {
	case strings.Contains(v, "hovle"):
		return "hovle"
	case strings.Contains(v, "hybrid"):
		return "hybrid"
	case strings.Contains(v, "linear"):
		return "linear"
	}
	return ""
}

// Verdict of one target.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "PASS"
	Fail    Verdict = "FAIL"
	Missing Verdict = "MISSING" // the results hold no cell for this target
)

// Check is one measured-vs-target line.
type Check struct {
	Target   string
	Measured string
	Verdict  Verdict
}

// ClaimReport is the comparison of a set of cells with the seed paper.
type ClaimReport struct {
	Checks []Check
}

// Failed reports whether any target failed.
func (r ClaimReport) Failed() bool {
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			return true
		}
	}
	return false
}

// cellIndex finds cells by (family, phase, profile, cap, seq_len).
type cellIndex map[string]results.CellRow

func key(family, phase, profile string, capped bool, seq int64) string {
	return fmt.Sprintf("%s|%s|%s|%v|%d", family, phase, profile, capped, seq)
}

func index(rows []results.CellRow) cellIndex {
	ix := cellIndex{}
	for _, r := range rows {
		if r.Batch != 1 {
			continue
		}
		ix[key(Family(r.Variant), r.Phase, r.Profile, r.MemoryCapBytes > 0, r.SeqLen)] = r
	}
	return ix
}

// PaperMemory returns the memory figure of a paper-profile decode cell that
// is comparable to the seed's Fig. 1, and which method it is. mmMamba's
// decode loop resets the allocator peak before each step, so its figure is
// the per-step peak; for HoVLE the seed's curve is only consistent with a
// peak that also covers the prompt's prefill (see runners/torch/README.md),
// so that figure is used when the runner measured it.
func PaperMemory(r results.CellRow) (bytes int64, method string, ok bool) {
	if Family(r.Variant) == "hovle" && r.AllocPeakInclPrefil != nil {
		return *r.AllocPeakInclPrefil, "allocator peak incl. prefill", true
	}
	return Memory(r)
}

// Claim compares cells with the seed paper's Fig. 1 and the targets of the
// reference run: the paper profile's memory within 5% of Fig. 1 at every
// length it gives; under a 24 GiB cap HoVLE runs out of memory at 128K and
// the mmMamba variants do not; the matched profile's decode step within
// 1.15x of its floor; mmMamba-linear's prefill at 103K faster than HoVLE's.
func Claim(rows []results.CellRow) ClaimReport {
	ix := index(rows)
	var rep ClaimReport
	add := func(target, measured string, v Verdict) {
		rep.Checks = append(rep.Checks, Check{target, measured, v})
	}
	// 1. Memory within 5% of Fig. 1 (paper profile, no cap).
	for _, fam := range []string{"hovle", "hybrid", "linear"} {
		for _, p := range Fig1 {
			_, gib := p.value(fam)
			if math.IsNaN(gib) {
				continue
			}
			target := fmt.Sprintf("paper memory %s @%s within 5%% of %.2f GiB", fam, Tokens(p.SeqLen), gib)
			r, ok := ix[key(fam, "decode", "paper", false, p.SeqLen)]
			if !ok || r.Status != results.StatusOK {
				add(target, statusOr(r, ok), Missing)
				continue
			}
			b, method, ok := PaperMemory(r)
			if !ok {
				add(target, "no memory measured", Missing)
				continue
			}
			got := float64(b) / (1 << 30)
			diff := got/gib - 1
			add(target, fmt.Sprintf("%.2f GiB (%+.1f%%, %s)", got, 100*diff, method), verdict(math.Abs(diff) <= 0.05))
		}
	}
	// 2. The 24 GiB cap.
	for _, fam := range []string{"hovle", "hybrid", "linear"} {
		wantOOM := fam == "hovle"
		target := fmt.Sprintf("24 GiB cap: %s @128K %s", fam, map[bool]string{true: "runs out of memory", false: "fits"}[wantOOM])
		r, ok := ix[key(fam, "decode", "paper", true, 128<<10)]
		if !ok {
			add(target, "not run", Missing)
			continue
		}
		oom := r.Status == results.StatusOOM || r.Status == results.StatusSkipped
		add(target, r.Status, verdict(oom == wantOOM && (oom || r.Status == results.StatusOK)))
	}
	// 3. The matched decode step against its floor.
	for _, fam := range []string{"hovle", "hybrid", "linear"} {
		for _, p := range Fig1 {
			r, ok := ix[key(fam, "decode", "matched", false, p.SeqLen)]
			if !ok {
				continue
			}
			target := fmt.Sprintf("matched decode %s @%s within 1.15x of floor", fam, Tokens(p.SeqLen))
			if r.Status != results.StatusOK || r.FloorRatio == nil {
				add(target, statusOr(r, true)+" (no floor)", Missing)
				continue
			}
			add(target, fmt.Sprintf("%.2fx (%.3f ms vs floor %.3f ms)", *r.FloorRatio, *r.DecodeMsP50, *r.FloorMs), verdict(*r.FloorRatio <= 1.15))
		}
	}
	// 4. Prefill at 103K, matched.
	h, hok := ix[key("hovle", "prefill", "matched", false, ClaimSeqLen)]
	l, lok := ix[key("linear", "prefill", "matched", false, ClaimSeqLen)]
	target := "matched prefill @103K: mmMamba-linear faster than HoVLE"
	if hok && lok && h.PrefillMsP50 != nil && l.PrefillMsP50 != nil {
		add(target, fmt.Sprintf("linear %.0f ms vs HoVLE %.0f ms (%.2fx)", *l.PrefillMsP50, *h.PrefillMsP50, *h.PrefillMsP50 / *l.PrefillMsP50),
			verdict(*l.PrefillMsP50 < *h.PrefillMsP50))
	} else {
		add(target, "not run", Missing)
	}
	return rep
}

func statusOr(r results.CellRow, ok bool) string {
	if !ok {
		return "not run"
	}
	return r.Status
}

func verdict(ok bool) Verdict {
	if ok {
		return Pass
	}
	return Fail
}

// Ratio is a speedup or saving with a conservative interval.
type Ratio struct {
	Value, Lo, Hi float64
	OK            bool
}

// Speedup returns HoVLE's decode latency over a variant's at a context and
// profile, with an interval from the two medians' confidence intervals
// (slowest-over-fastest ends; NaN where an interval is unbounded).
func Speedup(rows []results.CellRow, family, profile string, seq int64) Ratio {
	ix := index(rows)
	h, ok1 := ix[key("hovle", "decode", profile, false, seq)]
	v, ok2 := ix[key(family, "decode", profile, false, seq)]
	if !ok1 || !ok2 || h.DecodeMsP50 == nil || v.DecodeMsP50 == nil {
		return Ratio{}
	}
	r := Ratio{Value: *h.DecodeMsP50 / *v.DecodeMsP50, Lo: nan, Hi: nan, OK: true}
	if h.DecodeMsCILo != nil && v.DecodeMsCIHi != nil {
		r.Lo = *h.DecodeMsCILo / *v.DecodeMsCIHi
	}
	if h.DecodeMsCIHi != nil && v.DecodeMsCILo != nil {
		r.Hi = *h.DecodeMsCIHi / *v.DecodeMsCILo
	}
	return r
}

// Fig1Table writes the decode latency and memory of a profile beside the
// seed's Fig. 1, one row per context length.
func Fig1Table(w io.Writer, rows []results.CellRow, profile string, f Format) error {
	ix := index(rows)
	header := []string{"context", "HoVLE ms (paper)", "hybrid ms (paper)", "linear ms (paper)", "HoVLE GiB (paper)", "hybrid GiB (paper)", "linear GiB (paper)"}
	align := []tw.Align{tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight}
	t := newTable(w, f, header, align)
	for _, p := range Fig1 {
		line := []string{Tokens(p.SeqLen)}
		var mem []string
		for _, fam := range []string{"hovle", "hybrid", "linear"} {
			pms, pgib := p.value(fam)
			paperMs, paperGiB := num(pms, 2), num(pgib, 2)
			if fam == "hovle" && p.HoVLEOOM {
				paperMs, paperGiB = "OOM", "OOM"
			}
			r, ok := ix[key(fam, "decode", profile, false, p.SeqLen)]
			ms, gib := "-", "-"
			if ok {
				if r.Status != results.StatusOK {
					ms, gib = strings.ToUpper(r.Status), strings.ToUpper(r.Status)
				} else {
					if r.DecodeMsP50 != nil {
						ms = Millis(*r.DecodeMsP50)
					}
					if b, _, ok := PaperMemory(r); ok {
						gib = fmt.Sprintf("%.2f", float64(b)/(1<<30))
					}
				}
			}
			line = append(line, ms+" ("+paperMs+")")
			mem = append(mem, gib+" ("+paperGiB+")")
		}
		if err := t.Append(append(line, mem...)); err != nil {
			return err
		}
	}
	return t.Render()
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// WriteClaim writes the full comparison: headline ratios at 103K for each
// profile, the Fig. 1 tables, and the targets with their verdicts.
func WriteClaim(w io.Writer, rows []results.CellRow, f Format) (ClaimReport, error) {
	fmt.Fprintf(w, "Headline at %s tokens (paper: linear %.1fx faster, %.1f%% less memory; hybrid %.1fx, %.1f%%)\n",
		Tokens(ClaimSeqLen), ClaimLinearSpeedup, 100*ClaimLinearMemSaving, ClaimHybridSpeedup, 100*ClaimHybridMemSaving)
	ix := index(rows)
	for _, prof := range []string{"paper", "matched"} {
		for _, fam := range []string{"linear", "hybrid"} {
			s := Speedup(rows, fam, prof, ClaimSeqLen)
			if !s.OK {
				continue
			}
			saving := "-"
			h, ok1 := ix[key("hovle", "decode", prof, false, ClaimSeqLen)]
			v, ok2 := ix[key(fam, "decode", prof, false, ClaimSeqLen)]
			if ok1 && ok2 {
				hb, _, okh := PaperMemory(h)
				vb, _, okv := PaperMemory(v)
				if okh && okv && hb > 0 {
					saving = fmt.Sprintf("%.1f%%", 100*(1-float64(vb)/float64(hb)))
				}
			}
			fmt.Fprintf(w, "  %-7s profile: HoVLE / %s = %.2fx (interval %s .. %s), memory saving %s\n",
				prof, fam, s.Value, num(s.Lo, 2), num(s.Hi, 2), saving)
		}
	}
	for _, prof := range []string{"paper", "matched"} {
		fmt.Fprintf(w, "\nDecode latency and memory, profile %s, measured (seed's Fig. 1 on an RTX 4090)\n", prof)
		if err := Fig1Table(w, rows, prof, f); err != nil {
			return ClaimReport{}, err
		}
	}
	rep := Claim(rows)
	fmt.Fprintln(w, "\nTargets")
	t := newTable(w, f, []string{"target", "measured", "verdict"}, []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft})
	for _, c := range rep.Checks {
		if err := t.Append([]string{c.Target, c.Measured, string(c.Verdict)}); err != nil {
			return rep, err
		}
	}
	return rep, t.Render()
}
