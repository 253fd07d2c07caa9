package eval

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// Table1Source says where Table1 comes from.
const Table1Source = "mmMamba (arXiv 2502.13145v2) Table 1, verified against the arXiv HTML table (shared/reference/mmmamba.md §3.2)"

// Table1Column is one benchmark column of the seed's Table 1 and the
// metric of ours that it corresponds to (the paper's definitions, §5.1).
type Table1Column struct {
	Bench  string // datasets benchmark name
	Label  string // the column's header in Table 1
	Metric string // what the number is
}

// Table1Columns lists the columns in Table 1's order.
var Table1Columns = []Table1Column{
	{"mme", "MME", "perception score, pts (max 2000)"},
	{"mmbench", "MMB", "MMBench-EN dev accuracy, %"},
	{"pope", "POPE", "mean F1 over random/popular/adversarial, %"},
	{"seed", "SEED", "SEED-Bench image accuracy, %"},
	{"mmmu", "MMMU", "MMMU validation accuracy, %"},
	{"mmvet", "MM-Vet", "GPT-4 judge score, %"},
	{"textvqa", "TQA", "TextVQA val accuracy, %"},
	{"scienceqa", "SQA-I", "ScienceQA-IMG test accuracy, %"},
	{"gqa", "GQA", "GQA testdev-balanced accuracy, %"},
}

// PaperRow is one method's row of Table 1; a score absent from the table
// ("–") is missing from Scores.
type PaperRow struct {
	Method, Recipe, Complexity, Params, Trainable string
	Encoder                                       bool // encoder-based (vs decoder-only)
	Scores                                        map[string]float64
}

func row(method, recipe, cplx, params, trainable string, enc bool, vals ...float64) PaperRow {
	r := PaperRow{Method: method, Recipe: recipe, Complexity: cplx, Params: params, Trainable: trainable, Encoder: enc, Scores: map[string]float64{}}
	for i, v := range vals {
		if !math.IsNaN(v) {
			r.Scores[Table1Columns[i].Bench] = v
		}
	}
	return r
}

var na = math.NaN()

// Table1 is the seed's Table 1, every row, scores in Table1Columns order.
var Table1 = []PaperRow{
	row("OpenFlamingo", "PT,SFT", "Quad", "9B", "96.6%", true, na, 4.6, na, na, na, na, 33.6, na, na),
	row("MiniGPT-4", "PT,SFT", "Quad", "13B", "94.8%", true, 581.7, 23.0, na, na, na, 22.1, na, na, 32.2),
	row("Qwen-VL", "PT,SFT", "Quad", "7B", "100%", true, na, 38.2, na, 56.3, na, na, 63.8, 67.1, 59.3),
	row("LLaVA-Phi", "PT,SFT", "Quad", "3B", "90.0%", true, 1335.1, 59.8, 85.0, na, na, 28.9, 48.6, 68.4, na),
	row("MobileVLM-3B", "PT,SFT", "Quad", "3B", "90.0%", true, 1288.9, 59.6, 84.9, na, na, na, 47.5, 61.0, 59.0),
	row("VisualRWKV", "PT,SFT", "Linear", "3B", "90.0%", true, 1369.2, 59.5, 83.1, na, na, na, 48.7, 65.3, 59.6),
	row("VL-Mamba", "PT,SFT", "Linear", "3B", "90.0%", true, 1369.6, 57.0, 84.4, na, na, 32.6, 48.9, 65.4, 56.2),
	row("Cobra", "PT,SFT", "Linear", "3.5B", "82.6%", true, na, na, 88.4, na, na, na, 58.2, na, 62.3),
	row("Fuyu-8B (HD)", "PT,SFT", "Quad", "8B", "100%", false, 728.6, 10.7, 74.1, na, na, 21.4, na, na, na),
	row("SOLO", "PT,SFT", "Quad", "7B", "100%", false, 1001.3, na, na, 64.4, na, na, na, 73.3, na),
	row("Chameleon-7B", "PT,SFT", "Quad", "7B", "100%", false, 170, 31.1, na, 30.6, 25.4, 8.3, 4.8, 47.2, na),
	row("EVE-7B", "PT,SFT", "Quad", "7B", "100%", false, 1217.3, 49.5, 83.6, 61.3, 32.3, 25.6, 51.9, 63.0, 60.8),
	row("Emu3", "PT,SFT", "Quad", "8B", "100%", false, na, 58.5, 85.2, 68.2, 31.6, 37.2, 64.7, 89.2, 60.3),
	row("HoVLE", "DT,PT,SFT", "Quad", "2.6B", "100%", false, 1433.5, 71.9, 87.6, 70.7, 33.7, 44.3, 66.0, 94.8, 60.9),
	row("mmMamba-linear", "DT", "Linear", "2.7B", "14.7%", false, 1303.5, 57.2, 85.2, 62.9, 30.7, 31.1, 47.7, 79.2, 57.4),
	row("mmMamba-hybrid", "DT", "Hybrid", "2.7B", "11.2%", false, 1371.1, 63.7, 86.7, 66.3, 32.3, 36.9, 55.1, 86.9, 59.3),
}

// SeedRow returns the Table 1 row of a model variant: hovle, mmmamba-linear
// or mmmamba-hybrid, with or without a "-tiny" suffix (a tiny config has
// the structure, not the weights, of that model).
func SeedRow(variant string) (*PaperRow, bool) {
	v := strings.TrimSuffix(strings.ToLower(variant), "-tiny")
	name := map[string]string{"hovle": "HoVLE", "mmmamba-linear": "mmMamba-linear", "mmmamba-hybrid": "mmMamba-hybrid"}[v]
	for i := range Table1 {
		if Table1[i].Method == name {
			return &Table1[i], true
		}
	}
	return nil, false
}

// WriteComparison renders our headline numbers beside the seed's Table 1
// row for variant, one row per benchmark in Table 1's order (benchmarks
// outside Table 1 last): the paper's column, our number, the paper's, the
// difference, the items behind ours and the rules variant.
func WriteComparison(w io.Writer, variant string, results []*Result) error {
	seed, ok := SeedRow(variant)
	seedName := "seed"
	if ok {
		seedName = "Table 1 " + seed.Method
	}
	if _, err := fmt.Fprintf(w, "%s (ours) beside %s\n", variant, seedName); err != nil {
		return err
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}}),
	)
	t.Header("bench", "Table 1", "metric", "ours", "paper", "ours-paper", "items", "rules")
	byBench := map[string]*Result{}
	for _, r := range results {
		byBench[r.Bench] = r
	}
	var order []string
	seen := map[string]bool{}
	for _, c := range Table1Columns {
		if byBench[c.Bench] != nil {
			order = append(order, c.Bench)
			seen[c.Bench] = true
		}
	}
	for _, r := range results {
		if !seen[r.Bench] {
			order = append(order, r.Bench)
			seen[r.Bench] = true
		}
	}
	for _, b := range order {
		r := byBench[b]
		label := "-"
		for _, c := range Table1Columns {
			if c.Bench == b {
				label = c.Label
			}
		}
		ours := FormatValue(r.Headline)
		paper, diff := "-", "-"
		if ok {
			if p, has := seed.Scores[b]; has {
				paper = strconv.FormatFloat(p, 'f', 1, 64)
				if v := r.Headline.Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
					diff = strconv.FormatFloat(v-p, 'f', 1, 64)
				}
			}
		}
		metric := r.Headline.Name + groupSuffix(r.Headline)
		if err := t.Append(b, label, metric, ours, paper, diff, strconv.Itoa(r.Items), r.Rules); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "paper: %s\n", Table1Source)
	return err
}
