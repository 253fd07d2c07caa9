package configs

import (
	"strings"
	"testing"
)

// The reference numbers come from ../shared/reference/mmmamba.md sections 1 and 6.
func TestRealConfigsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name          string
		params        int64 // rounded to 0.1M in the reference
		attn, mamba   int
		kvPerTok      int64
		stateBF16     int64
		mambaLayerPar int64
	}{
		{"hovle", 2606_300_000, 32, 0, 131072, 0, 0},
		{"mmmamba-linear", 2742_000_000, 0, 32, 0, 32 * 532480, 16_822_432},
		{"mmmamba-hybrid", 2708_000_000, 8, 24, 32768, 24 * 532480, 16_822_432},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Builtin(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 32 || m.Hidden != 2048 || m.Heads != 16 || m.KVHeads != 8 || m.HeadDim != 128 || m.Intermediate != 8192 {
				t.Fatalf("shape: %+v", m)
			}
			if got := m.CountKind(KindAttention); got != tc.attn {
				t.Errorf("attention layers = %d, want %d", got, tc.attn)
			}
			if got := m.CountKind(KindMamba2); got != tc.mamba {
				t.Errorf("mamba layers = %d, want %d", got, tc.mamba)
			}
			if got := m.ParamCount(); got/100_000 != (tc.params+50_000)/100_000 && (got+50_000)/100_000 != tc.params/100_000 {
				t.Errorf("params = %d, want about %d", got, tc.params)
			}
			if got := m.KVBytesPerToken("bf16"); got != tc.kvPerTok {
				t.Errorf("kv bytes/token = %d, want %d", got, tc.kvPerTok)
			}
			if got := m.MambaStateBytes("bf16", "bf16"); got != tc.stateBF16 {
				t.Errorf("state bytes = %d, want %d", got, tc.stateBF16)
			}
			if tc.mamba > 0 {
				if got := m.MixerParams(KindMamba2); got != tc.mambaLayerPar {
					t.Errorf("mamba mixer params = %d, want %d", got, tc.mambaLayerPar)
				}
			}
		})
	}
	m, _ := Builtin("hovle")
	if got := m.LayerParams(KindAttention); got != 62_918_656 {
		t.Errorf("attention layer params = %d, want 62918656", got)
	}
	if got := m.ParamCount(); got != 2_606_290_944 {
		t.Errorf("HoVLE params = %d, want 2606290944", got)
	}
}

func TestHybridPlacement(t *testing.T) {
	m, err := Builtin("mmmamba-hybrid")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		want := KindMamba2
		if l.Global%4 == 0 {
			want = KindAttention
		}
		if l.Kind != want {
			t.Errorf("layer %d (%s) kind %s, want %s", l.Global, l.Prefix(), l.Kind, want)
		}
	}
	if p := m.Layers[12].Prefix(); p != "language_model.model.layers.4" {
		t.Errorf("prefix of layer 12 = %s", p)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", `{`, "unexpected end"},
		{"no llm", `{"embedding_config":{}}`, "llm_config: missing"},
		{"bad heads", `{"embedding_config":{"num_hidden_layers":1,"llm_vocab_size":10},"llm_config":{"num_hidden_layers":1,"hidden_size":64,"num_attention_heads":3,"num_key_value_heads":1,"intermediate_size":8,"vocab_size":10}}`, "num_attention_heads"},
		{"bad block", `{"embedding_config":{"num_hidden_layers":1,"llm_vocab_size":10,"layers_block_type":["rwkv"]},"llm_config":{"num_hidden_layers":1,"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":8,"vocab_size":10}}`, "embedding_config.layers_block_type[0]"},
		{"count", `{"embedding_config":{"num_hidden_layers":2,"llm_vocab_size":10,"layers_block_type":["mha"]},"llm_config":{"num_hidden_layers":1,"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":8,"vocab_size":10}}`, "has 1 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.json", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "x.json") {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestTinyConfigs(t *testing.T) {
	for _, name := range []string{"hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"} {
		m, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 8 || m.HeadDim != 32 {
			t.Errorf("%s: %d layers, head dim %d", name, len(m.Layers), m.HeadDim)
		}
	}
	if _, err := Load("nope"); err == nil || !strings.Contains(err.Error(), "builtin") {
		t.Errorf("Load(nope) = %v", err)
	}
}
