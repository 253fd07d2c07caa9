package vqa

import (
	"math"
	"strings"
	"testing"
)

// Expected strings were produced by running the reference Python code
// (m4c_evaluator.py's EvalAIAnswerProcessor and VLMEvalKit's
// process_answer before and after 928a95b0) on the same inputs.
func TestNormalisations(t *testing.T) {
	cases := []struct {
		name, in                    string
		m4c, v3old, v3new, official string
	}{
		{"capitalised contraction keys never fire", "Im", "im", "im", "im", "im"},
		{"digit-comma-digit deletes all punct (V1/V3) vs word_tokenize (V2)", "1,000 t-shirts", "1000 t shirts", "1000 tshirts", "1000 tshirts", "1000 tshirts"},
		{"punct touching a space is deleted", "hello- world", "hello world", "hello world", "hello world", "hello world"},
		{"trailing period after digit", "2.", "2", "2", "2.", "2"},
		{"period between digits kept, trailing one by rule", "3.5.", "3.5", "3.5", "3.5.", "3.5"},
		{"at most 32 periods deleted (re.UNICODE passed as count)", strings.Repeat(".", 40) + "x", "........x", "........x", "x", "........x"},
		{"word_tokenize splits 's", "what's", "what 's", "what's", "what's", "what's"},
		{"contraction expanded", "whats", "what's", "what's", "what's", "what's"},
		{"number words", "Two dogs", "2 dogs", "2 dogs", "2 dogs", "2 dogs"},
		{"none is zero", "none of the above", "0 of above", "0 of above", "0 of above", "0 of above"},
		{"articles dropped", "a dog", "dog", "dog", "dog", "dog"},
		{"percent is not punctuation", "10% off", "10% off", "10% off", "10% off", "10% off"},
		{"newline stripped", "Yes\n", "yes", "yes", "yes", "yes"},
		{"apostrophe kept", "it's", "it 's", "it's", "it's", "it's"},
		{"spaced hyphen deleted", "x - y", "x y", "x y", "x y", "x y"},
		{"paren becomes space and exposes an article", "(a) b", "b", "b", "b", "b"},
		{"quotes", "\"quoted\"", "quoted", "quoted", "quoted", "quoted"},
		{"comma between digits", "1,2", "12", "12", "12", "12"},
		{"hyphen inside a word becomes space", "t-shirt!", "t shirt", "t shirt", "t shirt", "t shirt"},
		{"periods after letters", "mr. smith.", "mr smith", "mr smith", "mr smith", "mr smith"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := EvalAI(c.in); got != c.m4c {
				t.Errorf("EvalAI(%q) = %q, want %q", c.in, got, c.m4c)
			}
			if got := ProcessAnswer(c.in, PeriodOfficial); got != c.v3old {
				t.Errorf("ProcessAnswer(%q, official) = %q, want %q", c.in, got, c.v3old)
			}
			if got := ProcessAnswer(c.in, PeriodLookbehind); got != c.v3new {
				t.Errorf("ProcessAnswer(%q, lookbehind) = %q, want %q", c.in, got, c.v3new)
			}
			if got := Official(c.in); got != c.official {
				t.Errorf("Official(%q) = %q, want %q", c.in, got, c.official)
			}
		})
	}
}

func TestContractionsTable(t *testing.T) {
	if len(contractions) != 120 {
		t.Fatalf("contractions has %d entries, want 120", len(contractions))
	}
	if got := ProcessDigitArticle("somebody'd"); got != "somebodyd" {
		t.Errorf("the table's odd entry somebody'd -> somebodyd: got %q", got)
	}
}

func tenOf(answers ...string) []GTAnswer {
	var out []GTAnswer
	for len(out) < 10 {
		for _, a := range answers {
			if len(out) < 10 {
				out = append(out, GTAnswer{Answer: a, Confidence: "yes", ID: len(out) + 1})
			}
		}
	}
	return out
}

func gts(pairs ...any) []GTAnswer {
	var out []GTAnswer
	for i := 0; i < len(pairs); i += 2 {
		for n := 0; n < pairs[i+1].(int); n++ {
			out = append(out, GTAnswer{Answer: pairs[i].(string), Confidence: "yes", ID: len(out) + 1})
		}
	}
	return out
}

func TestSoftAccuracyLevels(t *testing.T) {
	want := []float64{0, 0.3, 0.6, 0.9, 1, 1}
	for k, w := range want {
		g := gts("cat", k, "dog", 10-k)
		for _, norm := range []Norm{NormVQAEval, NormM4C, NormVLMEvalKit2502, NormVLMEvalKit2505} {
			s, _ := NewScorer(norm)
			if got := s.Score("cat", g); math.Abs(got-w) > 1e-12 {
				t.Errorf("%s k=%d: got %v want %v", norm, k, got, w)
			}
		}
	}
}

func TestScoreVariants(t *testing.T) {
	cases := []struct {
		name                       string
		pred                       string
		gts                        []GTAnswer
		vqaeval, m4c, v3old, v3new float64
	}{
		{"V1 identical GTs compare raw and case-sensitive", "Yes", tenOf("yes"), 0, 1, 1, 1},
		{"V1 identical GTs: trailing period not removed", "yes.", tenOf("yes"), 0, 1, 1, 1},
		{"V1 normalises when GTs differ", "Yes", gts("yes", 9, "no", 1), 1, 1, 1, 1},
		{"what's vs whats: V2 splits 's", "what's", gts("whats", 10), 0, 0, 1, 1},
		{"trailing period after a number, new rule", "2.", gts("2", 5, "two", 5), 1, 1, 1, 0},
		{"V1 strips whitespace even when GTs are identical", " yes\n", tenOf("yes"), 1, 1, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for norm, w := range map[Norm]float64{NormVQAEval: c.vqaeval, NormM4C: c.m4c, NormVLMEvalKit2502: c.v3old, NormVLMEvalKit2505: c.v3new} {
				s, err := NewScorer(norm)
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Score(c.pred, c.gts); math.Abs(got-w) > 1e-12 {
					t.Errorf("%s: got %v want %v", norm, got, w)
				}
			}
		})
	}
}

func TestOfficialDictInequality(t *testing.T) {
	// Without unique answer_ids, equal dicts are all removed as "the
	// others": a unanimous-but-one answer never matches itself.
	same := make([]GTAnswer, 10)
	for i := range same {
		same[i] = GTAnswer{Answer: "cat", Confidence: "yes"}
	}
	same[9] = GTAnswer{Answer: "dog", Confidence: "yes"}
	if got := ScoreOfficial("cat", same); got != 1.0/10*1 { // only GT "dog" sees 9 "cat" among others → 1
		t.Errorf("got %v want 0.1", got)
	}
	uniq := gts("cat", 9, "dog", 1)
	if got := ScoreOfficial("cat", uniq); got != 1 {
		t.Errorf("with ids: got %v want 1", got)
	}
}

func TestGQAMatch(t *testing.T) {
	cases := []struct {
		pred, gold            string
		internvl, vlmek, lmms bool
	}{
		{"Yes.", "yes", true, false, true},
		{"yes. ", "yes", false, false, false},
		{"yes..", "yes", true, false, true},
		{" Yes ", "yes", false, true, false},
		{"t-shirt", "tshirt", false, false, true},
		{"Left", "left", true, true, true},
	}
	for _, c := range cases {
		t.Run(c.pred, func(t *testing.T) {
			for rule, w := range map[GQARule]bool{GQAInternVL: c.internvl, GQAVLMEvalKit: c.vlmek, GQALmmsEval: c.lmms} {
				got, err := GQAMatch(rule, c.pred, c.gold)
				if err != nil || got != w {
					t.Errorf("%s(%q,%q) = %v,%v want %v", rule, c.pred, c.gold, got, err, w)
				}
			}
		})
	}
	if _, err := GQAMatch("nope", "a", "a"); err == nil {
		t.Error("unknown rule accepted")
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"1,000 t-shirts", "what's", "3.5.", "(a) b", "\x1c", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{EvalAI(s), ProcessAnswer(s, PeriodOfficial), ProcessAnswer(s, PeriodLookbehind), Official(s)} {
			// Normalised answers are single-spaced and stable under a
			// second digit/article pass.
			if strings.Contains(out, "  ") || strings.TrimSpace(out) != out {
				t.Fatalf("%q -> %q is not single-spaced", s, out)
			}
		}
		sc, _ := NewScorer(NormM4C)
		if v := sc.Score(s, []GTAnswer{{Answer: s}}); v != 0 {
			t.Fatalf("a single GT can never match itself leave-one-out: %v", v)
		}
	})
}
