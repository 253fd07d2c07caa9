package cpu

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

const parityDir = "testdata/parity"

// The committed fixtures are exactly what the generator writes now, so
// they cannot drift from the code. Regenerate with
// `ssmbench parity-fixture --out runners/cpu/testdata/parity`.
//
// Weights, config and tokens must match byte for byte everywhere. The
// logits are compared byte for byte where the generator's kernels are in
// use (amd64 with AVX2 and FMA: every sum has a fixed order there,
// whatever GOMAXPROCS), and to a tight tolerance elsewhere, where the
// portable kernels round differently.
func TestParityFixturesUpToDate(t *testing.T) {
	tmp := t.TempDir()
	if err := WriteParityFixtures(tmp); err != nil {
		t.Fatal(err)
	}
	for _, v := range ParityVariants {
		for _, file := range []string{ParityConfigFile, ParityModelFile, ParityExpectedFile} {
			t.Run(v+"/"+file, func(t *testing.T) {
				want, err := os.ReadFile(filepath.Join(parityDir, v, file))
				if err != nil {
					t.Fatalf("%v (regenerate with: ssmbench parity-fixture --out runners/cpu/testdata/parity)", err)
				}
				got, err := os.ReadFile(filepath.Join(tmp, v, file))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(got, want) {
					return
				}
				if file == ParityExpectedFile && kernelName() != "avx2-fma" {
					a, err1 := ReadParityCase(filepath.Join(tmp, v))
					b, err2 := ReadParityCase(filepath.Join(parityDir, v))
					if err1 == nil && err2 == nil && equalInts(a.Tokens, b.Tokens) && equalInts(a.DecodeTokens, b.DecodeTokens) &&
						maxRelDiff(a.PrefillLogits, b.PrefillLogits) < 1e-5 && maxRelDiff(a.DecodeLogits, b.DecodeLogits) < 1e-5 {
						t.Logf("%s: logits differ in rounding only (%s kernels on %s)", v, kernelName(), runtime.GOARCH)
						return
					}
				}
				t.Errorf("%s/%s differs from what the generator writes (%d vs %d bytes); regenerate with: ssmbench parity-fixture --out runners/cpu/testdata/parity",
					v, file, len(want), len(got))
			})
		}
	}
}

func equalInts(a, b []int64) bool {
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

// The committed expected logits agree with a fresh forward pass of the
// model loaded from the committed checkpoint and config, as another runner
// would load them.
func TestParityFixturesMatchForward(t *testing.T) {
	for _, v := range ParityVariants {
		t.Run(v, func(t *testing.T) {
			dir := filepath.Join(parityDir, v)
			cfg, err := configs.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ck, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			for _, name := range ck.Names() {
				if info, _ := ck.Lookup(name); info.DType != safetensors.F32 {
					t.Errorf("%s is %s, want F32", name, info.DType)
				}
			}
			m, err := Load(cfg, ck)
			if err != nil {
				t.Fatal(err)
			}
			if len(ck.Names()) != len(m.Params()) {
				t.Errorf("fixture holds %d tensors, the model has %d parameters", len(ck.Names()), len(m.Params()))
			}
			want, err := ReadParityCase(dir)
			if err != nil {
				t.Fatal(err)
			}
			V := cfg.Vocab
			if len(want.Tokens) != ParityPromptLen || len(want.DecodeTokens) != ParityDecodeLen ||
				len(want.PrefillLogits) != ParityPromptLen*V || len(want.DecodeLogits) != ParityDecodeLen*V {
				t.Fatalf("expected.safetensors shapes: %d tokens, %d decode tokens, %d and %d logits",
					len(want.Tokens), len(want.DecodeTokens), len(want.PrefillLogits), len(want.DecodeLogits))
			}
			got, err := ComputeParity(m, want.Tokens, want.DecodeTokens)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name      string
				got, want []float32
			}{{"prefill_logits", got.PrefillLogits, want.PrefillLogits}, {"decode_logits", got.DecodeLogits, want.DecodeLogits}} {
				for r := 0; r < len(tc.want)/V; r++ {
					if d := maxRelDiff(tc.got[r*V:(r+1)*V], tc.want[r*V:(r+1)*V]); d > 1e-5 {
						t.Errorf("%s row %d: rel diff %.3g", tc.name, r, d)
					}
				}
			}
			// Decode continues the prefill: its first logits differ from the
			// last prompt position's (a real next token was fed).
			if maxRelDiff(want.DecodeLogits[:V], want.PrefillLogits[(ParityPromptLen-1)*V:]) < 1e-3 {
				t.Error("decode_logits[0] equals the last prefill logits")
			}
		})
	}
}
