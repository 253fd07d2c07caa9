package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkDecodeStep measures one decode step at a few contexts, with the
// caches synthesised at that length and rolled back before every step.
// The attention variant's time grows with the context; mmMamba-linear's
// does not.
func BenchmarkDecodeStep(b *testing.B) {
	for _, name := range tinyVariants {
		m := tinyModel(b, name, 1)
		for _, ctx := range []int{256, 1024, 4096, 8192} {
			b.Run(fmt.Sprintf("%s/ctx=%d", name, ctx), func(b *testing.B) {
				st := m.NewState(ctx + 1)
				if err := m.FillSynthetic(st, ctx, 1); err != nil {
					b.Fatal(err)
				}
				snap := st.Save()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					st.Restore(snap)
					if _, err := m.Step(st, 7); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPrefill measures a prefill pass (last-position logits).
func BenchmarkPrefill(b *testing.B) {
	for _, name := range tinyVariants {
		m := tinyModel(b, name, 1)
		for _, n := range []int{128, 512, 2048} {
			b.Run(fmt.Sprintf("%s/len=%d", name, n), func(b *testing.B) {
				toks := randomTokens(n, m.Config.Vocab, 1)
				st := m.NewState(n)
				for b.Loop() {
					st.Reset()
					if _, err := m.Prefill(st, toks, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
