package cpu

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/protocol"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// RunnerName and RunnerVersion identify this runner in its hello.
const (
	RunnerName    = "cpu-ref"
	RunnerVersion = "0.1.0"
)

// Profile is the only profile this runner offers: the fp32 reference.
const Profile = "reference"

// DefaultAutoPrefillMax is the longest context a decode cell with
// cache_fill "auto" fills by a real prefill; longer ones are synthesised.
const DefaultAutoPrefillMax = 512

// Serve speaks the runner protocol on in/out until shutdown or end of
// input: the CPU reference runner behind `ssmbench worker cpu`.
func Serve(in io.Reader, out io.Writer) error {
	return protocol.Serve(in, out, Hello(), NewRunner())
}

// Hello returns the runner's hello message.
func Hello() *protocol.Message {
	name, _ := cpuModelName()
	mem, _ := memInfo("MemTotal")
	env := map[string]string{
		"go":         runtime.Version(),
		"goos":       runtime.GOOS,
		"goarch":     runtime.GOARCH,
		"gomaxprocs": strconv.Itoa(runtime.GOMAXPROCS(0)),
		"blas":       "gonum " + moduleVersion("gonum.org/v1/gonum"),
	}
	return &protocol.Message{
		Runner: &protocol.RunnerInfo{Name: RunnerName, Version: RunnerVersion},
		Device: &protocol.DeviceInfo{Kind: "cpu", Name: name, Cores: runtime.NumCPU(), MemoryBytes: mem},
		Capabilities: &protocol.Capabilities{
			Phases:    []string{protocol.PhasePrefill, protocol.PhaseDecode, protocol.PhaseGenerate},
			Profiles:  []string{Profile},
			DTypes:    []string{"fp32"},
			CacheFill: []string{protocol.FillPrefill, protocol.FillSynthetic},
			MemoryCap: true,
			Infer:     true, // see infer.go
		},
		Env: env,
	}
}

// Runner implements protocol.Handler on the CPU reference model.
type Runner struct {
	model    *Model
	loadInfo map[string]string
	fillMax  int
	capBytes int64
	cell     *cellRun
	// ckptDir is the checkpoint directory of safetensors weights ("" for
	// random weights); infer.go looks for its tokenizer there.
	ckptDir string
}

// NewRunner returns a Runner with no model loaded.
func NewRunner() *Runner { return &Runner{} }

var _ protocol.Handler = (*Runner)(nil)

func unsupported(format string, args ...any) error {
	return &protocol.RunnerError{Status: protocol.StatusUnsupported, Message: fmt.Sprintf(format, args...)}
}

func oom(format string, args ...any) error {
	return &protocol.RunnerError{Status: protocol.StatusOOM, Message: fmt.Sprintf(format, args...)}
}

// Load builds the model: config from the request (or the checkpoint's
// config.json), weights random from a seed or from a safetensors directory.
func (r *Runner) Load(req *protocol.LoadRequest) (map[string]float64, map[string]string, error) {
	start := time.Now()
	r.model, r.cell, r.ckptDir = nil, nil, ""
	if req == nil {
		return nil, nil, fmt.Errorf("load: no load request")
	}
	switch req.DType {
	case "fp32", "float32", "":
	default:
		return nil, nil, unsupported("load: dtype %q: the CPU reference computes in fp32 only", req.DType)
	}
	switch req.Profile {
	case Profile, "":
	default:
		return nil, nil, unsupported("load: profile %q: the CPU reference offers only %q", req.Profile, Profile)
	}
	r.fillMax = DefaultAutoPrefillMax
	info := map[string]string{}
	for k, v := range req.Options {
		switch k {
		case "auto_prefill_max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, nil, fmt.Errorf("load: options.auto_prefill_max: %q is not a non-negative integer", v)
			}
			r.fillMax = n
		default:
			info["ignored_option."+k] = v
		}
	}
	var cfg *configs.Model
	var err error
	switch {
	case len(req.Config) > 0 && string(req.Config) != "null":
		cfg, err = configs.Parse(req.Variant, req.Config)
	case req.Weights.Kind == "safetensors":
		cfg, err = configs.Load(filepath.Join(req.Weights.Path, "config.json"))
	default:
		err = fmt.Errorf("load: config: missing (and no checkpoint to read config.json from)")
	}
	if err != nil {
		return nil, nil, err
	}
	r.capBytes = req.MemoryCapBytes
	if err := r.checkMemory("load", 4*cfg.ParamCount()); err != nil {
		return nil, nil, err
	}
	var m *Model
	switch req.Weights.Kind {
	case "random", "":
		m, err = NewRandom(cfg, req.Weights.Seed)
		info["weights"] = fmt.Sprintf("random seed=%d", req.Weights.Seed)
	case "safetensors":
		var ck *safetensors.Checkpoint
		if ck, err = safetensors.OpenDir(req.Weights.Path); err == nil {
			m, err = Load(cfg, ck)
			ck.Close()
		}
		info["weights"] = "safetensors " + req.Weights.Path
	default:
		err = unsupported("load: weights.kind %q (want random or safetensors)", req.Weights.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	r.model = m
	if req.Weights.Kind == "safetensors" {
		r.ckptDir = req.Weights.Path
	}
	info["compute"] = "fp32 (reductions of norms and softmax in fp64)"
	info["blas"] = "gonum " + moduleVersion("gonum.org/v1/gonum")
	info["attention"] = "prefill: blocked causal GEMM; decode: GQA-shared GEMV over a channel-major KV cache"
	info["ssm_scan"] = fmt.Sprintf("prefill: chunked SSD, chunk %d; decode: recurrent step", cfg.ChunkSize)
	info["gomaxprocs"] = strconv.Itoa(runtime.GOMAXPROCS(0))
	info["auto_prefill_max"] = strconv.Itoa(r.fillMax)
	info["memory_cap"] = "analytic: planned weights + caches + temporaries checked before allocating"
	r.loadInfo = info
	return map[string]float64{
		"param_count":  float64(m.ParamCount()),
		"weight_bytes": float64(m.WeightBytes()),
		"load_ms":      ms(time.Since(start)),
	}, info, nil
}

// checkMemory refuses, as "oom", a plan that exceeds the memory cap or the
// host's available memory.
func (r *Runner) checkMemory(what string, bytes int64) error {
	if r.capBytes > 0 && bytes > r.capBytes {
		return oom("%s needs about %d bytes, over the memory cap of %d", what, bytes, r.capBytes)
	}
	if avail, err := memInfo("MemAvailable"); err == nil && avail > 0 && bytes > avail*9/10 {
		return oom("%s needs about %d bytes; the host has %d available", what, bytes, avail)
	}
	return nil
}

// cellRun is a prepared cell.
type cellRun struct {
	req       protocol.CellRequest
	ctx       int // cache length the cell's analytic sizes use
	states    []*State
	snaps     []*Snapshot
	prompts   [][]int
	next      []int
	fill      string
	heapPeak  int64
	analytics map[string]float64
}

// Cell prepares a measurement cell: prompts, caches (filled for decode).
func (r *Runner) Cell(req *protocol.CellRequest) (map[string]float64, map[string]string, error) {
	start := time.Now()
	r.cell = nil
	if r.model == nil {
		return nil, nil, fmt.Errorf("cell: no model loaded")
	}
	if req == nil || req.SeqLen < 1 || req.Batch < 1 {
		return nil, nil, fmt.Errorf("cell: seq_len and batch must be >= 1")
	}
	m := r.model
	c := m.Config
	cr := &cellRun{req: *req, ctx: req.SeqLen, fill: "none"}
	capacity := req.SeqLen
	switch req.Phase {
	case protocol.PhasePrefill:
	case protocol.PhaseDecode:
		capacity = req.SeqLen + 1
		switch req.CacheFill {
		case protocol.FillAuto, "":
			cr.fill = protocol.FillPrefill
			if req.SeqLen > r.fillMax {
				cr.fill = protocol.FillSynthetic
			}
		case protocol.FillPrefill, protocol.FillSynthetic:
			cr.fill = req.CacheFill
		default:
			return nil, nil, unsupported("cell: cache_fill %q (want auto, prefill or synthetic)", req.CacheFill)
		}
	case protocol.PhaseGenerate:
		if req.NewTokens < 1 {
			return nil, nil, fmt.Errorf("cell: generate needs new_tokens >= 1, got %d", req.NewTokens)
		}
		capacity = req.SeqLen + req.NewTokens
		cr.ctx = capacity
	default:
		return nil, nil, unsupported("cell: phase %q", req.Phase)
	}
	if err := r.checkMemory("cell", r.model.WeightBytes()+int64(req.Batch)*stateBytes(c, capacity)+prefillTempBytes(c, req.SeqLen)); err != nil {
		return nil, nil, err
	}
	for b := 0; b < req.Batch; b++ {
		seed := uint64(req.Seed)*1000003 + uint64(b)
		st := m.NewState(capacity)
		prompt := PromptTokens(c, req.SeqLen, seed)
		cr.states = append(cr.states, st)
		cr.prompts = append(cr.prompts, prompt)
		if req.Phase != protocol.PhaseDecode {
			continue
		}
		var err error
		if cr.fill == protocol.FillPrefill {
			_, err = m.Prefill(st, prompt, false)
		} else {
			err = m.FillSynthetic(st, req.SeqLen, seed)
		}
		if err != nil {
			return nil, nil, err
		}
		cr.snaps = append(cr.snaps, st.Save())
		cr.next = append(cr.next, PromptTokens(c, 1, seed^0xdec0de)[0])
	}
	cr.analytics = r.analytic(cr)
	r.cell = cr
	met := map[string]float64{"setup_ms": ms(time.Since(start))}
	for k, v := range cr.analytics {
		met[k] = v
	}
	return met, map[string]string{"cache_fill": cr.fill, "timer": "wall_monotonic"}, nil
}

// stateBytes is the planned per-sequence cache and scratch size.
func stateBytes(c *configs.Model, capacity int) int64 {
	return c.KVBytesPerToken("fp32")*int64(capacity) + c.MambaStateBytes("fp32", "fp32") +
		4*int64(c.Heads*capacity+c.Vocab+6*c.Hidden+2*c.Intermediate+c.ConvChannels())
}

// prefillTempBytes bounds the temporaries of a prefill of T tokens.
func prefillTempBytes(c *configs.Model, T int) int64 {
	vw, kw, qw, gw, dtw := c.MambaWidths()
	wide := max(vw+kw+qw+gw+dtw+c.ConvChannels()+2*c.Hidden, 2*c.Intermediate, (c.Heads+2*c.KVHeads)*c.HeadDim+c.Hidden)
	return 4 * (int64(T)*int64(3*c.Hidden+wide+c.Heads) + int64(c.Heads)*int64(min(attnBlock, T))*int64(T))
}

func (r *Runner) analytic(cr *cellRun) map[string]float64 {
	c := r.model.Config
	b := int64(cr.req.Batch)
	var kvAlloc, stAlloc int64
	for _, st := range cr.states {
		kv, s := st.CacheBytes()
		kvAlloc += kv
		stAlloc += s
	}
	return map[string]float64{
		"kv_cache_bytes_analytic":       float64(c.KVBytesPerToken("fp32") * int64(cr.ctx) * b),
		"state_bytes_analytic":          float64(c.MambaStateBytes("fp32", "fp32") * b),
		"weight_bytes":                  float64(r.model.WeightBytes()),
		"bytes_moved_per_step_analytic": float64(c.DecodeStepBytes("fp32", "fp32", cr.req.SeqLen, cr.req.Batch)),
		"kv_cache_bytes_allocated":      float64(kvAlloc),
		"state_bytes_allocated":         float64(stAlloc),
	}
}

// Rep runs one repetition of the prepared cell. The Go heap is measured
// around the timed region with runtime/metrics (see heapProbe).
func (r *Runner) Rep(index int, warmup bool) (map[string]float64, error) {
	cr := r.cell
	if cr == nil {
		return nil, fmt.Errorf("rep: no cell prepared")
	}
	m := r.model
	// Untimed: roll the caches back, collect garbage.
	for b, st := range cr.states {
		if cr.req.Phase == protocol.PhaseDecode {
			st.Restore(cr.snaps[b])
		} else {
			st.Reset()
		}
	}
	var probe heapProbe
	probe.begin()
	met := map[string]float64{}
	start := time.Now()
	switch cr.req.Phase {
	case protocol.PhaseDecode:
		for b, st := range cr.states {
			if _, err := m.Step(st, cr.next[b]); err != nil {
				return nil, err
			}
		}
	case protocol.PhasePrefill:
		for b, st := range cr.states {
			if _, err := m.Prefill(st, cr.prompts[b], false); err != nil {
				return nil, err
			}
		}
	case protocol.PhaseGenerate:
		next := make([]int, len(cr.states))
		for b, st := range cr.states {
			logits, err := m.Prefill(st, cr.prompts[b], false)
			if err != nil {
				return nil, err
			}
			next[b] = argmax(logits)
		}
		prefill := time.Since(start)
		for i := 0; i < cr.req.NewTokens; i++ {
			for b, st := range cr.states {
				logits, err := m.Step(st, next[b])
				if err != nil {
					return nil, err
				}
				next[b] = argmax(logits)
			}
		}
		total := time.Since(start)
		tokens := float64(cr.req.NewTokens * len(cr.states))
		met["prefill_ms"] = ms(prefill)
		met["decode_ms_mean"] = ms(total-prefill) / float64(cr.req.NewTokens)
		met["tokens"] = tokens
		met["tokens_per_s"] = tokens / total.Seconds()
	}
	elapsed := time.Since(start)
	peak, allocated := probe.end()
	met["latency_ms"] = ms(elapsed)
	met["heap_peak_bytes"] = float64(peak)
	met["heap_allocated_bytes"] = float64(allocated)
	if !warmup && peak > cr.heapPeak {
		cr.heapPeak = peak
	}
	return met, nil
}

// End frees the cell and reports its constants and the largest heap peak
// of its measured repetitions.
func (r *Runner) End() (map[string]float64, map[string]string, error) {
	cr := r.cell
	if cr == nil {
		return nil, nil, fmt.Errorf("end: no cell prepared")
	}
	r.cell = nil
	met := map[string]float64{"heap_peak_bytes": float64(cr.heapPeak)}
	for k, v := range cr.analytics {
		met[k] = v
	}
	runtime.GC()
	return met, map[string]string{
		"cache_fill":  cr.fill,
		"heap_method": "runtime.GC() before each rep (untimed); peak <= heap objects before + bytes allocated during (runtime/metrics)",
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// moduleVersion returns the version of a module linked into the binary.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}
