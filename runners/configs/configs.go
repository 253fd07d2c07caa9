// Package configs holds the model configurations of HoVLE, mmMamba-linear
// and mmMamba-hybrid as data, and parses them.
//
// The JSON files in this directory mirror the checkpoints' config.json
// layout (a chat config with embedding_config and llm_config, each with a
// layers_block_type list), so a real config.json from a Hugging Face
// checkpoint directory is read the same way. The same files are read by the
// PyTorch worker. Builtin names: hovle, mmmamba-linear, mmmamba-hybrid and
// their scaled-down "-tiny" versions of the same structure.
package configs

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

// Layer kinds.
const (
	KindAttention = "attention" // GQA softmax attention with RoPE and a KV cache
	KindMamba2    = "mamba2"    // mmMamba's Mamba-2 mixer
)

// Layer places one decoder layer in the model.
type Layer struct {
	Global int    // 0-based index over all layers, embedding module first
	Part   string // "embedding" or "llm"
	Index  int    // index within its part
	Kind   string // KindAttention or KindMamba2
}

// Prefix returns the safetensors name prefix of the layer, e.g.
// "embedding_model.encoder.3" or "language_model.model.layers.17".
func (l Layer) Prefix() string {
	if l.Part == "embedding" {
		return fmt.Sprintf("embedding_model.encoder.%d", l.Index)
	}
	return fmt.Sprintf("language_model.model.layers.%d", l.Index)
}

// Model is a parsed, validated model configuration.
type Model struct {
	Name          string  // builtin name or file path it came from
	Hidden        int     // hidden_size
	Heads         int     // num_attention_heads
	KVHeads       int     // num_key_value_heads
	HeadDim       int     // hidden_size / num_attention_heads
	Intermediate  int     // SwiGLU intermediate_size
	NormEps       float64 // rms_norm_eps
	TextVocab     int     // embedding text table rows (llm_vocab_size)
	Vocab         int     // output head rows (llm_config.vocab_size)
	RopeThetaEmb  float64 // RoPE base of the embedding-module layers
	RopeThetaLLM  float64 // RoPE base of the LLM layers
	ImageSize     int     // tile side in pixels
	PatchSize     int     // patch side in pixels
	DownSample    float64 // pixel-shuffle ratio
	ImgContextTok int     // <IMG_CONTEXT> token id
	Layers        []Layer
	// Mamba-2 constants that mmMamba's code fixes rather than configures.
	ConvKernel int // depthwise causal conv width (2)
	ChunkSize  int // SSD chunk length (128)
	// Raw is the JSON the model was parsed from, to hand to runners.
	Raw json.RawMessage
}

type subConfig struct {
	NumHiddenLayers     *int     `json:"num_hidden_layers"`
	HiddenSize          *int     `json:"hidden_size"`
	NumAttentionHeads   *int     `json:"num_attention_heads"`
	NumKeyValueHeads    *int     `json:"num_key_value_heads"`
	IntermediateSize    *int     `json:"intermediate_size"`
	RMSNormEps          *float64 `json:"rms_norm_eps"`
	RopeTheta           *float64 `json:"rope_theta"`
	VocabSize           *int     `json:"vocab_size"`
	LLMVocabSize        *int     `json:"llm_vocab_size"`
	ImageSize           *int     `json:"image_size"`
	PatchSize           *int     `json:"patch_size"`
	DownsampleRatio     *float64 `json:"downsample_ratio"`
	ImgContextTokenID   *int     `json:"img_context_token_id"`
	HiddenAct           string   `json:"hidden_act"`
	LayersBlockType     []string `json:"layers_block_type"`
	MambaConvKernel     *int     `json:"ssmbench_conv_kernel"`
	MambaChunkSize      *int     `json:"ssmbench_chunk_size"`
	AttnImplementation  string   `json:"attn_implementation"`
	MaxPositionEmbeddin *int     `json:"max_position_embeddings"`
}

type chatConfig struct {
	EmbeddingConfig *subConfig `json:"embedding_config"`
	LLMConfig       *subConfig `json:"llm_config"`
}

// Parse parses and validates a config.json document. name is used in error
// messages and as Model.Name.
func Parse(name string, data []byte) (*Model, error) {
	var c chatConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if c.EmbeddingConfig == nil {
		return nil, fail("embedding_config", "missing")
	}
	if c.LLMConfig == nil {
		return nil, fail("llm_config", "missing")
	}
	e, l := c.EmbeddingConfig, c.LLMConfig
	req := func(part string, p *int, field string) (int, error) {
		if p == nil {
			return 0, fail(part+"."+field, "missing")
		}
		if *p <= 0 {
			return 0, fail(part+"."+field, "must be > 0, got %d", *p)
		}
		return *p, nil
	}
	m := &Model{Name: name, Raw: json.RawMessage(data), ConvKernel: 2, ChunkSize: 128}
	var err error
	ints := []struct {
		part  string
		p     *int
		field string
		dst   *int
	}{
		{"llm_config", l.HiddenSize, "hidden_size", &m.Hidden},
		{"llm_config", l.NumAttentionHeads, "num_attention_heads", &m.Heads},
		{"llm_config", l.NumKeyValueHeads, "num_key_value_heads", &m.KVHeads},
		{"llm_config", l.IntermediateSize, "intermediate_size", &m.Intermediate},
		{"llm_config", l.VocabSize, "vocab_size", &m.Vocab},
		{"embedding_config", e.LLMVocabSize, "llm_vocab_size", &m.TextVocab},
	}
	for _, f := range ints {
		if *f.dst, err = req(f.part, f.p, f.field); err != nil {
			return nil, err
		}
	}
	nEmb, err := req("embedding_config", e.NumHiddenLayers, "num_hidden_layers")
	if err != nil {
		return nil, err
	}
	nLLM, err := req("llm_config", l.NumHiddenLayers, "num_hidden_layers")
	if err != nil {
		return nil, err
	}
	// The embedding module shares the LLM's layer shape (mmMamba's conv state
	// is sized 2*hidden for every layer); a differing shape is not supported.
	for _, f := range []struct {
		p    *int
		name string
		want int
	}{{e.HiddenSize, "hidden_size", m.Hidden}, {e.NumAttentionHeads, "num_attention_heads", m.Heads},
		{e.NumKeyValueHeads, "num_key_value_heads", m.KVHeads}, {e.IntermediateSize, "intermediate_size", m.Intermediate}} {
		if f.p != nil && *f.p != f.want {
			return nil, fail("embedding_config."+f.name, "%d differs from llm_config's %d; both parts must share one layer shape", *f.p, f.want)
		}
	}
	if m.Hidden%m.Heads != 0 {
		return nil, fail("llm_config.num_attention_heads", "%d does not divide hidden_size %d", m.Heads, m.Hidden)
	}
	if m.Heads%m.KVHeads != 0 {
		return nil, fail("llm_config.num_key_value_heads", "%d does not divide num_attention_heads %d", m.KVHeads, m.Heads)
	}
	m.HeadDim = m.Hidden / m.Heads
	for _, a := range []struct{ part, act string }{{"embedding_config", e.HiddenAct}, {"llm_config", l.HiddenAct}} {
		if a.act != "" && a.act != "silu" {
			return nil, fail(a.part+".hidden_act", "%q is not supported (only silu)", a.act)
		}
	}
	m.NormEps = 1e-5
	if l.RMSNormEps != nil {
		m.NormEps = *l.RMSNormEps
	}
	m.RopeThetaEmb, m.RopeThetaLLM = 10000, 1000000
	if e.RopeTheta != nil {
		m.RopeThetaEmb = *e.RopeTheta
	}
	if l.RopeTheta != nil {
		m.RopeThetaLLM = *l.RopeTheta
	}
	m.ImageSize, m.PatchSize, m.DownSample, m.ImgContextTok = 448, 14, 0.5, 92546
	if e.ImageSize != nil {
		m.ImageSize = *e.ImageSize
	}
	if e.PatchSize != nil {
		m.PatchSize = *e.PatchSize
	}
	if e.DownsampleRatio != nil {
		m.DownSample = *e.DownsampleRatio
	}
	if e.ImgContextTokenID != nil {
		m.ImgContextTok = *e.ImgContextTokenID
	}
	if l.MambaConvKernel != nil {
		m.ConvKernel = *l.MambaConvKernel
	}
	if l.MambaChunkSize != nil {
		m.ChunkSize = *l.MambaChunkSize
	}
	parts := []struct {
		part  string
		n     int
		kinds []string
	}{{"embedding", nEmb, e.LayersBlockType}, {"llm", nLLM, l.LayersBlockType}}
	for _, p := range parts {
		field := p.part + "_config.layers_block_type"
		if p.part == "llm" {
			field = "llm_config.layers_block_type"
		}
		if p.kinds != nil && len(p.kinds) != p.n {
			return nil, fail(field, "has %d entries, num_hidden_layers is %d", len(p.kinds), p.n)
		}
		for i := 0; i < p.n; i++ {
			kind := KindAttention // a config without layers_block_type (HoVLE) is all attention
			if p.kinds != nil {
				switch strings.ToLower(p.kinds[i]) {
				case "mha", "attention", "attn":
				case "mamba2", "mamba":
					kind = KindMamba2
				default:
					return nil, fail(fmt.Sprintf("%s[%d]", field, i), "unknown block type %q (want mha or mamba2)", p.kinds[i])
				}
			}
			m.Layers = append(m.Layers, Layer{Global: len(m.Layers), Part: p.part, Index: i, Kind: kind})
		}
	}
	return m, nil
}

// Builtins lists the builtin config names, sorted.
func Builtins() []string {
	ents, _ := files.ReadDir(".")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(names)
	return names
}

// Builtin returns the builtin config of that name.
func Builtin(name string) (*Model, error) {
	data, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("no builtin model config %q (have %s)", name, strings.Join(Builtins(), ", "))
	}
	return Parse(name, data)
}

// Load resolves ref as a builtin name, a config.json file, or a checkpoint
// directory holding a config.json.
func Load(ref string) (*Model, error) {
	if m, err := Builtin(ref); err == nil {
		return m, nil
	}
	path := ref
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		path = filepath.Join(ref, "config.json")
	} else if err != nil && !strings.ContainsAny(ref, "/.") {
		return nil, fmt.Errorf("model config %q is neither a builtin (%s) nor a file", ref, strings.Join(Builtins(), ", "))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	return Parse(path, data)
}

// CountKind returns how many layers are of the given kind.
func (m *Model) CountKind(kind string) int {
	n := 0
	for _, l := range m.Layers {
		if l.Kind == kind {
			n++
		}
	}
	return n
}

// Mamba-2 projection widths, in the row order of wvkqgdt:
// V | K | Q | G | dt.
func (m *Model) MambaWidths() (v, k, q, g, dt int) {
	return m.KVHeads * m.HeadDim, m.KVHeads * m.HeadDim, m.Heads * m.HeadDim, m.Heads * m.HeadDim, m.Heads
}

// ConvChannels is the width of the depthwise conv over V|K|Q.
func (m *Model) ConvChannels() int {
	v, k, q, _, _ := m.MambaWidths()
	return v + k + q
}

// DState is the SSM state size N; mmMamba's B = K, so it equals HeadDim.
func (m *Model) DState() int { return m.HeadDim }
