package cpu

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// Param is one named parameter tensor, stored as fp32.
type Param struct {
	Name  string
	Shape []int64
	Data  []float32
	init  initSpec
}

// initKind says how random weights are drawn for a parameter.
type initKind int

const (
	initUniform  initKind = iota // symmetric uniform with standard deviation std
	initNorm                     // 1 + U(-0.1, 0.1): RMSNorm weights
	initDtBias                   // inverse softplus of a log-uniform dt in [1e-3, 1e-1]
	initALog                     // U(0, 1): A = -exp(A_log) in [-e, -1]
	initConv                     // depthwise conv: near pass-through
	initZeroSkip                 // never read by inference; small uniform
)

type initSpec struct {
	kind initKind
	std  float64
}

// Layer holds one decoder layer's parameters (views into Params' data).
type Layer struct {
	configs.Layer
	// Theta is the RoPE base of this layer's part.
	Theta float64

	AttnNorm, FFNNorm []float32 // [H]
	W1, W3            []float32 // [I, H]
	W2                []float32 // [H, I]

	// Attention layers.
	Wqkv []float32 // [(nh + 2 nkv) d, H], InternLM2 packed layout
	Wo   []float32 // [H, H]

	// Mamba-2 layers.
	InProj []float32 // wvkqgdt [2 nkv d + 2 nh d + nh, H]
	ConvW  []float32 // [C, 1, K]
	ConvB  []float32 // [C]
	DtBias []float32 // [nh]
	ALog   []float32 // [nh]
	GNorm  []float32 // [d]
	OProj  []float32 // [H, H]
}

// Vision holds the image-path parameters of the holistic embedding.
type Vision struct {
	PatchW   []float32 // [H, 3, P, P]
	PatchB   []float32 // [H]
	ClassEmb []float32 // [1, 1, H]
	PosEmb   []float32 // [1, 1+G², H]
	Proj0W   []float32 // [H, s²H]
	Proj0B   []float32 // [H]
	Proj2W   []float32 // [H, H]
	Proj2B   []float32 // [H]
}

// Model is the reference model: fp32 weights for one configuration. Its
// weights are immutable after construction, and it may be shared by
// concurrent States (the synthetic-fill calibration cache is locked).
type Model struct {
	Config    *configs.Model
	TextEmbed []float32 // embedding_model.llm_text_embeddings.weight [TextVocab, H]
	TokEmbed  []float32 // language_model.model.tok_embeddings.weight [Vocab, H]; never read
	FinalNorm []float32 // [H]
	Output    []float32 // [Vocab, H]
	Layers    []Layer
	Vision    Vision

	params []*Param
	byName map[string]*Param
	rope   [2]*rope // RoPE tables of the embedding and LLM parts

	calibMu sync.Mutex
	calib   map[int]*calibration // synthetic-fill calibrations by length
}

// Params returns every parameter in canonical order (the checkpoint's
// names; see MODEL.md and mmmamba.md §4.3).
func (m *Model) Params() []*Param { return m.params }

// Param returns the named parameter, or nil.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// ParamCount returns the number of parameters held.
func (m *Model) ParamCount() int64 {
	var n int64
	for _, p := range m.params {
		n += int64(len(p.Data))
	}
	return n
}

// WeightBytes returns the bytes of fp32 weights held.
func (m *Model) WeightBytes() int64 { return 4 * m.ParamCount() }

// newModel lays out every parameter of cfg with zeroed data.
func newModel(cfg *configs.Model) (*Model, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, byName: map[string]*Param{}}
	m.rope = [2]*rope{newRope(cfg.RopeThetaEmb, cfg.HeadDim), newRope(cfg.RopeThetaLLM, cfg.HeadDim)}
	H, I := int64(cfg.Hidden), int64(cfg.Intermediate)
	d, nh, nkv := int64(cfg.HeadDim), int64(cfg.Heads), int64(cfg.KVHeads)
	add := func(name string, spec initSpec, shape ...int64) []float32 {
		n := int64(1)
		for _, s := range shape {
			n *= s
		}
		p := &Param{Name: name, Shape: shape, Data: make([]float32, n), init: spec}
		m.params = append(m.params, p)
		m.byName[name] = p
		return p.Data
	}
	lin := func(in int64) initSpec { return initSpec{kind: initUniform, std: 1 / math.Sqrt(float64(in))} }
	// Output projections are scaled down so that the residual stream grows
	// slowly over the layers.
	outLin := func(in int64) initSpec { return initSpec{kind: initUniform, std: 0.5 / math.Sqrt(float64(in))} }
	norm := initSpec{kind: initNorm}

	G := int64(cfg.ImageSize / cfg.PatchSize)
	P := int64(cfg.PatchSize)
	shuffle := int64(math.Round(1 / (cfg.DownSample * cfg.DownSample)))
	v := &m.Vision
	v.PatchW = add("embedding_model.vision_embeddings.patch_embedding.weight", lin(3*P*P), H, 3, P, P)
	v.PatchB = add("embedding_model.vision_embeddings.patch_embedding.bias", initSpec{kind: initUniform, std: 0.02}, H)
	v.ClassEmb = add("embedding_model.vision_embeddings.class_embedding", initSpec{kind: initUniform, std: 0.5}, 1, 1, H)
	v.PosEmb = add("embedding_model.vision_embeddings.position_embedding", initSpec{kind: initUniform, std: 0.5}, 1, 1+G*G, H)
	m.TextEmbed = add("embedding_model.llm_text_embeddings.weight", initSpec{kind: initUniform, std: 1}, int64(cfg.TextVocab), H)
	v.Proj0W = add("embedding_model.pixel_shuffle_proj.0.weight", lin(shuffle*H), H, shuffle*H)
	v.Proj0B = add("embedding_model.pixel_shuffle_proj.0.bias", initSpec{kind: initUniform, std: 0.02}, H)
	v.Proj2W = add("embedding_model.pixel_shuffle_proj.2.weight", lin(H), H, H)
	v.Proj2B = add("embedding_model.pixel_shuffle_proj.2.bias", initSpec{kind: initUniform, std: 0.02}, H)

	for _, l := range cfg.Layers {
		p := l.Prefix() + "."
		L := Layer{Layer: l, Theta: cfg.RopeThetaLLM}
		if l.Part == "embedding" {
			L.Theta = cfg.RopeThetaEmb
		}
		L.AttnNorm = add(p+"attention_norm.weight", norm, H)
		switch l.Kind {
		case configs.KindAttention:
			L.Wqkv = add(p+"attention.wqkv.weight", lin(H), (nh+2*nkv)*d, H)
			L.Wo = add(p+"attention.wo.weight", outLin(H), H, H)
		case configs.KindMamba2:
			vw, kw, qw, gw, dtw := cfg.MambaWidths()
			C := int64(cfg.ConvChannels())
			L.InProj = add(p+"attention.wvkqgdt.weight", lin(H), int64(vw+kw+qw+gw+dtw), H)
			L.ConvW = add(p+"attention.conv1d.weight", initSpec{kind: initConv}, C, 1, int64(cfg.ConvKernel))
			L.ConvB = add(p+"attention.conv1d.bias", initSpec{kind: initUniform, std: 0.05}, C)
			L.DtBias = add(p+"attention.dt_bias", initSpec{kind: initDtBias}, nh)
			L.ALog = add(p+"attention.A_log_bias", initSpec{kind: initALog}, nh)
			L.GNorm = add(p+"attention.g_norm_swish_gate.weight", norm, d)
			L.OProj = add(p+"attention.o_proj.weight", outLin(H), H, H)
		default:
			return nil, fmt.Errorf("%s: layer %d (%s): unknown kind %q", cfg.Name, l.Global, l.Prefix(), l.Kind)
		}
		L.FFNNorm = add(p+"ffn_norm.weight", norm, H)
		L.W1 = add(p+"feed_forward.w1.weight", lin(H), I, H)
		L.W3 = add(p+"feed_forward.w3.weight", lin(H), I, H)
		L.W2 = add(p+"feed_forward.w2.weight", outLin(I), H, I)
		m.Layers = append(m.Layers, L)
	}
	m.TokEmbed = add("language_model.model.tok_embeddings.weight", initSpec{kind: initZeroSkip, std: 0.02}, int64(cfg.Vocab), H)
	m.FinalNorm = add("language_model.model.norm.weight", norm, H)
	m.Output = add("language_model.output.weight", lin(H), int64(cfg.Vocab), H)
	return m, nil
}

func checkConfig(cfg *configs.Model) error {
	if cfg.ConvKernel < 1 {
		return fmt.Errorf("%s: ssmbench_conv_kernel must be >= 1, got %d", cfg.Name, cfg.ConvKernel)
	}
	if cfg.ChunkSize < 1 {
		return fmt.Errorf("%s: ssmbench_chunk_size must be >= 1, got %d", cfg.Name, cfg.ChunkSize)
	}
	if cfg.HeadDim%2 != 0 {
		return fmt.Errorf("%s: head dim %d must be even for RoPE", cfg.Name, cfg.HeadDim)
	}
	if cfg.PatchSize <= 0 || cfg.ImageSize%cfg.PatchSize != 0 {
		return fmt.Errorf("%s: embedding_config.image_size %d is not a multiple of patch_size %d", cfg.Name, cfg.ImageSize, cfg.PatchSize)
	}
	r := 1 / cfg.DownSample
	if cfg.DownSample <= 0 || math.Abs(r-math.Round(r)) > 1e-9 || (cfg.ImageSize/cfg.PatchSize)%int(math.Round(r)) != 0 {
		return fmt.Errorf("%s: embedding_config.downsample_ratio %v must be 1/n with n dividing the %d-patch grid", cfg.Name, cfg.DownSample, cfg.ImageSize/cfg.PatchSize)
	}
	return nil
}

// NewRandom builds a model with deterministic random weights. Each
// parameter is drawn from its own PCG stream keyed by (seed, name), so a
// parameter's values do not depend on which other parameters exist: the
// hybrid's attention layers equal HoVLE's and its Mamba layers equal
// mmMamba-linear's for the same seed.
//
// Scales keep activations well conditioned: linear weights have standard
// deviation 1/sqrt(fan_in) (half that for output projections), norm
// weights are near 1, dt_bias is the inverse softplus of a log-uniform dt
// in [1e-3, 1e-1] and A_log is U(0, 1), so the per-step decay
// exp(dt*A) ranges from about 0.76 to 0.999: the recurrence keeps tens to
// thousands of tokens of history. The conv is close to a pass-through of
// the current token. Every value is rounded to 5 significant bits and
// values below 2^-14 are flushed to zero, so each weight is exactly
// representable in fp16 and bf16 (a reduced-precision runner loads the
// same model) and the checkpoints compress well.
func NewRandom(cfg *configs.Model, seed int64) (*Model, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range m.params {
		fillRandom(p, seed, cfg.ConvKernel)
	}
	return m, nil
}

func fillRandom(p *Param, seed int64, kernel int) {
	h := fnv.New64a()
	h.Write([]byte(p.Name))
	r := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	u := func() float64 { return 2*r.Float64() - 1 } // U(-1, 1), std 1/sqrt(3)
	switch p.init.kind {
	case initUniform, initZeroSkip:
		a := p.init.std * math.Sqrt(3)
		for i := range p.Data {
			p.Data[i] = round5(a * u())
		}
	case initNorm:
		for i := range p.Data {
			p.Data[i] = round5(1 + 0.1*u())
		}
	case initDtBias:
		lo, hi := math.Log(1e-3), math.Log(1e-1)
		for i := range p.Data {
			dt := math.Exp(lo + (hi-lo)*r.Float64())
			p.Data[i] = round5(dt + math.Log(-math.Expm1(-dt))) // inverse softplus
		}
	case initALog:
		for i := range p.Data {
			p.Data[i] = round5(r.Float64())
		}
	case initConv:
		// [C, 1, K]: tap K-1 (the current token) near 1, earlier taps small.
		for i := range p.Data {
			if i%kernel == kernel-1 {
				p.Data[i] = round5(1 + 0.3*u())
			} else {
				p.Data[i] = round5(0.3 * u())
			}
		}
	}
}

// round5 rounds x to 5 significant bits and flushes magnitudes below 2^-14
// (the smallest normal fp16) to zero, so the result is exact in fp16 and
// bf16.
func round5(x float64) float32 {
	if math.Abs(x) < 1.0/16384 {
		return 0
	}
	frac, exp := math.Frexp(x) // x = frac * 2^exp, 0.5 <= |frac| < 1
	return float32(math.Ldexp(math.RoundToEven(frac*32)/32, exp))
}

// Tensors returns every parameter as an fp32 safetensors tensor.
func (m *Model) Tensors() ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(m.params))
	for _, p := range m.params {
		t, err := safetensors.Float32Tensor(p.Name, safetensors.F32, p.Shape, p.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Save writes the model's weights into dir as a checkpoint in the real
// layout (model.safetensors, or shards of at most shardBytes with an index
// when shardBytes > 0), plus config.json from the config's raw JSON.
func (m *Model) Save(dir string, shardBytes int64) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	if err := safetensors.WriteDir(dir, ts, shardBytes, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return writeConfig(dir, m.Config)
}

// optionalParams may be absent from a checkpoint: inference never reads
// them (they are zero-filled).
var optionalParams = map[string]bool{
	"language_model.model.tok_embeddings.weight":        true,
	"embedding_model.vision_embeddings.class_embedding": true,
}

// Load builds a model of cfg from a checkpoint, converting every tensor to
// fp32. Each parameter must be present with its exact shape; tensors the
// model does not use are ignored.
func Load(cfg *configs.Model, ck *safetensors.Checkpoint) (*Model, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range m.params {
		f, err := ck.File(p.Name)
		if err != nil {
			if optionalParams[p.Name] {
				continue
			}
			return nil, fmt.Errorf("checkpoint %s: missing parameter %q of config %s", ck.Dir, p.Name, cfg.Name)
		}
		info, _ := f.Header.Lookup(p.Name)
		if !equalShape(info.Shape, p.Shape) {
			return nil, fmt.Errorf("safetensors %s: tensor %q has shape %v, config %s needs %v", f.Path, p.Name, info.Shape, cfg.Name, p.Shape)
		}
		v, _, err := f.Float32(p.Name)
		if err != nil {
			return nil, err
		}
		copy(p.Data, v)
	}
	return m, nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
