package eval_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssmbench/ssmbench/eval"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestTable1(t *testing.T) {
	if len(eval.Table1) != 16 {
		t.Fatalf("%d rows, Table 1 has 16", len(eval.Table1))
	}
	cols := map[string]bool{}
	for _, c := range eval.Table1Columns {
		cols[c.Bench] = true
	}
	for _, r := range eval.Table1 {
		for b := range r.Scores {
			if !cols[b] {
				t.Errorf("%s: score for %q, not a Table 1 column", r.Method, b)
			}
		}
	}
	for _, tc := range []struct {
		variant, method string
		mme, gqa        float64
	}{
		{"hovle", "HoVLE", 1433.5, 60.9},
		{"mmmamba-linear-tiny", "mmMamba-linear", 1303.5, 57.4},
		{"mmMamba-hybrid", "mmMamba-hybrid", 1371.1, 59.3},
	} {
		r, ok := eval.SeedRow(tc.variant)
		if !ok || r.Method != tc.method || r.Scores["mme"] != tc.mme || r.Scores["gqa"] != tc.gqa || len(r.Scores) != 9 {
			t.Errorf("SeedRow(%q) = %+v, %v", tc.variant, r, ok)
		}
	}
	if _, ok := eval.SeedRow("llava"); ok {
		t.Error("a variant outside Table 1 has a seed row")
	}
	if r, _ := eval.SeedRow("mmmamba-linear"); r.Trainable != "14.7%" || r.Complexity != "Linear" {
		t.Errorf("linear row %+v", r)
	}
}

func TestWriteComparison(t *testing.T) {
	mme := &eval.Result{Bench: "mme", Rules: "vlmevalkit-2502", Items: 56}
	mme.Headline = mme.Add(eval.ScopeSuper, "perception", "score_pts", 812.25, 40)
	pope := &eval.Result{Bench: "pope", Rules: "internvl", Items: 12}
	pope.Headline = pope.Add(eval.ScopeOverall, "", "f1_mean_pct", 40, 12)
	vqa := &eval.Result{Bench: "vqav2", Rules: "vqaeval", Items: 3}
	vqa.Headline = vqa.Add(eval.ScopeOverall, "", "accuracy_pct", 10, 3)
	var b bytes.Buffer
	// POPE comes before VQAv2 (not in Table 1) and after MME, whatever the input order.
	if err := eval.WriteComparison(&b, "mmmamba-linear-tiny", []*eval.Result{vqa, pope, mme}); err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.golden", b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", p, got)
	}
}
