// Package stats summarises repeated measurements: the median with a
// distribution-free confidence interval from order statistics (as benchstat
// does, through golang.org/x/perf/benchmath), the coefficient of variation,
// and the warm-up stability test of the engine. It does no I/O.
package stats

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// DefaultConfidence is the confidence level of reported intervals.
const DefaultConfidence = 0.95

// Summary describes one sample of repeated measurements.
type Summary struct {
	N          int
	Median     float64
	Lo, Hi     float64 // confidence interval of the median; ±Inf when N is too small
	Confidence float64 // actual confidence level of [Lo, Hi] (>= the level asked)
	Mean       float64
	Std        float64 // sample standard deviation
	CV         float64 // Std / Mean
	Min, Max   float64
	// Warnings explain why a number is weak (e.g. too few samples for a
	// bounded interval). They are data, for reports to show.
	Warnings []string
}

// Summarize computes the summary of xs at the given confidence level. xs is
// not modified. An empty xs gives a zero Summary with a warning.
func Summarize(xs []float64, confidence float64) Summary {
	if len(xs) == 0 {
		return Summary{Lo: math.Inf(-1), Hi: math.Inf(1), Warnings: []string{"no samples"}}
	}
	vals := slices.Clone(xs)
	sample := benchmath.NewSample(vals, &benchmath.DefaultThresholds)
	sum := benchmath.AssumeNothing.Summary(sample, confidence)
	s := Summary{N: len(xs), Median: sum.Center, Lo: sum.Lo, Hi: sum.Hi, Confidence: sum.Confidence}
	for _, w := range sum.Warnings {
		s.Warnings = append(s.Warnings, w.Error())
	}
	s.Mean, s.Std = meanStd(xs)
	if s.Mean != 0 {
		s.CV = s.Std / s.Mean
	}
	s.Min, s.Max = slices.Min(xs), slices.Max(xs)
	return s
}

func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// CV returns the coefficient of variation (sample std / mean) of xs, or +Inf
// when it is undefined (fewer than 2 values or a zero mean).
func CV(xs []float64) float64 {
	if len(xs) < 2 {
		return math.Inf(1)
	}
	m, s := meanStd(xs)
	if m == 0 {
		return math.Inf(1)
	}
	return s / math.Abs(m)
}

// Warmup decides when warm-up repetitions have settled: after at least Min
// repetitions, once the CV of the last Window is below MaxCV; never more than
// Max repetitions.
type Warmup struct {
	Min, Max, Window int
	MaxCV            float64
}

// Done reports whether warm-up may stop after the repetitions seen so far,
// and whether it stopped because the timings were stable (false when it hit
// Max first).
func (w Warmup) Done(seen []float64) (done, stable bool) {
	n := len(seen)
	if n >= w.Min && n >= w.Window && w.Window >= 2 && CV(seen[n-w.Window:]) < w.MaxCV {
		return true, true
	}
	if n >= w.Max {
		return true, false
	}
	return false, false
}
