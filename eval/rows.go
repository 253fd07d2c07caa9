package eval

import (
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
)

// ScoreRow is one metric of a Result as a flat parquet row. Value is null
// when the metric is undefined (0/0). Headline marks the paper's number.
type ScoreRow struct {
	Bench    string   `parquet:"bench,dict" json:"bench"`
	Scope    string   `parquet:"scope,dict" json:"scope"`        // overall, split, category, subtask, ...
	Group    string   `parquet:"group,dict" json:"group"`        // split or category name; "" for overall
	Metric   string   `parquet:"metric,dict" json:"metric"`      // name with unit, e.g. accuracy_pct
	Value    *float64 `parquet:"value,optional" json:"value"`    // null when undefined
	N        int64    `parquet:"n" json:"n"`                     // items behind the value
	Rules    string   `parquet:"rules,dict" json:"rules"`        // rules variant, e.g. vlmevalkit-2502
	Headline bool     `parquet:"headline" json:"headline"`       // the number a paper reports
	Unparsed int64    `parquet:"unparseable" json:"unparseable"` // the Result's unparseable count
	// Variant is the model variant that produced the predictions, when
	// known (`ssmbench eval` sets it; `ssmbench score` leaves it empty).
	Variant string `parquet:"variant,dict" json:"variant,omitempty"`
}

// Rows flattens r into one ScoreRow per metric.
func (r *Result) Rows() []ScoreRow {
	rows := make([]ScoreRow, 0, len(r.Metrics))
	for _, m := range r.Metrics {
		row := ScoreRow{
			Bench: r.Bench, Scope: m.Scope, Group: m.Group, Metric: m.Name, N: int64(m.N),
			Rules: r.Rules, Unparsed: int64(r.Unparseable),
			Headline: m.Scope == r.Headline.Scope && m.Group == r.Headline.Group && m.Name == r.Headline.Name,
		}
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			v := m.Value
			row.Value = &v
		}
		rows = append(rows, row)
	}
	return rows
}

// HeadlineRows returns only the headline rows of the given results.
func HeadlineRows(results ...*Result) []ScoreRow {
	var out []ScoreRow
	for _, r := range results {
		for _, row := range r.Rows() {
			if row.Headline {
				out = append(out, row)
			}
		}
	}
	return out
}

// WriteParquet writes rows as a parquet file to w.
func WriteParquet(w io.Writer, rows []ScoreRow) error {
	pw := parquet.NewGenericWriter[ScoreRow](w, parquet.Compression(&parquet.Zstd))
	if _, err := pw.Write(rows); err != nil {
		return err
	}
	return pw.Close()
}
