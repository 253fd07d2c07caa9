package vqa

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkVQAScore1M scores one million predictions against 10 ground
// truths each (normalising all 11 strings per question), as TextVQA/VQAv2
// scoring does. One op is the whole million.
func BenchmarkVQAScore1M(b *testing.B) {
	const n = 1_000_000
	words := []string{"yes", "no", "2", "two", "the red car", "T-shirt", "nokia", "3.5.", "1,000", "what's", "a dog"}
	rng := rand.New(rand.NewSource(1))
	preds := make([]string, n)
	gts := make([][]GTAnswer, n)
	for i := range preds {
		preds[i] = words[rng.Intn(len(words))] + fmt.Sprint(i%3)
		g := make([]GTAnswer, 10)
		for k := range g {
			g[k] = GTAnswer{Answer: words[rng.Intn(len(words))] + fmt.Sprint(rng.Intn(3)), ID: k + 1}
		}
		gts[i] = g
	}
	for _, norm := range []Norm{NormM4C, NormVLMEvalKit2502, NormVQAEval} {
		b.Run(string(norm), func(b *testing.B) {
			sc, err := NewScorer(norm)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				sum := 0.0
				for i := range preds {
					sum += sc.Score(preds[i], gts[i])
				}
				if sum <= 0 {
					b.Fatal("no hits")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/1M")
		})
	}
}
