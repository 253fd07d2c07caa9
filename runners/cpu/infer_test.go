package cpu

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/protocol"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

func TestToyTokenizer(t *testing.T) {
	for _, tc := range []struct {
		config                                string
		imEnd, imStart, imgStart, imgEnd, ctx int
	}{
		{"hovle-tiny", 510, 511, 512, 513, 514},
		{"mmmamba-linear", 92542, 92543, 92544, 92545, 92546}, // InternLM2's ids (mmmamba.md §4.4)
	} {
		t.Run(tc.config, func(t *testing.T) {
			cfg, err := configs.Builtin(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := NewToyTokenizer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for s, want := range map[string]int{TokImEnd: tc.imEnd, TokImStart: tc.imStart, TokImgStart: tc.imgStart, TokImgEnd: tc.imgEnd, TokImgContext: tc.ctx, "<s>": 1, "</s>": 2} {
				if got, ok := tok.ID(s); !ok || got != want {
					t.Errorf("%s = %d, want %d", s, got, want)
				}
			}
			got := tok.Encode("<|im_start|>user\nA<img><IMG_CONTEXT></img>é<|im_end|><x")
			want := []int{tc.imStart, 3 + 'u', 3 + 's', 3 + 'e', 3 + 'r', 3 + '\n', 3 + 'A', tc.imgStart, tc.ctx, tc.imgEnd, 3 + 0xc3, 3 + 0xa9, tc.imEnd, 3 + '<', 3 + 'x'}
			if len(got) != len(want) {
				t.Fatalf("encode = %v\nwant     %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("encode = %v\nwant     %v", got, want)
				}
			}
			if d := tok.Decode(got); d != "user\nAé<x" {
				t.Errorf("decode = %q (specials must be skipped)", d)
			}
			if d := tok.Decode([]int{3 + 'o', 3 + 0xc3, 300, 3 + 'k'}); d != "o\uFFFDk" {
				t.Errorf("decode of invalid UTF-8 and an unused id = %q", d)
			}
			if p := tok.Piece(tc.imEnd); p != TokImEnd {
				t.Errorf("piece = %q", p)
			}
		})
	}
	t.Run("too small", func(t *testing.T) {
		cfg, _ := configs.Builtin("hovle-tiny")
		small := *cfg
		small.Vocab = 200
		if _, err := NewToyTokenizer(&small); err == nil || !strings.Contains(err.Error(), "vocab_size 200") {
			t.Errorf("err = %v", err)
		}
		clash := *cfg
		clash.ImgContextTok = 512
		if _, err := NewToyTokenizer(&clash); err == nil || !strings.Contains(err.Error(), "collides") {
			t.Errorf("err = %v", err)
		}
	})
}

// writePixels writes a pixel file of n random tiles for cfg and returns
// its path.
func writePixels(t *testing.T, cfg *configs.Model, n int, seed uint64) string {
	t.Helper()
	S := cfg.ImageSize
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n*3*S*S)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	ten, err := safetensors.Float32Tensor(protocol.PixelTensor, safetensors.F32, []int64{int64(n), 3, int64(S), int64(S)}, v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pix.safetensors")
	if err := safetensors.WriteFile(p, []safetensors.Tensor{ten}, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// greedy is an independent reference of Infer: the same prompt built by
// hand, embedded, spliced, prefilled, then Step until n tokens.
func greedy(t *testing.T, m *Model, tok *ToyTokenizer, pre string, pix string, tiles int, post string, n int) string {
	t.Helper()
	ids := append([]int{ToyBOS}, tok.Encode(pre)...)
	var images []float32
	if pix != "" {
		s, _ := tok.ID(TokImgStart)
		e, _ := tok.ID(TokImgEnd)
		ids = append(ids, s)
		for i := 0; i < tiles*m.NumImageTokens(); i++ {
			ids = append(ids, m.Config.ImgContextTok)
		}
		ids = append(ids, e)
		f, err := safetensors.Open(pix)
		if err != nil {
			t.Fatal(err)
		}
		all, _, _ := f.Float32(protocol.PixelTensor)
		f.Close()
		per := len(all) / tiles
		for k := 0; k < tiles; k++ {
			emb, err := m.ImageTokens(all[k*per : (k+1)*per])
			if err != nil {
				t.Fatal(err)
			}
			images = append(images, emb...)
		}
	}
	ids = append(ids, tok.Encode(post)...)
	x, _ := m.Embed(ids)
	if err := m.SpliceImages(ids, x, images); err != nil {
		t.Fatal(err)
	}
	st := m.NewState(len(ids) + n)
	logits, err := m.PrefillEmbeds(st, x, false)
	if err != nil {
		t.Fatal(err)
	}
	var gen []int
	for i := 0; i < n; i++ {
		next := argmax(logits)
		gen = append(gen, next)
		if logits, err = m.Step(st, next); err != nil {
			t.Fatal(err)
		}
	}
	return tok.Decode(gen)
}

func TestInferServe(t *testing.T) {
	s, hello := startSession(t)
	if !hello.Capabilities.Infer {
		t.Fatal("hello does not offer infer")
	}
	// Before a load: an error, not a crash.
	if r := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "i0", Infer: &protocol.InferRequest{Segments: []protocol.Segment{{Text: "x"}}, MaxNewTokens: 1}}); r.Type != protocol.TypeError {
		t.Fatalf("infer before load: %+v", r)
	}
	for _, variant := range tinyVariants {
		t.Run(variant, func(t *testing.T) {
			if r := s.call(loadMsg(t, variant, "fp32", "reference")); r.Type != protocol.TypeLoaded {
				t.Fatalf("load: %+v", r)
			}
			cfg, _ := configs.Builtin(variant)
			ref, err := NewRandom(cfg, 1) // the weights the runner built from seed 1
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := NewToyTokenizer(cfg)
			const tiles, n = 3, 12
			pix := writePixels(t, cfg, tiles, 7)
			pre := "<|im_start|>system\nsys<|im_end|><|im_start|>user\n"
			post := "\nIs there a dog?<|im_end|><|im_start|>assistant\n"
			req := &protocol.InferRequest{Segments: []protocol.Segment{{Text: pre}, {Image: &protocol.ImageSegment{Path: pix, Tiles: tiles}}, {Text: post}}, MaxNewTokens: n}
			r := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "i1", Infer: req})
			if r.Type != protocol.TypeOutput || r.ID != "i1" {
				t.Fatalf("infer: %+v", r)
			}
			o := r.Output
			perTile := ref.NumImageTokens()
			wantPrompt := 1 + len(tok.Encode(pre)) + 2 + tiles*perTile + len(tok.Encode(post))
			if o.PromptTokens != wantPrompt || o.ImageTokens != tiles*perTile || o.GeneratedTokens != n || o.StopReason != protocol.StopLength {
				t.Errorf("output %+v, want %d prompt tokens, %d image tokens, %d generated, stop length", o, wantPrompt, tiles*perTile, n)
			}
			if want := greedy(t, ref, tok, pre, pix, tiles, post, n); o.Text != want {
				t.Errorf("text %q, the independent greedy loop gives %q", o.Text, want)
			}
			for _, k := range []string{"latency_ms", "vision_ms", "prefill_ms", "decode_ms"} {
				if !(r.Metrics[k] > 0) {
					t.Errorf("metric %s = %v", k, r.Metrics[k])
				}
			}
			if !strings.HasPrefix(r.Info["tokenizer"], "toy-bytes") {
				t.Errorf("info %v", r.Info)
			}
			// The same request again gives the same answer (fresh state).
			if r2 := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "i2", Infer: req}); r2.Output == nil || r2.Output.Text != o.Text {
				t.Errorf("second answer %+v differs from %q", r2, o.Text)
			}
			// A text stop string cuts the answer before it.
			if rs := []rune(o.Text); len(rs) >= 3 {
				stop := string(rs[1:3])
				req2 := *req
				req2.Stop = []string{"\x00never", stop}
				r3 := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "i3", Infer: &req2})
				if r3.Output == nil || r3.Output.Text != o.Text[:strings.Index(o.Text, stop)] || r3.Output.StopReason != protocol.StopString {
					t.Errorf("with stop %q: %+v", stop, r3.Output)
				}
			}
			// Text only.
			r4 := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "i4", Infer: &protocol.InferRequest{Segments: []protocol.Segment{{Text: pre + post}}, MaxNewTokens: 5}})
			if r4.Output == nil || r4.Output.ImageTokens != 0 || r4.Output.Text != greedy(t, ref, tok, pre+post, "", 0, "", 5) {
				t.Errorf("text-only: %+v", r4.Output)
			}
			// Bad pixel files are errors naming the file.
			for _, tc := range []struct {
				name  string
				tiles int
				path  string
				want  string
			}{
				{"tile count", tiles + 1, pix, "shape"},
				{"missing", tiles, filepath.Join(t.TempDir(), "nope.safetensors"), "nope.safetensors"},
			} {
				bad := &protocol.InferRequest{Segments: []protocol.Segment{{Image: &protocol.ImageSegment{Path: tc.path, Tiles: tc.tiles}}}, MaxNewTokens: 1}
				if r := s.call(&protocol.Message{Type: protocol.TypeInfer, ID: "bad", Infer: bad}); r.Type != protocol.TypeError || !strings.Contains(r.Message, tc.want) {
					t.Errorf("%s: %+v", tc.name, r)
				}
			}
		})
	}
}

func TestInferRefusals(t *testing.T) {
	cfg, _ := configs.Builtin("mmmamba-hybrid-tiny")
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	req := &protocol.InferRequest{Segments: []protocol.Segment{{Text: "hi"}}, MaxNewTokens: 4}
	t.Run("real tokenizer", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), []byte("spm"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &Runner{model: m, ckptDir: dir}
		_, _, _, err := r.Infer(req)
		re, ok := err.(*protocol.RunnerError)
		if !ok || re.Status != protocol.StatusUnsupported || !strings.Contains(re.Message, "tokenizer.model") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("checkpoint without tokenizer", func(t *testing.T) {
		r := &Runner{model: m, ckptDir: t.TempDir()}
		if out, _, _, err := r.Infer(req); err != nil || out.GeneratedTokens != 4 {
			t.Fatalf("out %+v err %v", out, err)
		}
	})
	t.Run("memory cap", func(t *testing.T) {
		r := &Runner{model: m, capBytes: m.WeightBytes() + 1}
		_, _, _, err := r.Infer(req)
		if re, ok := err.(*protocol.RunnerError); !ok || re.Status != protocol.StatusOOM {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCutStop(t *testing.T) {
	for _, tc := range []struct {
		text string
		stop []string
		want string
		ok   bool
	}{
		{"Yes.\nNo", []string{"\n"}, "Yes.", true},
		{"abcabc", []string{"c", "b"}, "a", true},
		{"abc", nil, "abc", false},
		{"abc", []string{"x"}, "abc", false},
	} {
		got, ok := cutStop(tc.text, tc.stop)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cutStop(%q, %q) = %q, %v", tc.text, tc.stop, got, ok)
		}
	}
}

// A special token split across two adjacent text segments is recognised:
// the prompt is tokenized as the joined text.
func TestInferJoinsAdjacentTextSegments(t *testing.T) {
	r := NewRunner()
	cfg, _ := configs.Builtin("mmmamba-linear-tiny")
	if _, _, err := r.Load(&protocol.LoadRequest{Variant: "v", Config: cfg.Raw, Weights: protocol.Weights{Kind: "random", Seed: 1}, DType: "fp32", Profile: "reference"}); err != nil {
		t.Fatal(err)
	}
	ask := func(segs ...string) int {
		req := &protocol.InferRequest{MaxNewTokens: 1}
		for _, s := range segs {
			req.Segments = append(req.Segments, protocol.Segment{Text: s})
		}
		out, _, _, err := r.Infer(req)
		if err != nil {
			t.Fatal(err)
		}
		return out.PromptTokens
	}
	whole := ask("a<|im_end|>b")
	split := ask("a<|im_e", "nd|>b")
	if whole != split || whole != 4 {
		t.Errorf("prompt tokens: whole %d, split %d (want 4: BOS a <|im_end|> b)", whole, split)
	}
}
