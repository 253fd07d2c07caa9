package engine

import (
	"context"
	"fmt"
	"maps"
	"math"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/stats"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// Telemetry samples a device beside the cells. The engine calls Begin when
// a cell starts on a runner, and Flush after each cell with the path of the
// run's telemetry file.
type Telemetry interface {
	// Begin starts sampling for a cell whose runner has process ID rootPID
	// and reported device; it returns nil when it cannot sample that device
	// (e.g. a CPU runner).
	Begin(c Cell, rootPID int, device *protocol.DeviceInfo) TelemetrySession
	// Flush writes every telemetry sample taken so far to path, atomically.
	Flush(path string) error
}

// TelemetrySession samples one cell.
type TelemetrySession interface {
	// StartWindow and EndWindow delimit the measured repetitions, for
	// energy per token; tokens is the number of tokens they processed.
	StartWindow()
	EndWindow(tokens int)
	// End stops sampling and writes the cell's telemetry columns (and
	// warnings) into row.
	End(row *results.CellRow)
}

func (e *Engine) baseRow(c Cell, l *live) results.CellRow {
	r := results.CellRow{
		RunID: e.manifest.RunID, CellID: c.ID, CellIndex: int64(c.Index), Variant: c.Variant,
		ModelConfig: c.Model.Config, Weights: c.Model.Weights, Phase: c.Phase, SeqLen: int64(c.SeqLen),
		Batch: int64(c.Batch), NewTokens: int64(c.NewTokens), Profile: c.Profile, DType: c.DType,
		MemoryCapBytes: c.MemoryCap, CacheFill: c.CacheFill, Knobs: map[string]string{}, Extra: map[string]float64{},
		Warnings: []string{},
	}
	if l != nil {
		r.Runner, r.RunnerVersion = l.hello.Runner.Name, l.hello.Runner.Version
		if l.hello.Device != nil {
			r.Device = l.hello.Device.Name
		}
	}
	return r
}

// runCell measures one cell. It never returns an error: failures become the
// row's status and error text.
func (e *Engine) runCell(ctx context.Context, p *pool, c Cell) (row results.CellRow, samples []results.SampleRow) {
	row = e.baseRow(c, nil)
	row.StartedAt = e.now().UTC()
	defer func() { row.EndedAt = e.now().UTC() }()
	fail := func(err error) {
		row.Status = classify(err)
		msg := err.Error()
		row.Error = &msg
		if row.Status == results.StatusTimeout || row.Status == results.StatusCrash {
			p.drop(c.Key())
		}
	}
	l, err := p.get(ctx, c)
	if err != nil {
		fail(err)
		return row, nil
	}
	row.Runner, row.RunnerVersion = l.hello.Runner.Name, l.hello.Runner.Version
	if l.hello.Device != nil {
		row.Device = l.hello.Device.Name
	}
	var ts TelemetrySession
	if e.Opts.Telemetry != nil {
		ts = e.Opts.Telemetry.Begin(c, l.client.PID(), l.hello.Device)
	}
	defer func() {
		if ts != nil {
			ts.End(&row)
		}
	}()
	to := e.Spec.Timeouts
	id := fmt.Sprintf("c%d-%s", c.Index, c.ID[:8])
	ready, err := l.client.Call(ctx, &protocol.Message{Type: protocol.TypeCell, ID: id, Cell: &protocol.CellRequest{
		Phase: c.Phase, SeqLen: c.SeqLen, Batch: c.Batch, NewTokens: c.NewTokens, CacheFill: c.CacheFill,
		Seed: e.Spec.Seed + int64(c.Index),
	}}, to.Cell)
	if err != nil {
		fail(err)
		return row, nil
	}

	rep := func(i int, warm bool) (*protocol.Message, error) {
		m, err := l.client.Call(ctx, &protocol.Message{Type: protocol.TypeRep, ID: id, Index: i, Warmup: warm}, to.Rep)
		if err != nil {
			return nil, err
		}
		if _, ok := m.Metrics["latency_ms"]; !ok {
			return nil, &protocol.RunnerError{Status: protocol.StatusError, Message: "runner's sample has no latency_ms"}
		}
		samples = append(samples, e.sampleRow(c, i, warm, m))
		return m, nil
	}
	// Warm up until stable (bounded).
	w := stats.Warmup{Min: c.Warmup.Min, Max: c.Warmup.Max, Window: c.Warmup.Window, MaxCV: c.Warmup.CV}
	var warm []float64
	for {
		done, stable := w.Done(warm)
		if done {
			row.WarmupStable = stable
			if !stable && w.Max > 0 {
				row.Warnings = append(row.Warnings, fmt.Sprintf("warm-up did not settle in %d repetitions (CV of the last %d: %.1f%%, target %.1f%%)",
					len(warm), min(w.Window, len(warm)), 100*stats.CV(warm[max(0, len(warm)-w.Window):]), 100*w.MaxCV))
			}
			break
		}
		m, err := rep(len(warm), true)
		if err != nil {
			fail(err)
			return row, samples
		}
		warm = append(warm, m.Metrics["latency_ms"])
	}
	row.WarmupReps = int64(len(warm))

	// Measured repetitions.
	if ts != nil {
		ts.StartWindow()
	}
	var measured []*protocol.Message
	for i := 0; i < c.Reps; i++ {
		m, err := rep(i, false)
		if err != nil {
			fail(err)
			return row, samples
		}
		measured = append(measured, m)
	}
	if ts != nil {
		ts.EndWindow(c.Tokens() * len(measured))
	}
	row.Reps = int64(len(measured))
	result, err := l.client.Call(ctx, &protocol.Message{Type: protocol.TypeEnd, ID: id}, to.Cell)
	if err != nil {
		fail(err)
		return row, samples
	}
	row.Status = results.StatusOK
	e.summarize(&row, c, l, ready, measured, result)
	return row, samples
}

func (e *Engine) sampleRow(c Cell, i int, warm bool, m *protocol.Message) results.SampleRow {
	s := results.SampleRow{
		RunID: e.manifest.RunID, CellID: c.ID, Variant: c.Variant, Phase: c.Phase, SeqLen: int64(c.SeqLen),
		Batch: int64(c.Batch), Profile: c.Profile, DType: c.DType, Rep: int64(i), Warmup: warm,
		At: e.now().UTC(), LatencyMs: m.Metrics["latency_ms"], Extra: map[string]float64{},
	}
	for k, v := range m.Metrics {
		switch k {
		case "latency_ms":
		case "alloc_peak_bytes":
			s.AllocPeakBytes = i64(v)
		case "reserved_bytes":
			s.ReservedBytes = i64(v)
		case "heap_peak_bytes":
			s.HeapPeakBytes = i64(v)
		case "tokens_per_s":
			s.TokensPerS = f64(v)
		default:
			s.Extra[k] = v
		}
	}
	return s
}

// summarize fills the statistics and memory columns of a finished cell.
func (e *Engine) summarize(row *results.CellRow, c Cell, l *live, ready *protocol.Message, measured []*protocol.Message, result *protocol.Message) {
	// Knobs: everything the runner said of its setup.
	for _, m := range []*protocol.Message{l.loaded, ready, result} {
		maps.Copy(row.Knobs, m.Info)
	}
	row.CacheFill = firstNonEmpty(row.Knobs["cache_fill"], row.CacheFill)
	row.Timer = row.Knobs["timer"]
	row.CUDAGraph, row.AttentionKernel = row.Knobs["cuda_graph"], row.Knobs["attention_kernel"]
	row.ScanKernel, row.TF32 = row.Knobs["scan_kernel"], row.Knobs["tf32"]

	series := func(name string) []float64 {
		var xs []float64
		for _, m := range measured {
			if v, ok := m.Metrics[name]; ok && !math.IsNaN(v) {
				xs = append(xs, v)
			}
		}
		return xs
	}
	lat := stats.Summarize(series("latency_ms"), stats.DefaultConfidence)
	row.Warnings = append(row.Warnings, lat.Warnings...)
	row.CIConfidence = f64(lat.Confidence)
	p50, lo, hi, cv, mean, mn, mx := f64(lat.Median), f64(lat.Lo), f64(lat.Hi), f64(lat.CV), f64(lat.Mean), f64(lat.Min), f64(lat.Max)
	if math.IsInf(lat.Lo, 0) {
		lo = nil
	}
	if math.IsInf(lat.Hi, 0) {
		hi = nil
	}
	switch c.Phase {
	case "prefill":
		row.PrefillMsP50, row.PrefillMsCILo, row.PrefillMsCIHi, row.PrefillMsCV = p50, lo, hi, cv
		row.PrefillMsMean, row.PrefillMsMin, row.PrefillMsMax = mean, mn, mx
	case "decode":
		row.DecodeMsP50, row.DecodeMsCILo, row.DecodeMsCIHi, row.DecodeMsCV = p50, lo, hi, cv
		row.DecodeMsMean, row.DecodeMsMin, row.DecodeMsMax = mean, mn, mx
	case "generate":
		row.GenerateMsP50, row.GenerateMsCILo, row.GenerateMsCIHi, row.GenerateMsCV = p50, lo, hi, cv
		row.GenerateMsMean, row.GenerateMsMin, row.GenerateMsMax = mean, mn, mx
		if xs := series("prefill_ms"); len(xs) > 0 {
			row.GeneratePrefMs = f64(stats.Summarize(xs, stats.DefaultConfidence).Median)
		}
		if xs := series("decode_ms_mean"); len(xs) > 0 {
			row.GenerateStepMs = f64(stats.Summarize(xs, stats.DefaultConfidence).Median)
		}
	}
	if xs := series("tokens_per_s"); len(xs) > 0 {
		row.TokensPerSP50 = f64(stats.Summarize(xs, stats.DefaultConfidence).Median)
	} else if lat.Median > 0 {
		row.TokensPerSP50 = f64(float64(c.Tokens()) * 1000 / lat.Median)
	}

	// Memory: the maximum over the measured repetitions of per-repetition
	// peaks, and cell-level numbers from ready and result.
	maxOf := func(name string) *int64 {
		xs := series(name)
		if len(xs) == 0 {
			return nil
		}
		m := xs[0]
		for _, x := range xs {
			m = math.Max(m, x)
		}
		return i64(m)
	}
	row.AllocPeakBytes = maxOf("alloc_peak_bytes")
	row.ReservedPeakBytes = maxOf("reserved_bytes")
	row.HeapPeakBytes = maxOf("heap_peak_bytes")
	cellMetrics := map[string]float64{}
	for _, m := range []*protocol.Message{l.loaded, ready, result} {
		maps.Copy(cellMetrics, m.Metrics)
	}
	for k, v := range cellMetrics {
		switch k {
		case "weight_bytes":
			row.WeightBytes = i64(v)
		case "kv_cache_bytes_analytic":
			row.KVCacheBytes = i64(v)
		case "state_bytes_analytic":
			row.StateBytes = i64(v)
		case "bytes_moved_per_step_analytic":
			row.BytesMovedPerStep = i64(v)
		case "copy_bandwidth_bytes_per_s":
			row.CopyBandwidth = f64(v)
		case "alloc_peak_incl_prefill_bytes":
			row.AllocPeakInclPrefil = i64(v)
		case "alloc_peak_bytes":
			if row.AllocPeakBytes == nil || int64(v) > *row.AllocPeakBytes {
				row.AllocPeakBytes = i64(v)
			}
		case "heap_peak_bytes":
			if row.HeapPeakBytes == nil || int64(v) > *row.HeapPeakBytes {
				row.HeapPeakBytes = i64(v)
			}
		default:
			row.Extra[k] = v
		}
	}
	if c.Phase == "decode" && row.BytesMovedPerStep != nil && row.CopyBandwidth != nil && *row.CopyBandwidth > 0 {
		floor := float64(*row.BytesMovedPerStep) / *row.CopyBandwidth * 1000
		row.FloorMs = f64(floor)
		if lat.Median > 0 {
			row.FloorRatio = f64(lat.Median / floor)
		}
	}
}

func f64(v float64) *float64 { return &v }
func i64(v float64) *int64   { n := int64(v); return &n }

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}
