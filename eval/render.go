package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// FormatValue prints a metric value for a table: two decimals, "-" when
// undefined, an integer for counts.
func FormatValue(m Metric) string {
	if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
		return "-"
	}
	if strings.HasSuffix(m.Name, "count") {
		return strconv.FormatInt(int64(m.Value), 10)
	}
	return strconv.FormatFloat(m.Value, 'f', 2, 64)
}

// WriteTable renders r as a text table: a summary line, then one row per
// metric, then the notes.
func WriteTable(w io.Writer, r *Result) error {
	if _, err := fmt.Fprintf(w, "%s  rules=%s  headline %s%s = %s  (items %d, missing %d, unparseable %d, extra %d)\n",
		r.Bench, r.Rules, r.Headline.Name, groupSuffix(r.Headline), FormatValue(r.Headline),
		r.Items, r.Missing, r.Unparseable, r.Extra); err != nil {
		return err
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignRight}}),
	)
	t.Header("scope", "group", "metric", "value", "n")
	for _, m := range r.Metrics {
		if err := t.Append(m.Scope, m.Group, m.Name, FormatValue(m), strconv.Itoa(m.N)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if r.RulesDoc != "" {
		if _, err := fmt.Fprintf(w, "rules %s: %s\n", r.Rules, r.RulesDoc); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

func groupSuffix(m Metric) string {
	if m.Group == "" {
		return ""
	}
	return "[" + m.Group + "]"
}

// WriteJSON writes r as indented JSON with every number.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
