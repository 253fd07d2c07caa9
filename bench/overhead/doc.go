// Package overhead measures what the NVML telemetry sampler costs the
// benchmark it watches: the same measurement cell is repeated with the
// sampler off and at one or more sampling rates, the arms interleaved, and
// the step-time distributions compared.
//
// # Design
//
// One runner process is started and one cell prepared (engine.StartRunner,
// then the protocol's cell request). After the cell's warm-up the
// experiment runs Rounds rounds. In each round every arm runs
// RepsPerRound(Reps, Rounds) repetitions back to back, and the order of
// the arms rotates by one from round to round (off, 100 Hz, 1000 Hz; then
// 100 Hz, 1000 Hz, off; ...), so a slow drift of the machine (clocks,
// temperature) falls on every arm alike. An arm with a rate opens a
// telemetry Session on the runner's process and device before its
// repetitions of the round and ends it after them; the "off" arm samples
// nothing. The Monitors (one per rate) are opened once, before the first
// round.
//
// # Statistics
//
// Analyze is pure computation over the latencies: per arm the median with
// its distribution-free confidence interval (bench/stats.Summarize); per
// rate the difference of its median from the off arm's in percent, the
// Mann-Whitney U test p-value (benchmath.AssumeNothing.Compare), and the
// Hodges-Lehmann estimate of the relative shift with its distribution-free
// confidence interval (the order statistics of the pairwise log ratios
// that the U distribution selects, converted to percent).
//
// The verdict rule: a rate PASSes when the whole confidence interval of
// the relative shift lies strictly inside (-T, +T), T the threshold (0.5%
// by default): the data then show, at that confidence, that the sampler
// changes the median step time by less than T. Otherwise it FAILs, with
// the reason: the interval lies wholly outside (a real difference), or it
// straddles a bound (not shown to be small: more repetitions or a quieter
// machine would decide). This is an equivalence test (two one-sided tests
// at (1-confidence)/2 each), so noise never passes for "no overhead".
//
// Without NVML (or when the runner's device is not a CUDA GPU) the arms
// still run, all with the sampler effectively off, and the result says so:
// the statistics then measure the noise of the machine, not the sampler.
package overhead
