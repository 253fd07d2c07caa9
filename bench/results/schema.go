// Package results defines the on-disk layout of a sweep's results and reads
// and writes it atomically.
//
// A run directory results/<run-id>/ holds:
//
//   - cells.parquet: one row per measurement cell (CellRow): its axes, its
//     status, summary statistics of its repetitions and its memory columns;
//   - samples.parquet: one row per repetition, warm-up included (SampleRow);
//   - telemetry.parquet: NVML readings taken beside GPU cells (when present);
//   - manifest.json: how the run was made (Manifest);
//   - runner.log: everything the runners wrote to stderr.
//
// Every metric column carries its unit in its name (_ms, _bytes, _s,
// _bytes_per_s, _pct, _j, _w, _mhz) and the method in its name or in the
// column documentation below. The files open in pyarrow, pandas and DuckDB
// with no glue.
package results

import (
	"time"

	"github.com/ssmbench/ssmbench/bench/telemetry"
)

// SchemaVersion is the version of the files' layout. It is written into the
// manifest and into each parquet file's key/value metadata.
const SchemaVersion = 1

// Cell statuses.
const (
	StatusOK          = "ok"
	StatusOOM         = "oom"         // out of memory (device, host, or the configured cap)
	StatusTimeout     = "timeout"     // the runner did not answer in time and was killed
	StatusCrash       = "crash"       // the runner process died or broke the protocol
	StatusError       = "error"       // the runner reported an error
	StatusUnsupported = "unsupported" // the runner cannot measure this cell
	StatusSkipped     = "skipped"     // not run (e.g. a smaller cell of the same variant ran out of memory)
)

// CellRow is one measurement cell of cells.parquet.
type CellRow struct {
	RunID     string `parquet:"run_id,dict" json:"run_id"`
	CellID    string `parquet:"cell_id" json:"cell_id"`       // stable hash of the cell's axes and model
	CellIndex int64  `parquet:"cell_index" json:"cell_index"` // position in the sweep's order

	// Axes.
	Variant         string            `parquet:"variant,dict" json:"variant"`
	ModelConfig     string            `parquet:"model_config,dict" json:"model_config"` // builtin name or config path
	Weights         string            `parquet:"weights,dict" json:"weights"`           // "random" or a checkpoint directory
	Phase           string            `parquet:"phase,dict" json:"phase"`
	SeqLen          int64             `parquet:"seq_len" json:"seq_len"` // context (decode) or prompt (prefill, generate) tokens
	Batch           int64             `parquet:"batch" json:"batch"`
	NewTokens       int64             `parquet:"new_tokens" json:"new_tokens"` // generate only
	Profile         string            `parquet:"profile,dict" json:"profile"`
	DType           string            `parquet:"dtype,dict" json:"dtype"`
	MemoryCapBytes  int64             `parquet:"memory_cap_bytes" json:"memory_cap_bytes"` // 0 = no cap
	CacheFill       string            `parquet:"cache_fill,dict" json:"cache_fill"`        // how decode caches were filled: prefill or synthetic
	Timer           string            `parquet:"timer,dict" json:"timer"`                  // cuda_event or wall_monotonic
	Runner          string            `parquet:"runner,dict" json:"runner"`
	RunnerVersion   string            `parquet:"runner_version,dict" json:"runner_version"`
	Device          string            `parquet:"device,dict" json:"device"`
	CUDAGraph       string            `parquet:"cuda_graph,dict" json:"cuda_graph"`             // runner knob, "" when not applicable
	AttentionKernel string            `parquet:"attention_kernel,dict" json:"attention_kernel"` // runner knob
	ScanKernel      string            `parquet:"scan_kernel,dict" json:"scan_kernel"`           // runner knob
	TF32            string            `parquet:"tf32,dict" json:"tf32"`                         // runner knob
	Knobs           map[string]string `parquet:"knobs" json:"knobs"`                            // every knob the runner reported (info maps)
	Status          string            `parquet:"status,dict" json:"status"`
	Error           *string           `parquet:"error,optional" json:"error,omitempty"`
	StartedAt       time.Time         `parquet:"started_at,timestamp(microsecond)" json:"started_at"`
	EndedAt         time.Time         `parquet:"ended_at,timestamp(microsecond)" json:"ended_at"`
	WarmupReps      int64             `parquet:"warmup_reps" json:"warmup_reps"`
	WarmupStable    bool              `parquet:"warmup_stable" json:"warmup_stable"` // warm-up ended on a CV below the spec's threshold
	Reps            int64             `parquet:"reps" json:"reps"`                   // measured repetitions
	CIConfidence    *float64          `parquet:"ci_confidence,optional" json:"ci_confidence,omitempty"`
	Warnings        []string          `parquet:"warnings,list" json:"warnings"`

	// Latency of one repetition, per phase (runner timer, see Timer).
	PrefillMsP50   *float64 `parquet:"prefill_ms_p50,optional" json:"prefill_ms_p50,omitempty"`
	PrefillMsCILo  *float64 `parquet:"prefill_ms_ci_lo,optional" json:"prefill_ms_ci_lo,omitempty"`
	PrefillMsCIHi  *float64 `parquet:"prefill_ms_ci_hi,optional" json:"prefill_ms_ci_hi,omitempty"`
	PrefillMsCV    *float64 `parquet:"prefill_ms_cv,optional" json:"prefill_ms_cv,omitempty"`
	PrefillMsMean  *float64 `parquet:"prefill_ms_mean,optional" json:"prefill_ms_mean,omitempty"`
	PrefillMsMin   *float64 `parquet:"prefill_ms_min,optional" json:"prefill_ms_min,omitempty"`
	PrefillMsMax   *float64 `parquet:"prefill_ms_max,optional" json:"prefill_ms_max,omitempty"`
	DecodeMsP50    *float64 `parquet:"decode_ms_p50,optional" json:"decode_ms_p50,omitempty"`
	DecodeMsCILo   *float64 `parquet:"decode_ms_ci_lo,optional" json:"decode_ms_ci_lo,omitempty"`
	DecodeMsCIHi   *float64 `parquet:"decode_ms_ci_hi,optional" json:"decode_ms_ci_hi,omitempty"`
	DecodeMsCV     *float64 `parquet:"decode_ms_cv,optional" json:"decode_ms_cv,omitempty"`
	DecodeMsMean   *float64 `parquet:"decode_ms_mean,optional" json:"decode_ms_mean,omitempty"`
	DecodeMsMin    *float64 `parquet:"decode_ms_min,optional" json:"decode_ms_min,omitempty"`
	DecodeMsMax    *float64 `parquet:"decode_ms_max,optional" json:"decode_ms_max,omitempty"`
	GenerateMsP50  *float64 `parquet:"generate_ms_p50,optional" json:"generate_ms_p50,omitempty"`
	GenerateMsCILo *float64 `parquet:"generate_ms_ci_lo,optional" json:"generate_ms_ci_lo,omitempty"`
	GenerateMsCIHi *float64 `parquet:"generate_ms_ci_hi,optional" json:"generate_ms_ci_hi,omitempty"`
	GenerateMsCV   *float64 `parquet:"generate_ms_cv,optional" json:"generate_ms_cv,omitempty"`
	GenerateMsMean *float64 `parquet:"generate_ms_mean,optional" json:"generate_ms_mean,omitempty"`
	GenerateMsMin  *float64 `parquet:"generate_ms_min,optional" json:"generate_ms_min,omitempty"`
	GenerateMsMax  *float64 `parquet:"generate_ms_max,optional" json:"generate_ms_max,omitempty"`
	TokensPerSP50  *float64 `parquet:"tokens_per_s_p50,optional" json:"tokens_per_s_p50,omitempty"`               // processed (prefill) or generated (decode, generate) tokens per second, median
	GeneratePrefMs *float64 `parquet:"generate_prefill_ms_p50,optional" json:"generate_prefill_ms_p50,omitempty"` // generate: prompt processing part, median
	GenerateStepMs *float64 `parquet:"generate_decode_ms_mean_p50,optional" json:"generate_decode_ms_mean_p50,omitempty"`

	// Memory, by method.
	AllocPeakBytes      *int64 `parquet:"alloc_peak_bytes,optional" json:"alloc_peak_bytes,omitempty"`                           // allocator peak during a repetition (reset before it), max over reps
	AllocPeakInclPrefil *int64 `parquet:"alloc_peak_incl_prefill_bytes,optional" json:"alloc_peak_incl_prefill_bytes,omitempty"` // allocator peak over the cache-filling prefill and a step
	ReservedPeakBytes   *int64 `parquet:"reserved_peak_bytes,optional" json:"reserved_peak_bytes,omitempty"`                     // allocator reserve, max over reps
	HeapPeakBytes       *int64 `parquet:"heap_peak_bytes,optional" json:"heap_peak_bytes,omitempty"`                             // CPU runner: Go heap peak during a repetition
	WeightBytes         *int64 `parquet:"weight_bytes,optional" json:"weight_bytes,omitempty"`                                   // model weights resident
	KVCacheBytes        *int64 `parquet:"kv_cache_bytes_analytic,optional" json:"kv_cache_bytes_analytic,omitempty"`             // analytic KV cache at this context and batch
	StateBytes          *int64 `parquet:"state_bytes_analytic,optional" json:"state_bytes_analytic,omitempty"`                   // analytic Mamba conv + SSM state
	// The physical floor of a decode step: the bytes it must move over
	// memory bandwidth measured on the same device in the same run.
	BytesMovedPerStep *int64   `parquet:"bytes_moved_per_step_analytic,optional" json:"bytes_moved_per_step_analytic,omitempty"`
	CopyBandwidth     *float64 `parquet:"copy_bandwidth_bytes_per_s,optional" json:"copy_bandwidth_bytes_per_s,omitempty"` // device-to-device copy, bytes read + written per second
	FloorMs           *float64 `parquet:"floor_ms,optional" json:"floor_ms,omitempty"`                                     // bytes_moved_per_step_analytic / copy_bandwidth_bytes_per_s
	FloorRatio        *float64 `parquet:"floor_ratio,optional" json:"floor_ratio,omitempty"`                               // decode_ms_p50 / floor_ms

	// Extra holds any other cell-level metric a runner reported, by name
	// (names carry units).
	Extra map[string]float64 `parquet:"extra" json:"extra"`

	// NVML telemetry sampled beside the runner (all null without a GPU):
	// nvml_process_mem_peak_bytes, nvml_device_mem_peak_bytes, energy_j,
	// energy_j_per_token, power_w_mean, sm_clock_mhz_min, throttled,
	// isolated, telemetry_hz_achieved, ... (see telemetry.Aggregate). Its
	// warnings are merged into Warnings.
	telemetry.Aggregate
}

// SampleRow is one repetition of samples.parquet.
type SampleRow struct {
	RunID     string    `parquet:"run_id,dict" json:"run_id"`
	CellID    string    `parquet:"cell_id,dict" json:"cell_id"`
	Variant   string    `parquet:"variant,dict" json:"variant"`
	Phase     string    `parquet:"phase,dict" json:"phase"`
	SeqLen    int64     `parquet:"seq_len" json:"seq_len"`
	Batch     int64     `parquet:"batch" json:"batch"`
	Profile   string    `parquet:"profile,dict" json:"profile"`
	DType     string    `parquet:"dtype,dict" json:"dtype"`
	Rep       int64     `parquet:"rep" json:"rep"`       // 0-based, warm-up and measured counted separately
	Warmup    bool      `parquet:"warmup" json:"warmup"` // a warm-up repetition, not in the statistics
	At        time.Time `parquet:"at,timestamp(microsecond)" json:"at"`
	LatencyMs float64   `parquet:"latency_ms" json:"latency_ms"` // runner timer (see cells.timer)
	// Optional per-repetition metrics.
	AllocPeakBytes *int64             `parquet:"alloc_peak_bytes,optional" json:"alloc_peak_bytes,omitempty"`
	ReservedBytes  *int64             `parquet:"reserved_bytes,optional" json:"reserved_bytes,omitempty"`
	HeapPeakBytes  *int64             `parquet:"heap_peak_bytes,optional" json:"heap_peak_bytes,omitempty"`
	TokensPerS     *float64           `parquet:"tokens_per_s,optional" json:"tokens_per_s,omitempty"`
	Extra          map[string]float64 `parquet:"extra" json:"extra"`
}

// Manifest describes how a run was made. It is manifest.json.
type Manifest struct {
	SchemaVersion int               `json:"schema_version"`
	RunID         string            `json:"run_id"`
	Argv          []string          `json:"argv"`
	SpecFile      string            `json:"spec_file"`
	SpecSHA256    string            `json:"spec_sha256"`
	Spec          string            `json:"spec"` // the spec's YAML text, verbatim
	GitCommit     string            `json:"git_commit,omitempty"`
	GitDirty      bool              `json:"git_dirty"`
	Host          HostInfo          `json:"host"`
	GoVersion     string            `json:"go_version"`
	Harness       string            `json:"harness_version"`
	Runners       []RunnerInfo      `json:"runners,omitempty"`
	GPU           any               `json:"gpu,omitempty"` // NVML environment, when a GPU was seen
	StartedAt     time.Time         `json:"started_at"`
	EndedAt       *time.Time        `json:"ended_at,omitempty"`
	Resumes       []time.Time       `json:"resumes,omitempty"`
	Cells         int               `json:"cells_planned"`
	StatusCounts  map[string]int    `json:"status_counts,omitempty"`
	Notes         map[string]string `json:"notes,omitempty"`
}

// HostInfo identifies the machine the engine ran on.
type HostInfo struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	MemBytes int64  `json:"mem_bytes,omitempty"`
}

// RunnerInfo is what a runner said of itself in its hello.
type RunnerInfo struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Device  map[string]any    `json:"device,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}
