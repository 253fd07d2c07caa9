package eval_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/ssmbench/ssmbench/eval"
)

func sample() *eval.Result {
	r := &eval.Result{Bench: "pope", Rules: "internvl", RulesDoc: "eval_pope.py", Items: 4, Unparseable: 1}
	r.Add(eval.ScopeSplit, "random", "f1_pct", 80, 4)
	r.Add(eval.ScopeSplit, "random", "precision_pct", math.NaN(), 4)
	r.Headline = r.Add(eval.ScopeOverall, "", "f1_mean_pct", 80, 4)
	r.Add(eval.ScopeOverall, "", "unparseable_count", 1, 4)
	r.Notef("a note")
	return r
}

func TestJSONUndefinedIsNull(t *testing.T) {
	var b bytes.Buffer
	if err := eval.WriteJSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"value": null`) {
		t.Errorf("NaN not written as null:\n%s", b.String())
	}
	var back eval.Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Metrics[1].Value) || back.Headline.Value != 80 || back.Rules != "internvl" {
		t.Errorf("round trip: %+v", back)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := eval.WriteTable(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"rules=internvl", "headline f1_mean_pct = 80.00", "| split   | random | precision_pct     |     - |", "unparseable_count |     1 |", "note: a note"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestParquetRows(t *testing.T) {
	rows := sample().Rows()
	if len(rows) != 4 || !rows[2].Headline || rows[1].Value != nil || *rows[0].Value != 80 {
		t.Fatalf("rows: %+v", rows)
	}
	var buf bytes.Buffer
	if err := eval.WriteParquet(&buf, rows); err != nil {
		t.Fatal(err)
	}
	back, err := parquet.Read[eval.ScoreRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 4 || back[1].Value != nil || back[2].Metric != "f1_mean_pct" || back[0].Rules != "internvl" {
		t.Errorf("read back: %+v", back)
	}
	if hr := eval.HeadlineRows(sample(), sample()); len(hr) != 2 {
		t.Errorf("headline rows: %d", len(hr))
	}
}

func TestAccumulator(t *testing.T) {
	var a eval.Accumulator
	a.Observe(eval.ScopeCategory, "b", 1)
	a.Observe(eval.ScopeOverall, "", 1)
	a.Observe(eval.ScopeCategory, "a", 0)
	a.Observe(eval.ScopeOverall, "", 0)
	r := &eval.Result{}
	m, ok := a.Emit(r, "accuracy_pct")
	if !ok || m.Value != 50 || r.Metrics[0].Scope != eval.ScopeOverall || r.Metrics[1].Group != "a" {
		t.Errorf("%+v", r.Metrics)
	}
}

func Example() {
	r := &eval.Result{Bench: "gqa", Rules: "internvl", Items: 2}
	var a eval.Accumulator
	a.Observe(eval.ScopeOverall, "", 1)
	a.Observe(eval.ScopeOverall, "", 0)
	r.Headline, _ = a.Emit(r, "accuracy_pct")
	_ = eval.WriteTable(os.Stdout, r)
	// Output:
	// gqa  rules=internvl  headline accuracy_pct = 50.00  (items 2, missing 0, unparseable 0, extra 0)
	// +---------+-------+--------------+-------+---+
	// |  scope  | group |    metric    | value | n |
	// +---------+-------+--------------+-------+---+
	// | overall |       | accuracy_pct | 50.00 | 2 |
	// +---------+-------+--------------+-------+---+
}
