package reports

import (
	"math/rand/v2"
	"testing"

	"github.com/ssmbench/ssmbench/bench/results"
)

// run builds a run with one decode cell per (variant, seq) whose samples
// are base*(1+noise) with the given relative shift.
func fakeRun(seed uint64, cells map[string]float64, shift map[string]float64, status map[string]string) *results.Run {
	r := rand.New(rand.NewPCG(seed, 7))
	run := &results.Run{}
	for id, base := range cells {
		st := "ok"
		if s, ok := status[id]; ok {
			st = s
		}
		run.Cells = append(run.Cells, results.CellRow{CellID: id, Variant: id, Phase: "decode", SeqLen: 1024, Batch: 1,
			Profile: "matched", DType: "bf16", Status: st, AllocPeakBytes: b(1 << 30)})
		if st != "ok" {
			continue
		}
		for i := 0; i < 20; i++ {
			v := base * (1 + shift[id]) * (1 + 0.005*r.NormFloat64())
			run.Samples = append(run.Samples, results.SampleRow{CellID: id, LatencyMs: v})
		}
	}
	return run
}

func TestCompare(t *testing.T) {
	cells := map[string]float64{"slower": 10, "faster": 10, "tiny-change": 10, "same": 10, "broken": 10}
	old := fakeRun(1, cells, nil, nil)
	new := fakeRun(2, cells, map[string]float64{"slower": 0.10, "faster": -0.10, "tiny-change": 0.01}, map[string]string{"broken": "oom"})
	ds := Compare(old, new, DefaultCompareOptions)
	got := map[string]Change{}
	for _, d := range ds {
		if d.Metric == "latency_ms" {
			got[d.Key[:len(d.Key)-len(" decode 1K b1 matched bf16")]] = d.Change
		}
	}
	want := map[string]Change{"slower": Worse, "faster": Better, "tiny-change": Same, "same": Same, "broken": Worse}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if !Regressed(ds) {
		t.Error("no regression reported")
	}
	// The same run against itself: nothing changes.
	if Regressed(Compare(old, old, DefaultCompareOptions)) {
		t.Error("a run regressed against itself")
	}
}
