package overhead

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/bench/stats"
	"github.com/ssmbench/ssmbench/bench/telemetry"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// Defaults of Options.
var (
	DefaultRates  = []float64{100, 1000}
	DefaultReps   = 20
	DefaultRounds = 5
)

// Options configures Run. The zero value runs the experiment: off,
// 100 Hz and 1000 Hz, 20 repetitions each in 5 rounds, T = 0.5%, 95%
// intervals, the real NVML.
type Options struct {
	// Rates are the sampling rates compared with the sampler off (Hz);
	// nil means DefaultRates.
	Rates []float64
	// Reps is the least number of measured repetitions of each arm; 0
	// means DefaultReps. Each arm runs RepsPerRound(Reps, Rounds) a round.
	Reps int
	// Rounds is the number of rounds (the arms' order rotates each round);
	// 0 means DefaultRounds.
	Rounds int
	// ThresholdPct is T of the verdict rule, in percent; 0 means
	// DefaultThresholdPct.
	ThresholdPct float64
	// Confidence is the level of every interval; 0 means
	// stats.DefaultConfidence.
	Confidence float64
	// Telemetry is the base of each rate's Monitor options (its Hz is set
	// per rate). Tests put a fake NVML in Lib.
	Telemetry telemetry.Options
	// Device, when set, is the NVML index to sample whatever the runner
	// reports; nil means the CUDA device the runner's hello names (found
	// by UUID), and no sampling for a runner on the CPU.
	Device *int
	// Log receives the runner's stderr and log messages; nil discards them.
	Log io.Writer
	// Progress receives one line per round; nil means none.
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Rates == nil {
		o.Rates = DefaultRates
	}
	if o.Reps == 0 {
		o.Reps = DefaultReps
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	if o.ThresholdPct == 0 {
		o.ThresholdPct = DefaultThresholdPct
	}
	if o.Confidence == 0 {
		o.Confidence = stats.DefaultConfidence
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Rep is one measured repetition: a row of overhead.parquet.
type Rep struct {
	// Arm is "off" or the rate's name ("100 Hz").
	Arm string `parquet:"arm,dict" json:"arm"`
	// Hz is the arm's sampling rate; 0 for off.
	Hz float64 `parquet:"hz" json:"hz"`
	// Sampled says whether a telemetry session really ran beside it.
	Sampled bool `parquet:"sampled" json:"sampled"`
	// Round is the round (from 0) and Rep the repetition's index within
	// its arm's turn in that round.
	Round int32 `parquet:"round" json:"round"`
	Rep   int32 `parquet:"rep" json:"rep"`
	// Seq is the repetition's position among all measured repetitions.
	Seq int32 `parquet:"seq" json:"seq"`
	// At is when the runner answered (UTC, microseconds).
	At time.Time `parquet:"at,timestamp(microsecond)" json:"at"`
	// LatencyMs is the runner's timing of the repetition.
	LatencyMs float64 `parquet:"latency_ms" json:"latency_ms"`
}

// CellInfo describes the cell the experiment repeated.
type CellInfo struct {
	Spec           string `json:"spec"`
	Index          int    `json:"index"`
	ID             string `json:"id"`
	Variant        string `json:"variant"`
	ModelConfig    string `json:"model_config"`
	Weights        string `json:"weights"`
	Phase          string `json:"phase"`
	SeqLen         int    `json:"seq_len"`
	Batch          int    `json:"batch"`
	NewTokens      int    `json:"new_tokens,omitempty"`
	Profile        string `json:"profile"`
	DType          string `json:"dtype"`
	MemoryCapBytes int64  `json:"memory_cap_bytes,omitempty"`
	CacheFill      string `json:"cache_fill,omitempty"`
}

// RunnerInfo is what the runner said: its hello, and its replies to load,
// cell and end (metrics and knobs).
type RunnerInfo struct {
	PID    int               `json:"pid"`
	Hello  *protocol.Message `json:"hello"`
	Loaded *protocol.Message `json:"loaded"`
	Ready  *protocol.Message `json:"ready"`
	Result *protocol.Message `json:"result"`
}

// Session is one telemetry session, for the JSON record.
type Session struct {
	Arm   string `json:"arm"`
	Round int    `json:"round"`
	SessionStat
}

// Result is a finished experiment.
type Result struct {
	StartedAt time.Time  `json:"started_at"`
	EndedAt   time.Time  `json:"ended_at"`
	Cell      CellInfo   `json:"cell"`
	Runner    RunnerInfo `json:"runner"`
	// GPU is the NVML environment (Available false, with the reason, on a
	// machine without NVML).
	GPU telemetry.Environment `json:"gpu"`
	// Device is the NVML index sampled; null when nothing was sampled.
	Device *int `json:"nvml_device,omitempty"`
	// Sampled says whether the sessions of at least one rate really
	// sampled (see each arm's Sampled).
	Sampled      bool    `json:"sampled"`
	Arms         []Arm   `json:"arms"`
	Reps         int     `json:"reps_min"`
	Rounds       int     `json:"rounds"`
	RepsPerRound int     `json:"reps_per_round"`
	WarmupReps   int     `json:"warmup_reps"`
	WarmupStable bool    `json:"warmup_stable"`
	Summary      Summary `json:"summary"`
	// Sessions are the telemetry sessions in the order they ran.
	Sessions []Session `json:"sessions,omitempty"`
	// Warnings are the experiment's caveats (e.g. nothing sampled).
	Warnings []string `json:"warnings,omitempty"`

	// Repetitions are the measured repetitions in the order they ran.
	Repetitions []Rep `json:"-"`
	// Telemetry are every session's samples.
	Telemetry []telemetry.Sample `json:"-"`
}

// Run performs the experiment on cell c of spec s: it starts the cell's
// runner (eopts as for a sweep: CPUWorker, TorchDir), prepares the cell,
// warms up by the cell's warm-up policy, runs the rounds and analyses the
// repetitions. Any runner failure ends the experiment with an error.
func Run(ctx context.Context, s *spec.Spec, eopts engine.Options, c engine.Cell, o Options) (*Result, error) {
	o.defaults()
	arms, err := Arms(o.Rates)
	if err != nil {
		return nil, err
	}
	switch {
	case o.Reps < 1:
		return nil, fmt.Errorf("reps: %d, need at least 1", o.Reps)
	case o.Rounds < 1:
		return nil, fmt.Errorf("rounds: %d, need at least 1", o.Rounds)
	}
	per := RepsPerRound(o.Reps, o.Rounds)
	res := &Result{StartedAt: time.Now().UTC(), Cell: cellInfo(s, c), Arms: arms, Reps: o.Reps, Rounds: o.Rounds, RepsPerRound: per}

	// The monitors, one per rate, opened once.
	monitors := map[float64]*telemetry.Monitor{}
	defer func() {
		for _, m := range monitors {
			m.Close()
		}
	}()
	for _, a := range arms[1:] {
		to := o.Telemetry
		to.Hz = a.Hz
		m, err := telemetry.Open(to)
		if err != nil {
			return nil, err
		}
		monitors[a.Hz] = m
	}
	first := monitors[arms[1].Hz]
	res.GPU = first.Environment()

	r, err := engine.StartRunner(ctx, s, eopts, c, o.Log)
	if err != nil {
		return nil, fmt.Errorf("start the runner of cell %d (%s): %w", c.Index, c, err)
	}
	ok := false
	defer func() {
		if !ok {
			r.Client.Kill()
		}
	}()
	res.Runner = RunnerInfo{PID: r.Client.PID(), Hello: r.Hello, Loaded: r.Loaded}

	// Which device to sample.
	var dev *int
	switch {
	case !first.Available():
		res.Warnings = append(res.Warnings, fmt.Sprintf("no GPU telemetry (%s): every arm ran with the sampler off, so the comparison measures the machine's noise, not the sampler", first.Reason()))
	case o.Device != nil:
		dev = o.Device
	case r.Hello.Device == nil || r.Hello.Device.Kind != "cuda":
		kind := "no device"
		if r.Hello.Device != nil {
			kind = fmt.Sprintf("device kind %q", r.Hello.Device.Kind)
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("the runner reports %s, not a CUDA GPU: every arm ran with the sampler off, so the comparison measures the machine's noise, not the sampler", kind))
	default:
		idx := r.Hello.Device.Index
		if u := r.Hello.Device.UUID; u != "" {
			for _, d := range res.GPU.Devices {
				if d.UUID == u {
					idx = d.Index
				}
			}
		}
		dev = &idx
	}
	res.Device = dev

	to := s.Timeouts
	id := fmt.Sprintf("c%d-%s", c.Index, c.ID[:min(8, len(c.ID))])
	ready, err := r.Client.Call(ctx, &protocol.Message{Type: protocol.TypeCell, ID: id, Cell: &protocol.CellRequest{
		Phase: c.Phase, SeqLen: c.SeqLen, Batch: c.Batch, NewTokens: c.NewTokens, CacheFill: c.CacheFill,
		Seed: s.Seed + int64(c.Index),
	}}, to.Cell)
	if err != nil {
		return nil, fmt.Errorf("cell %d (%s): %w", c.Index, c, err)
	}
	res.Runner.Ready = ready
	rep := func(i int, warm bool) (float64, error) {
		m, err := r.Client.Call(ctx, &protocol.Message{Type: protocol.TypeRep, ID: id, Index: i, Warmup: warm}, to.Rep)
		if err != nil {
			return 0, fmt.Errorf("cell %d (%s), repetition %d: %w", c.Index, c, i, err)
		}
		v, has := m.Metrics["latency_ms"]
		if !has {
			return 0, fmt.Errorf("cell %d (%s), repetition %d: the runner's sample has no latency_ms", c.Index, c, i)
		}
		return v, nil
	}

	// Warm-up, by the cell's policy.
	w := stats.Warmup{Min: c.Warmup.Min, Max: c.Warmup.Max, Window: c.Warmup.Window, MaxCV: c.Warmup.CV}
	var warm []float64
	for {
		done, stable := w.Done(warm)
		if done {
			res.WarmupStable = stable
			break
		}
		v, err := rep(len(warm), true)
		if err != nil {
			return nil, err
		}
		warm = append(warm, v)
	}
	res.WarmupReps = len(warm)
	if !res.WarmupStable && w.Max > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("warm-up did not settle in %d repetitions", len(warm)))
	}

	// The rounds.
	data := make([]ArmData, len(arms))
	for i, a := range arms {
		data[i] = ArmData{Arm: a, Sampled: a.Hz > 0 && dev != nil}
	}
	seq := 0
	for round := range o.Rounds {
		var line []string
		for _, a := range RoundOrder(arms, round) {
			ai := armIndex(arms, a)
			var sess *telemetry.Session
			var t0 time.Time
			if data[ai].Sampled {
				t0 = time.Now()
				sess = monitors[a.Hz].Begin(fmt.Sprintf("overhead/%s/round%d", a.Name, round), r.Client.PID(), *dev)
				sess.StartWindow()
			}
			var lat []float64
			first := len(res.Repetitions)
			for k := range per {
				v, err := rep(seq, false)
				if err != nil {
					return nil, err
				}
				lat = append(lat, v)
				res.Repetitions = append(res.Repetitions, Rep{Arm: a.Name, Hz: a.Hz, Sampled: sess != nil, Round: int32(round),
					Rep: int32(k), Seq: int32(seq), At: time.Now().UTC(), LatencyMs: v})
				seq++
			}
			if sess != nil {
				sess.EndWindow(per)
				agg, samples := sess.End()
				if agg.TelemetrySamples == nil || *agg.TelemetrySamples == 0 {
					// The session could not sample (e.g. no such device): its
					// Aggregate says why; the arm does not count as sampled.
					data[ai].Sampled = false
					for i := first; i < len(res.Repetitions); i++ {
						res.Repetitions[i].Sampled = false
					}
				}
				st := SessionStat{Aggregate: agg, DurationS: time.Since(t0).Seconds()}
				data[ai].Sessions = append(data[ai].Sessions, st)
				res.Sessions = append(res.Sessions, Session{Arm: a.Name, Round: round, SessionStat: st})
				res.Telemetry = append(res.Telemetry, samples...)
			}
			data[ai].LatencyMs = append(data[ai].LatencyMs, lat...)
			line = append(line, fmt.Sprintf("%s %.4g ms", a.Name, stats.Summarize(lat, o.Confidence).Median))
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "round %d/%d (%d reps each, median): %s\n", round+1, o.Rounds, per, strings.Join(line, ", "))
		}
	}

	res.Sampled = false
	for _, d := range data {
		res.Sampled = res.Sampled || d.Sampled
	}

	result, err := r.Client.Call(ctx, &protocol.Message{Type: protocol.TypeEnd, ID: id}, to.Cell)
	if err != nil {
		return nil, fmt.Errorf("cell %d (%s), end: %w", c.Index, c, err)
	}
	res.Runner.Result = result
	ok = true
	_ = r.Client.Close(10 * time.Second)

	res.Summary, err = Analyze(data, o.ThresholdPct, o.Confidence)
	if err != nil {
		return nil, err
	}
	res.EndedAt = time.Now().UTC()
	return res, nil
}

func armIndex(arms []Arm, a Arm) int {
	for i, b := range arms {
		if b == a {
			return i
		}
	}
	panic("overhead: unknown arm " + a.Name)
}

func cellInfo(s *spec.Spec, c engine.Cell) CellInfo {
	return CellInfo{Spec: s.File, Index: c.Index, ID: c.ID, Variant: c.Variant, ModelConfig: c.Model.Config, Weights: c.Model.Weights,
		Phase: c.Phase, SeqLen: c.SeqLen, Batch: c.Batch, NewTokens: c.NewTokens, Profile: c.Profile, DType: c.DType,
		MemoryCapBytes: c.MemoryCap, CacheFill: c.CacheFill}
}

// PickCell returns the cell of the plan at index (or, with index < 0, the
// first decode cell).
func PickCell(plan []engine.Cell, index int) (engine.Cell, error) {
	if index >= 0 {
		if index >= len(plan) {
			return engine.Cell{}, fmt.Errorf("cell: index %d out of range: the spec plans %d cells (0..%d)", index, len(plan), len(plan)-1)
		}
		return plan[index], nil
	}
	for _, c := range plan {
		if c.Phase == protocol.PhaseDecode {
			return c, nil
		}
	}
	return engine.Cell{}, errors.New("cell: the spec plans no decode cell; pick one with --cell")
}
