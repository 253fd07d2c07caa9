package overhead

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/bench/telemetry"
)

// synth returns n latencies around base ms with relative noise cv (normal),
// from a fixed seed.
func synth(seed uint64, n int, base, cv float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 42))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = base * (1 + cv*r.NormFloat64())
	}
	return xs
}

func TestAnalyzeVerdicts(t *testing.T) {
	const base, n = 7.0, 20
	cases := []struct {
		name       string
		slowdown   float64 // relative, of the rate arm
		cv         float64
		n          int
		verdict    string
		reason     string  // substring of the reason
		wantDiff   float64 // expected median difference, percent (±tol)
		tolPct     float64
		wantSignif bool // p < 0.05 expected
	}{
		{"0.1% slowdown, low noise: significant but PASS", 0.001, 0.001, n, Pass, "lies inside", 0.1, 0.08, true},
		{"no difference, low noise: PASS", 0, 0.001, n, Pass, "lies inside", 0, 0.08, false},
		{"1% slowdown, low noise: FAIL", 0.01, 0.001, n, Fail, "lies outside", 1, 0.1, true},
		{"1% speedup is no PASS either", -0.01, 0.001, n, Fail, "lies outside", -1, 0.1, true},
		{"0.45% slowdown, low noise: interval reaches past T", 0.0045, 0.001, n, Fail, "reaches past", 0.45, 0.1, true},
		{"no difference but 3% noise: not shown", 0, 0.03, n, Fail, "reaches past", 0, 3, false},
		{"two repetitions: no interval", 0.001, 0.001, 2, Fail, "too few repetitions", 0.1, 1, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			off := synth(uint64(2*i+1), tc.n, base, tc.cv)
			on := synth(uint64(2*i+2), tc.n, base*(1+tc.slowdown), tc.cv)
			sum, err := Analyze([]ArmData{{Arm: Arm{Name: OffArm}, LatencyMs: off}, {Arm: Arm{Name: "100 Hz", Hz: 100}, LatencyMs: on, Sampled: true}}, 0.5, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Arms) != 2 || len(sum.Comparisons) != 1 {
				t.Fatalf("summary has %d arms and %d comparisons", len(sum.Arms), len(sum.Comparisons))
			}
			c := sum.Comparisons[0]
			if c.Verdict != tc.verdict || !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("verdict %s (%s), want %s (%q)", c.Verdict, c.Reason, tc.verdict, tc.reason)
			}
			if math.Abs(c.MedianDiffPct-tc.wantDiff) > tc.tolPct || math.Abs(c.ShiftPct-tc.wantDiff) > tc.tolPct {
				t.Errorf("median diff %.4f%%, shift %.4f%%, want %.4f%% ± %.2f", c.MedianDiffPct, c.ShiftPct, tc.wantDiff, tc.tolPct)
			}
			if got := c.PValue < 0.05; got != tc.wantSignif {
				t.Errorf("p = %.4g, significant %v, want %v", c.PValue, got, tc.wantSignif)
			}
			if c.ShiftCILoPct != nil && !(*c.ShiftCILoPct <= c.ShiftPct && c.ShiftPct <= *c.ShiftCIHiPct && c.ShiftCIConfidence >= 0.95) {
				t.Errorf("shift %.4f outside its CI [%v, %v] or level %v < 0.95", c.ShiftPct, *c.ShiftCILoPct, *c.ShiftCIHiPct, c.ShiftCIConfidence)
			}
			// The per-arm statistics are bench/stats' (median and its CI).
			off0 := sum.Arms[0]
			sorted := slices.Sorted(slices.Values(off))
			if off0.N != tc.n || off0.MedianMs != median(sorted) || off0.MinMs != sorted[0] || off0.MaxMs != sorted[len(sorted)-1] {
				t.Errorf("off arm %+v does not describe its data", off0)
			}
			if tc.n >= 6 && (off0.CILoMs == nil || *off0.CILoMs > off0.MedianMs || *off0.CIHiMs < off0.MedianMs) {
				t.Errorf("off arm median CI [%v, %v] does not hold the median %v", off0.CILoMs, off0.CIHiMs, off0.MedianMs)
			}
		})
	}
}

// Tiny samples give unbounded intervals (null in JSON), never NaN or Inf.
func TestAnalyzeTinyJSON(t *testing.T) {
	sum, err := Analyze([]ArmData{{Arm: Arm{Name: OffArm}, LatencyMs: []float64{2}}, {Arm: Arm{Name: "1 Hz", Hz: 1}, LatencyMs: []float64{3}}}, 0.5, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(sum)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	c := sum.Comparisons[0]
	if c.Verdict != Fail || c.ShiftCILoPct != nil || sum.Arms[0].CILoMs != nil || math.Abs(c.MedianDiffPct-50) > 1e-9 || math.Abs(c.ShiftPct-50) > 1e-9 {
		t.Errorf("summary %s", data)
	}
}

func median(sorted []float64) float64 { return medianSorted(sorted) }

func TestAnalyzeRejects(t *testing.T) {
	good := []float64{1, 2, 3}
	off := ArmData{Arm: Arm{Name: OffArm}, LatencyMs: good}
	on := ArmData{Arm: Arm{Name: "100 Hz", Hz: 100}, LatencyMs: good}
	cases := []struct {
		name string
		data []ArmData
		t, c float64
		want string
	}{
		{"only off", []ArmData{off}, 0.5, 0.95, "at least one rate"},
		{"off not first", []ArmData{on, off}, 0.5, 0.95, "first arm"},
		{"zero threshold", []ArmData{off, on}, 0, 0.95, "threshold"},
		{"NaN threshold", []ArmData{off, on}, math.NaN(), 0.95, "threshold"},
		{"confidence 1", []ArmData{off, on}, 0.5, 1, "confidence"},
		{"empty arm", []ArmData{off, {Arm: on.Arm}}, 0.5, 0.95, "no repetitions"},
		{"zero latency", []ArmData{off, {Arm: on.Arm, LatencyMs: []float64{1, 0}}}, 0.5, 0.95, "repetition 1"},
		{"NaN latency", []ArmData{{Arm: off.Arm, LatencyMs: []float64{math.NaN()}}, on}, 0.5, 0.95, "arm off, repetition 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Analyze(tc.data, tc.t, tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// The critical values of the two-sided Mann-Whitney test at 0.05 from the
// published tables (the largest U rejected): the interval uses order
// statistic k = that + 1.
func TestCriticalValues(t *testing.T) {
	cases := []struct{ m, n, table int }{
		{5, 5, 2}, {8, 8, 13}, {10, 10, 23}, {20, 20, 127}, {10, 20, 55},
	}
	for _, tc := range cases {
		x := make([]float64, tc.m)
		y := make([]float64, tc.n)
		for i := range x {
			x[i] = float64(i + 1)
		}
		for j := range y {
			y[j] = float64(j+1) + 0.5
		}
		s := relativeShift(x, y, 0.95)
		// Recover k from the interval: the lower bound is D_(k).
		d := pairwiseLog(x, y)
		k := slices.Index(d, s.lo) + 1
		if k != tc.table+1 {
			t.Errorf("m=%d n=%d: k = %d, want %d (table critical value %d)", tc.m, tc.n, k, tc.table+1, tc.table)
		}
		if s.level < 0.95 || s.level > 0.99 {
			t.Errorf("m=%d n=%d: actual level %.4f", tc.m, tc.n, s.level)
		}
	}
}

func pairwiseLog(x, y []float64) []float64 {
	var d []float64
	for _, a := range x {
		for _, b := range y {
			d = append(d, math.Log(b)-math.Log(a))
		}
	}
	slices.Sort(d)
	return d
}

// The interval covers the true shift at least about as often as it claims,
// exact (n <= 50) and approximate (n > 50) alike.
func TestShiftCoverage(t *testing.T) {
	for _, n := range []int{12, 60} {
		t.Run("n="+strconv.Itoa(n), func(t *testing.T) {
			const trials, truth = 300, 0.02 // a 2% shift
			r := rand.New(rand.NewPCG(uint64(n), 7))
			hit := 0
			for range trials {
				x, y := make([]float64, n), make([]float64, n)
				for i := range x {
					x[i] = 10 * math.Exp(0.05*r.NormFloat64())
					y[i] = 10 * math.Exp(truth+0.05*r.NormFloat64())
				}
				s := relativeShift(x, y, 0.95)
				if s.lo <= truth && truth <= s.hi {
					hit++
				}
			}
			// 95% nominal; binomial sd at 300 trials is ~1.3%.
			if cov := float64(hit) / trials; cov < 0.91 {
				t.Errorf("coverage %.3f, want >= 0.95 (less sampling error)", cov)
			}
		})
	}
}

func TestArmTelemetry(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	b := func(v bool) *bool { return &v }
	sessions := []SessionStat{
		{Aggregate: telemetry.Aggregate{TelemetrySamples: i(10), TelemetryHzAchieved: f(100), TelemetryReadUsMean: f(40), TelemetryReadUsMax: f(90),
			EnergyJ: f(4), TelemetryWindowTokens: i(4), Throttled: b(false), Warnings: []string{"w1"}}, DurationS: 1},
		{Aggregate: telemetry.Aggregate{TelemetrySamples: i(30), TelemetryHzAchieved: f(80), TelemetryReadUsMean: f(60), TelemetryReadUsMax: f(70),
			EnergyJ: f(8), TelemetryWindowTokens: i(4), Throttled: b(true), Warnings: []string{"w1", "w2"}}, DurationS: 3},
	}
	a := summarizeArm(ArmData{Arm: Arm{Name: "100 Hz", Hz: 100}, LatencyMs: []float64{1, 2, 3, 4, 5, 6}, Sampled: true, Sessions: sessions}, 0.95)
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("HzAchieved (ticks over time)", a.HzAchieved, (100*1+80*3)/4.0)
	check("ReadUsMean (per sample)", a.ReadUsMean, (40*10+60*30)/40.0)
	check("ReadUsMax", a.ReadUsMax, 90)
	check("EnergyJPerRep", a.EnergyJPerRep, 12/8.0)
	if a.Sessions != 2 || a.TelemetrySamples != 40 || a.Throttled == nil || !*a.Throttled {
		t.Errorf("sessions %d, samples %d, throttled %v", a.Sessions, a.TelemetrySamples, a.Throttled)
	}
	if !slices.Contains(a.Warnings, "w1") || !slices.Contains(a.Warnings, "w2") || len(a.Warnings) != 2 {
		t.Errorf("warnings %q: want w1 and w2 once each", a.Warnings)
	}
	// An arm without sessions has no telemetry figures.
	off := summarizeArm(ArmData{Arm: Arm{Name: OffArm}, LatencyMs: []float64{1, 2, 3}}, 0.95)
	if off.HzAchieved != nil || off.ReadUsMean != nil || off.Sessions != 0 {
		t.Errorf("off arm has telemetry: %+v", off)
	}
}

func FuzzRelativeShift(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(4))
	f.Add([]byte{9, 9, 9, 9, 9, 9}, uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, split uint8) {
		if len(raw) < 2 {
			return
		}
		k := 1 + int(split)%(len(raw)-1)
		conv := func(bs []byte) []float64 {
			xs := make([]float64, len(bs))
			for i, b := range bs {
				xs[i] = 1 + float64(b)/16
			}
			return xs
		}
		x, y := conv(raw[:k]), conv(raw[k:])
		s := relativeShift(x, y, 0.95)
		if math.IsNaN(s.est) || s.lo > s.est || s.est > s.hi {
			t.Fatalf("estimate %v outside [%v, %v]", s.est, s.lo, s.hi)
		}
		if s.bounded && (s.level < 0.95 || s.level > 1 || math.IsInf(s.lo, 0) || math.IsInf(s.hi, 0)) {
			t.Fatalf("bounded interval [%v, %v] at level %v", s.lo, s.hi, s.level)
		}
	})
}
