package cpu

import (
	"path/filepath"
	"testing"

	"github.com/ssmbench/ssmbench/runners/configs"
	"github.com/ssmbench/ssmbench/runners/safetensors"
)

// The portable kernels (used where AVX2/FMA are missing) reproduce the
// committed parity logits to the tolerance the drift test allows them.
func TestGenericKernelMatchesFixtures(t *testing.T) {
	saved := useAVX2
	useAVX2 = false
	defer func() { useAVX2 = saved }()
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
			m, err := Load(cfg, ck)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadParityCase(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ComputeParity(m, want.Tokens, want.DecodeTokens)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxRelDiff(got.PrefillLogits, want.PrefillLogits); d > 1e-5 || d == 0 && saved {
				t.Errorf("prefill logits: rel diff %.3g with the generic kernel", d)
			}
			if d := maxRelDiff(got.DecodeLogits, want.DecodeLogits); d > 1e-5 {
				t.Errorf("decode logits: rel diff %.3g with the generic kernel", d)
			}
		})
	}
}
