package vqa

import (
	"fmt"

	"github.com/ssmbench/ssmbench/eval/pycompat"
)

// Norm names a normalisation variant.
type Norm string

// The normalisation variants of the reference's §0.1.
const (
	// NormVQAEval is V1, the official vqaEval.py (VQAv2 EvalAI server):
	// strings are stripped, and normalised only when the ground truths
	// differ; leave-one-out removes GT dicts that are equal as dicts.
	NormVQAEval Norm = "vqaeval"
	// NormM4C is V2, mmf/m4c's EvalAIAnswerProcessor (LLaVA, InternVL,
	// lmms-eval TextVQA), applied always; leave-one-out by index.
	NormM4C Norm = "m4c"
	// NormVLMEvalKit2502 is V3 with the official period rule (VLMEvalKit
	// before 2025-05-13; lmms-eval vqav2_process_results).
	NormVLMEvalKit2502 Norm = "vlmevalkit-2502"
	// NormVLMEvalKit2505 is V3 with the look-behind period rule (VLMEvalKit
	// since 928a95b0, 2025-05-13).
	NormVLMEvalKit2505 Norm = "vlmevalkit-2505"
)

// Normalizer returns the one-string normalisation of a variant that is
// applied to predictions and GTs alike (V2, V3). V1 has none: it depends
// on the GT set; see ScoreOfficial.
func Normalizer(n Norm) (func(string) string, error) {
	switch n {
	case NormM4C:
		return EvalAI, nil
	case NormVLMEvalKit2502:
		return func(s string) string { return ProcessAnswer(s, PeriodOfficial) }, nil
	case NormVLMEvalKit2505:
		return func(s string) string { return ProcessAnswer(s, PeriodLookbehind) }, nil
	}
	return nil, fmt.Errorf("vqa: normalisation %q has no fixed normaliser", n)
}

// GTAnswer is one annotator's answer. ID is the annotation's answer_id (or
// the answer's position when the data has none); together with Confidence
// it makes V1's dict-inequality leave-one-out behave as the official code.
type GTAnswer struct {
	Answer     string
	Confidence string
	ID         int
}

// SoftAccuracy is the leave-one-out VQA accuracy of an already normalised
// prediction against already normalised GTs, by index (m4c, VLMEvalKit,
// lmms-eval): mean over i of min(1, #{j != i : gt[j] == pred} / 3).
// With k matching GTs among 10 it is 0, .3, .6, .9, 1 for k = 0..≥4.
func SoftAccuracy(pred string, gts []string) float64 {
	if len(gts) == 0 {
		return 0
	}
	k := 0
	for _, g := range gts {
		if g == pred {
			k++
		}
	}
	// For each i: matches among the others = k - [gt[i]==pred].
	sum := 0.0
	for _, g := range gts {
		m := k
		if g == pred {
			m--
		}
		sum += min(1, float64(m)/3)
	}
	return sum / float64(len(gts))
}

// ScoreOfficial is vqaEval.py's per-question accuracy (V1): \n and \t
// become spaces and everything is stripped; only when the GTs are not all
// identical are GTs and prediction normalised (ProcessPunctuation then
// ProcessDigitArticle); the comparison is otherwise raw and
// case-sensitive. The "other" answers of GT i are those whose dict
// (answer, confidence, id) differs from GT i's.
func ScoreOfficial(pred string, gts []GTAnswer) float64 {
	if len(gts) == 0 {
		return 0
	}
	res := spaceTabs(pred)
	ans := make([]GTAnswer, len(gts))
	distinct := map[string]bool{}
	for i, g := range gts {
		ans[i] = g
		ans[i].Answer = spaceTabs(g.Answer)
		distinct[ans[i].Answer] = true
	}
	if len(distinct) > 1 {
		for i := range ans {
			ans[i].Answer = Official(ans[i].Answer)
		}
		res = Official(res)
	}
	sum := 0.0
	for i := range ans {
		m := 0
		for j := range ans {
			if ans[j] != ans[i] && ans[j].Answer == res {
				m++
			}
		}
		sum += min(1, float64(m)/3)
	}
	return sum / float64(len(ans))
}

// Scorer scores one prediction against its GT answers under a variant.
type Scorer struct {
	norm Norm
	f    func(string) string
}

// NewScorer returns the scorer of a normalisation variant.
func NewScorer(n Norm) (*Scorer, error) {
	if n == NormVQAEval {
		return &Scorer{norm: n}, nil
	}
	f, err := Normalizer(n)
	if err != nil {
		return nil, err
	}
	return &Scorer{norm: n, f: f}, nil
}

// Score returns the question's soft accuracy in [0, 1].
func (s *Scorer) Score(pred string, gts []GTAnswer) float64 {
	if s.norm == NormVQAEval {
		return ScoreOfficial(pred, gts)
	}
	norm := make([]string, len(gts))
	for i, g := range gts {
		norm[i] = s.f(g.Answer)
	}
	return SoftAccuracy(s.f(pred), norm)
}

// GQARule names a GQA exact-match normalisation.
type GQARule string

// The GQA normalisations of the reference's §8.
const (
	// GQAInternVL is InternVL's/LLaVA's convert_gqa_for_eval.py,
	// prediction.rstrip('.').lower(), then the official exact match
	// against the raw gold answer.
	GQAInternVL GQARule = "internvl"
	// GQAVLMEvalKit is pred.strip().lower() == gt.strip().lower().
	GQAVLMEvalKit GQARule = "vlmevalkit"
	// GQALmmsEval is exact_match with ignore_case and ignore_punctuation:
	// both sides lowercased and stripped of every string.punctuation char.
	GQALmmsEval GQARule = "lmms-eval"
)

const asciiPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

func dropPunct(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && containsByte(asciiPunct, c) {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// GQAMatch reports whether pred matches the gold answer under rule.
func GQAMatch(rule GQARule, pred, gold string) (bool, error) {
	switch rule {
	case GQAInternVL:
		return pycompat.Lower(pycompat.RStripChars(pred, ".")) == gold, nil
	case GQAVLMEvalKit:
		return pycompat.Lower(pycompat.Strip(pred)) == pycompat.Lower(pycompat.Strip(gold)), nil
	case GQALmmsEval:
		return dropPunct(pycompat.Lower(pred)) == dropPunct(pycompat.Lower(gold)), nil
	}
	return false, fmt.Errorf("vqa: unknown GQA rule %q", rule)
}
