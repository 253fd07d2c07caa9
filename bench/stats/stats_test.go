package stats

import (
	"fmt"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	xs := []float64{10, 12, 11, 13, 9, 10, 11, 12, 10, 11}
	orig := append([]float64(nil), xs...)
	s := Summarize(xs, 0.95)
	if s.N != 10 || s.Median != 11 || s.Min != 9 || s.Max != 13 || math.Abs(s.Mean-10.9) > 1e-12 {
		t.Errorf("summary %+v", s)
	}
	if !(s.Lo <= s.Median && s.Median <= s.Hi) || math.IsInf(s.Lo, 0) || s.Confidence < 0.95 {
		t.Errorf("CI [%v, %v] at %v", s.Lo, s.Hi, s.Confidence)
	}
	if math.Abs(s.CV-s.Std/s.Mean) > 1e-12 || s.Std <= 0 {
		t.Errorf("cv %v std %v", s.CV, s.Std)
	}
	for i := range xs {
		if xs[i] != orig[i] {
			t.Fatal("Summarize modified its input")
		}
	}
}

func TestSummarizeSmallSamplesWarn(t *testing.T) {
	for _, tc := range []struct {
		xs      []float64
		warn    bool
		boundCI bool
	}{
		{nil, true, false},
		{[]float64{1, 2, 3}, true, false},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false, true},
	} {
		t.Run(fmt.Sprint(len(tc.xs)), func(t *testing.T) {
			s := Summarize(tc.xs, 0.95)
			if (len(s.Warnings) > 0) != tc.warn {
				t.Errorf("warnings %v", s.Warnings)
			}
			if tc.boundCI == (math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0)) {
				t.Errorf("CI [%v, %v]", s.Lo, s.Hi)
			}
		})
	}
}

func TestWarmup(t *testing.T) {
	w := Warmup{Min: 2, Max: 6, Window: 3, MaxCV: 0.05}
	for _, tc := range []struct {
		name         string
		seen         []float64
		done, stable bool
	}{
		{"nothing yet", nil, false, false},
		{"below window", []float64{5, 1}, false, false},
		{"settled", []float64{9, 1, 1, 1.01}, true, true},
		{"still noisy", []float64{9, 1, 2, 1}, false, false},
		{"hit max", []float64{9, 1, 2, 1, 3, 1}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, stable := w.Done(tc.seen)
			if done != tc.done || stable != tc.stable {
				t.Errorf("Done = %v, %v; want %v, %v", done, stable, tc.done, tc.stable)
			}
		})
	}
	if done, _ := (Warmup{}).Done(nil); !done {
		t.Error("a zero Warmup should not warm up")
	}
}

func ExampleSummarize() {
	// Ten decode steps, in milliseconds.
	s := Summarize([]float64{6.91, 6.94, 6.93, 6.95, 6.92, 6.90, 7.30, 6.93, 6.94, 6.92}, 0.95)
	fmt.Printf("median %.3f ms, 95%% CI [%.2f, %.2f], CV %.1f%%\n", s.Median, s.Lo, s.Hi, 100*s.CV)
	// Output: median 6.930 ms, 95% CI [6.91, 6.95], CV 1.7%
}
