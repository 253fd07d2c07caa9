package overhead

import (
	"errors"
	"fmt"
	"math"
	"slices"

	mstats "github.com/aclements/go-moremath/stats"
	"golang.org/x/perf/benchmath"

	"github.com/ssmbench/ssmbench/bench/stats"
	"github.com/ssmbench/ssmbench/bench/telemetry"
)

// DefaultThresholdPct is the overhead target: the sampler may change the
// median step time by less than this many percent.
const DefaultThresholdPct = 0.5

// Verdicts.
const (
	Pass = "PASS"
	Fail = "FAIL"
)

// Rule states the verdict rule, for reports.
const Rule = "PASS iff the confidence interval of the relative shift (Hodges-Lehmann, distribution-free) lies strictly inside (-T, +T); FAIL otherwise"

// SessionStat is one telemetry session of an arm (one round).
type SessionStat struct {
	// Aggregate is what the session recorded.
	Aggregate telemetry.Aggregate `json:"aggregate"`
	// DurationS is the session's length, Begin to End, in seconds.
	DurationS float64 `json:"duration_s"`
}

// ArmData is what one arm measured: the input of Analyze.
type ArmData struct {
	Arm Arm
	// LatencyMs are the arm's measured repetitions, in milliseconds.
	LatencyMs []float64
	// Sampled says whether the arm's sampler really ran (false for the off
	// arm, and for every arm on a machine without NVML).
	Sampled bool
	// Sessions are the arm's telemetry sessions, one per round.
	Sessions []SessionStat
}

// ArmSummary describes one arm.
type ArmSummary struct {
	Arm     string  `json:"arm"`
	Hz      float64 `json:"hz"`
	Sampled bool    `json:"sampled"`
	N       int     `json:"n"`
	// MedianMs is the median step time; CILoMs and CIHiMs bound it at
	// CIConfidence (null when there are too few repetitions).
	MedianMs     float64  `json:"median_ms"`
	CILoMs       *float64 `json:"ci_lo_ms"`
	CIHiMs       *float64 `json:"ci_hi_ms"`
	CIConfidence float64  `json:"ci_confidence"`
	MeanMs       float64  `json:"mean_ms"`
	CVPct        float64  `json:"cv_pct"`
	MinMs        float64  `json:"min_ms"`
	MaxMs        float64  `json:"max_ms"`
	// Sessions is the number of telemetry sessions that ran.
	Sessions int `json:"sessions"`
	// TelemetrySamples is the samples they took in all.
	TelemetrySamples int64 `json:"telemetry_samples"`
	// HzAchieved is the sampler's tick rate over all sessions (ticks per
	// second of session).
	HzAchieved *float64 `json:"hz_achieved,omitempty"`
	// ReadUsMean is the mean time of one sample's NVML queries, µs; ReadUsMax the longest.
	ReadUsMean *float64 `json:"read_us_mean,omitempty"`
	ReadUsMax  *float64 `json:"read_us_max,omitempty"`
	// EnergyJPerRep is the device energy per repetition over the sessions'
	// measured windows, in joules.
	EnergyJPerRep *float64 `json:"energy_j_per_rep,omitempty"`
	// Throttled is true when any session saw a clocks-event reason.
	Throttled *bool `json:"throttled,omitempty"`
	// Warnings are the statistics' and the sessions' warnings (each once).
	Warnings []string `json:"warnings,omitempty"`
}

// Comparison compares one rate's arm with the off arm.
type Comparison struct {
	Arm     string  `json:"arm"`
	Hz      float64 `json:"hz"`
	Sampled bool    `json:"sampled"`
	// MedianDiffPct is 100 * (median(arm) / median(off) - 1).
	MedianDiffPct float64 `json:"median_diff_pct"`
	// ShiftPct is the Hodges-Lehmann estimate of the relative shift (the
	// median of all pairwise ratios arm/off, as a percentage change);
	// ShiftCILoPct and ShiftCIHiPct bound it at ShiftCIConfidence (null
	// when there are too few repetitions).
	ShiftPct          float64  `json:"shift_pct"`
	ShiftCILoPct      *float64 `json:"shift_ci_lo_pct"`
	ShiftCIHiPct      *float64 `json:"shift_ci_hi_pct"`
	ShiftCIConfidence float64  `json:"shift_ci_confidence"`
	// PValue is the Mann-Whitney U test's (two-sided) p-value.
	PValue       float64 `json:"p_value"`
	ThresholdPct float64 `json:"threshold_pct"`
	// Verdict is PASS or FAIL (see Rule); Reason says why.
	Verdict  string   `json:"verdict"`
	Reason   string   `json:"reason"`
	Warnings []string `json:"warnings,omitempty"`
}

// Summary is the experiment's statistics.
type Summary struct {
	Confidence   float64      `json:"confidence"`
	ThresholdPct float64      `json:"threshold_pct"`
	Rule         string       `json:"rule"`
	Arms         []ArmSummary `json:"arms"`
	Comparisons  []Comparison `json:"comparisons"`
}

// Analyze computes the summary of an experiment. data[0] must be the off
// arm; every other arm is compared with it. thresholdPct is T of the
// verdict rule (percent), confidence the level of every interval.
func Analyze(data []ArmData, thresholdPct, confidence float64) (Summary, error) {
	sum := Summary{Confidence: confidence, ThresholdPct: thresholdPct, Rule: Rule}
	switch {
	case len(data) < 2:
		return sum, errors.New("overhead: need the off arm and at least one rate")
	case data[0].Arm.Hz != 0:
		return sum, fmt.Errorf("overhead: the first arm must be %q, not %q", OffArm, data[0].Arm.Name)
	case !(thresholdPct > 0) || math.IsInf(thresholdPct, 0):
		return sum, fmt.Errorf("overhead: threshold %v%% is not a positive percentage", thresholdPct)
	case !(confidence > 0 && confidence < 1):
		return sum, fmt.Errorf("overhead: confidence %v is not in (0, 1)", confidence)
	}
	for _, d := range data {
		if len(d.LatencyMs) == 0 {
			return sum, fmt.Errorf("overhead: arm %s has no repetitions", d.Arm.Name)
		}
		for i, x := range d.LatencyMs {
			if !(x > 0) || math.IsInf(x, 0) {
				return sum, fmt.Errorf("overhead: arm %s, repetition %d: latency %v ms is not a positive number", d.Arm.Name, i, x)
			}
		}
		sum.Arms = append(sum.Arms, summarizeArm(d, confidence))
	}
	off := data[0].LatencyMs
	offS := benchmath.NewSample(slices.Clone(off), &benchmath.DefaultThresholds)
	for i, d := range data[1:] {
		c := Comparison{Arm: d.Arm.Name, Hz: d.Arm.Hz, Sampled: d.Sampled, ThresholdPct: thresholdPct}
		c.MedianDiffPct = 100 * (sum.Arms[i+1].MedianMs/sum.Arms[0].MedianMs - 1)
		cmp := benchmath.AssumeNothing.Compare(offS, benchmath.NewSample(slices.Clone(d.LatencyMs), &benchmath.DefaultThresholds))
		c.PValue = cmp.P
		for _, w := range cmp.Warnings {
			c.Warnings = append(c.Warnings, w.Error())
		}
		sh := relativeShift(off, d.LatencyMs, confidence)
		c.ShiftPct, c.ShiftCIConfidence = pct(sh.est), sh.level
		if sh.bounded {
			c.ShiftCILoPct, c.ShiftCIHiPct = ptr(pct(sh.lo)), ptr(pct(sh.hi))
		}
		c.Verdict, c.Reason = verdict(c, thresholdPct)
		sum.Comparisons = append(sum.Comparisons, c)
	}
	return sum, nil
}

func ptr[T any](v T) *T { return &v }

// pct turns a log ratio into a percentage change.
func pct(logRatio float64) float64 { return 100 * math.Expm1(logRatio) }

func verdict(c Comparison, t float64) (string, string) {
	if c.ShiftCILoPct == nil {
		return Fail, "too few repetitions for a bounded confidence interval of the shift"
	}
	lo, hi := *c.ShiftCILoPct, *c.ShiftCIHiPct
	ci := fmt.Sprintf("%.1f%% CI of the shift [%+.3f%%, %+.3f%%]", 100*c.ShiftCIConfidence, lo, hi)
	switch {
	case lo > -t && hi < t:
		return Pass, fmt.Sprintf("%s lies inside ±%g%%", ci, t)
	case lo >= t || hi <= -t:
		return Fail, fmt.Sprintf("%s lies outside ±%g%%: the sampler changes the step time", ci, t)
	}
	return Fail, fmt.Sprintf("%s reaches past ±%g%%: not shown to be smaller (more repetitions or a quieter machine would decide)", ci, t)
}

func summarizeArm(d ArmData, confidence float64) ArmSummary {
	s := stats.Summarize(d.LatencyMs, confidence)
	a := ArmSummary{Arm: d.Arm.Name, Hz: d.Arm.Hz, Sampled: d.Sampled, N: s.N, MedianMs: s.Median,
		CIConfidence: s.Confidence, MeanMs: s.Mean, CVPct: 100 * s.CV, MinMs: s.Min, MaxMs: s.Max}
	if !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0) {
		a.CILoMs, a.CIHiMs = ptr(s.Lo), ptr(s.Hi)
	}
	warn := slices.Clone(s.Warnings)
	var ticks, dur, readSum, readN, energy float64
	var reps int64
	for _, ss := range d.Sessions {
		g := ss.Aggregate
		a.Sessions++
		if g.TelemetrySamples != nil {
			a.TelemetrySamples += *g.TelemetrySamples
		}
		if g.TelemetryHzAchieved != nil && ss.DurationS > 0 {
			ticks += *g.TelemetryHzAchieved * ss.DurationS
			dur += ss.DurationS
		}
		if g.TelemetryReadUsMean != nil && g.TelemetrySamples != nil {
			readSum += *g.TelemetryReadUsMean * float64(*g.TelemetrySamples)
			readN += float64(*g.TelemetrySamples)
		}
		if g.TelemetryReadUsMax != nil && (a.ReadUsMax == nil || *g.TelemetryReadUsMax > *a.ReadUsMax) {
			a.ReadUsMax = ptr(*g.TelemetryReadUsMax)
		}
		if g.EnergyJ != nil && g.TelemetryWindowTokens != nil {
			energy += *g.EnergyJ
			reps += *g.TelemetryWindowTokens
		}
		if g.Throttled != nil {
			a.Throttled = ptr(*g.Throttled || (a.Throttled != nil && *a.Throttled))
		}
		for _, w := range g.Warnings {
			if !slices.Contains(warn, w) {
				warn = append(warn, w)
			}
		}
	}
	if dur > 0 {
		a.HzAchieved = ptr(ticks / dur)
	}
	if readN > 0 {
		a.ReadUsMean = ptr(readSum / readN)
	}
	if reps > 0 {
		a.EnergyJPerRep = ptr(energy / float64(reps))
	}
	if len(warn) > 0 {
		a.Warnings = warn
	}
	return a
}

// shift is the Hodges-Lehmann estimate of a location shift with its
// distribution-free confidence interval.
type shift struct {
	est, lo, hi float64
	level       float64 // actual confidence of [lo, hi] (>= the level asked)
	bounded     bool    // false when the samples are too small for an interval
}

// relativeShift estimates by how much y is shifted against x on the log
// scale: the median of the pairwise differences log(y_j) - log(x_i)
// (Hodges-Lehmann), with the interval [D_(k), D_(mn+1-k)] of their order
// statistics, k the largest integer with P(U <= k-1) <= (1-confidence)/2
// under the Mann-Whitney U distribution of sizes m and n (exact without
// ties up to 50 per side, else the normal approximation with continuity
// correction). Ties in the data make the interval slightly conservative.
func relativeShift(x, y []float64, confidence float64) shift {
	m, n := len(x), len(y)
	d := make([]float64, 0, m*n)
	for _, xi := range x {
		lx := math.Log(xi)
		for _, yj := range y {
			d = append(d, math.Log(yj)-lx)
		}
	}
	slices.Sort(d)
	mn := len(d)
	s := shift{est: medianSorted(d), lo: math.Inf(-1), hi: math.Inf(1), level: 1}
	cdf := uCDF(m, n)
	half := (1 - confidence) / 2
	// The largest u = k-1 in [0, mn/2) with cdf(u) <= half.
	lo, hi := 0, (mn+1)/2 // invariant: cdf(u) <= half for u < lo; > half for u >= hi
	for lo < hi {
		mid := (lo + hi) / 2
		if cdf(mid) <= half {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	k := lo // number of u values with cdf(u) <= half, so u = k-1 is the largest
	if k < 1 {
		return s
	}
	s.lo, s.hi = d[k-1], d[mn-k]
	s.level = 1 - 2*cdf(k-1)
	s.bounded = true
	return s
}

// uCDF returns u -> P(U <= u) for the Mann-Whitney U statistic of samples
// of sizes m and n without ties.
func uCDF(m, n int) func(int) float64 {
	if m <= mstats.MannWhitneyExactLimit && n <= mstats.MannWhitneyExactLimit {
		dist := mstats.UDist{N1: m, N2: n}
		return func(u int) float64 { return dist.CDF(float64(u)) }
	}
	mu := float64(m*n) / 2
	sigma := math.Sqrt(float64(m*n) * float64(m+n+1) / 12)
	return func(u int) float64 { return mstats.StdNormal.CDF((float64(u) + 0.5 - mu) / sigma) }
}

func medianSorted(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
