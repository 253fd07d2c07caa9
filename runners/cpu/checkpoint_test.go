package cpu

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// A tiny checkpoint written and read back (one file, or sharded with an
// index) gives bit-identical logits, under the real parameter names.
func TestCheckpointRoundTrip(t *testing.T) {
	for _, name := range tinyVariants {
		for _, shard := range []int64{0, 1 << 20} {
			t.Run(name+map[bool]string{true: "/sharded", false: "/single"}[shard > 0], func(t *testing.T) {
				m := tinyModel(t, name, 21)
				dir := t.TempDir()
				if err := m.Save(dir, shard); err != nil {
					t.Fatal(err)
				}
				_, idxErr := os.Stat(filepath.Join(dir, safetensors.IndexFile))
				if (shard > 0) != (idxErr == nil) {
					t.Errorf("index present = %v, want %v", idxErr == nil, shard > 0)
				}
				cfg, err := configs.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				ck, err := safetensors.OpenDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer ck.Close()
				if got, want := len(ck.Names()), len(m.Params()); got != want {
					t.Errorf("checkpoint holds %d tensors, model has %d parameters", got, want)
				}
				for _, p := range m.Params() {
					if _, ok := ck.Lookup(p.Name); !ok {
						t.Errorf("parameter %q missing from the checkpoint", p.Name)
					}
				}
				back, err := Load(cfg, ck)
				if err != nil {
					t.Fatal(err)
				}
				toks := randomTokens(40, m.Config.Vocab, 3)
				a, _ := m.Prefill(m.NewState(40), toks, true)
				b, _ := back.Prefill(back.NewState(40), toks, true)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("logit %d: %v written, %v read back", i, a[i], b[i])
					}
				}
			})
		}
	}
}

// Real names and shapes for the layer kinds (mmmamba.md §4.3).
func TestParameterNames(t *testing.T) {
	m := tinyModel(t, "mmmamba-hybrid-tiny", 1)
	c := m.Config
	H, d := int64(c.Hidden), int64(c.HeadDim)
	for _, tc := range []struct {
		name  string
		shape []int64
	}{
		{"embedding_model.encoder.0.attention.wqkv.weight", []int64{int64(c.Heads+2*c.KVHeads) * d, H}},
		{"embedding_model.encoder.1.attention.wvkqgdt.weight", []int64{int64(2*c.KVHeads*c.HeadDim + 2*c.Heads*c.HeadDim + c.Heads), H}},
		{"embedding_model.encoder.1.attention.conv1d.weight", []int64{int64(c.ConvChannels()), 1, 2}},
		{"embedding_model.encoder.1.attention.A_log_bias", []int64{int64(c.Heads)}},
		{"embedding_model.encoder.1.attention.g_norm_swish_gate.weight", []int64{d}},
		{"language_model.model.layers.2.attention.wo.weight", []int64{H, H}},
		{"language_model.model.layers.3.feed_forward.w2.weight", []int64{H, int64(c.Intermediate)}},
		{"embedding_model.pixel_shuffle_proj.0.weight", []int64{H, 4 * H}},
		{"embedding_model.vision_embeddings.position_embedding", []int64{1, 17, H}},
		{"language_model.output.weight", []int64{int64(c.Vocab), H}},
		{"embedding_model.llm_text_embeddings.weight", []int64{int64(c.TextVocab), H}},
	} {
		p := m.Param(tc.name)
		if p == nil {
			t.Errorf("no parameter %q", tc.name)
			continue
		}
		if !equalShape(p.Shape, tc.shape) {
			t.Errorf("%s: shape %v, want %v", tc.name, p.Shape, tc.shape)
		}
	}
	if got, want := m.ParamCount(), c.ParamCount(); got != want {
		t.Errorf("ParamCount %d, configs says %d", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	m := tinyModel(t, "hovle-tiny", 1)
	dir := t.TempDir()
	if err := m.Save(dir, 0); err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, tc := range []struct {
		variant string
		want    string
	}{
		{"mmmamba-linear-tiny", `missing parameter "embedding_model.encoder.0.attention.wvkqgdt.weight"`},
		{"hovle", `model.safetensors: tensor "embedding_model.vision_embeddings.patch_embedding.weight" has shape [128 3 14 14], config hovle needs [2048 3 14 14]`},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			cfg, _ := configs.Builtin(tc.variant)
			if _, err := Load(cfg, ck); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// The packed wqkv layout: W = wqkv.reshape(nkv, g+2, d, H) holds, per KV
// head, g query heads, then K, then V; query head h uses KV head h//g.
// Packing separate Wq/Wk/Wv and unpacking again is the identity, and an
// attention layer built from packed weights equals one computed from the
// separate matrices with repeat_kv.
func TestWqkvLayout(t *testing.T) {
	m := tinyModel(t, "hovle-tiny", 2)
	c := m.Config
	H, d, nh, nkv := c.Hidden, c.HeadDim, c.Heads, c.KVHeads
	g := nh / nkv
	l := &m.Layers[3]
	wq, wk, wv := unpackWqkv(l.Wqkv, nh, nkv, d, H)
	if back := packWqkv(wq, wk, wv, nh, nkv, d, H); maxRelDiff(back, l.Wqkv) != 0 {
		t.Fatal("pack(unpack(wqkv)) != wqkv")
	}
	for h := 0; h < nh; h++ {
		kv := h / g
		// Row 0 of query head h sits at block (kv, h%g) of the reshape.
		if got, want := wq[h*d*H], l.Wqkv[((kv*(g+2)+h%g)*d)*H]; got != want {
			t.Errorf("query head %d: first weight %v, want %v", h, got, want)
		}
		if qOffset(h, g, d) != (kv*(g+2)+h%g)*d {
			t.Errorf("qOffset(%d) = %d", h, qOffset(h, g, d))
		}
	}
	// Functional check: one token at position 0 (no rotation), context of
	// one, so each query head outputs its KV head's V exactly.
	x := make([]float32, H)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	st := m.NewState(1)
	copy(st.xn, x)
	m.attentionStep(st, 3, 0)
	v := make([]float32, nkv*d)
	linear(v, x, wv, 1, H, nkv*d)
	cat := make([]float32, H)
	for h := 0; h < nh; h++ {
		copy(cat[h*d:(h+1)*d], v[(h/g)*d:(h/g+1)*d]) // repeat_kv
	}
	want := make([]float32, H)
	linear(want, cat, l.Wo, 1, H, H)
	if d := maxRelDiff(st.out, want); d > 1e-5 {
		t.Errorf("attention output differs from repeat_kv(V)·Woᵀ by %.3g", d)
	}
}
