package mcq

import (
	"math"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/eval"
)

var abcd = []Option{{"A", "red car"}, {"B", "blue car"}, {"C", "3"}, {"D", "cat"}}

func TestCanInfer(t *testing.T) {
	long := "B is what I would pick because the picture shows a car that is clearly painted in a dark tone"
	cases := []struct {
		name, answer        string
		v2502, v2508, v2606 string
	}{
		{"bare letter", "A", "A", "A", "A"},
		{"letter with punctuation", "(B).", "B", "B", "B"},
		{"markdown bold", "**C**", "C", "C", "C"},
		{"letter colon", "D: cat", "D", "D", "D"},
		{"sentence", "The answer is B.", "B", "B", "B"},
		{"letters are case-sensitive", "b", "", "", ""},
		{"two letters: option rule fails, text rule decides", "A or B? red car", "A", "A", "A"},
		{"two letters and no text", "A or B", "", "", ""},
		{"slash is not split", "A/B", "", "", ""},
		{"refusal is Z", "Cannot determine the answer from this", "Z", "Z", "Z"},
		{"lone Z token", "Z", "Z", "Z", "Z"},
		{"API failure falls to the text rule", "Failed to obtain answer via API: red car", "A", "", ""}, // then too long for 2025-08
		{"text match", "It is a blue car", "B", "B", "B"},
		{"two texts match", "red car and blue car", "", "", ""},
		{"text is a substring match", "3 cats", "", "", ""}, // "3" and "cat" both occur
		{"early letter: anywhere before 2025-08, last 4 tokens after", long, "B", "", ""},
		{"verbose answer regex (2026-06)", "The correct answer is **C**, since the count of objects in the image matches it clearly", "C", "", "C"},
		{"regex letter must be a choice", "the answer is D but", "D", "D", "D"},
		{"length guard refuses long text matches (2025-08)", "cat " + strings.Repeat("x", 40), "D", "", ""},
		{"lowercase article a is not option A", "a cat", "D", "D", "D"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for v, w := range map[Version]string{V2502: c.v2502, V2508: c.v2508, V2606: c.v2606} {
				if got := CanInfer(c.answer, abcd, v); got != w {
					t.Errorf("version %d: CanInfer(%q) = %q want %q", v, c.answer, got, w)
				}
			}
		})
	}
}

func TestOtherExtractors(t *testing.T) {
	sqa := []struct{ in, want string }{
		{"A", "A"}, {"B. because", "B"}, {"The answer is C.", "C"},
		{"The answer is C", ""},                   // the regex needs one more character
		{"The answer is Cx", "C"},                 // ... any character
		{"The answer is A. The answer is B.", ""}, // two matches
		{"F", ""}, {"a", ""}, {"E", "E"}, {"C.", ""}, // "C." is not "C. "
	}
	for _, c := range sqa {
		if got := ScienceQALLaVA(c.in); got != c.want {
			t.Errorf("ScienceQALLaVA(%q) = %q want %q", c.in, got, c.want)
		}
	}
	if ScienceQALmmsEval("A.", "A") || !ScienceQALmmsEval(" a ", "A") || ScienceQALmmsEval("B", "A") {
		t.Error("lmms-eval ScienceQA: only stripped case-insensitive equality counts")
	}
	if !SEEDLmmsEval("A.", "A") || !SEEDLmmsEval("b", "B") || SEEDLmmsEval(" C) cat", "A") {
		t.Error("lmms-eval SEED: first character, case-insensitive")
	}
	if !AI2DLmmsEval("A. cat", "A") || !AI2DLmmsEval("(A)", "A") || AI2DLmmsEval("cat", "A") {
		t.Error("lmms-eval AI2D")
	}
	if !StripLowerEqual(" a\n", "A") || StripLowerEqual("A.", "A") {
		t.Error("internvl AI2D")
	}
}

func TestMMMUParsers(t *testing.T) {
	ch := []Option{{"A", "12 kg"}, {"B", "the mitochondria"}, {"C", "blue"}, {"D", "none"}}
	cases := []struct{ in, want string }{
		{"A", "A"},
		{"(B)", "B"},
		{"(A) or (C), I prefer (C)", "C"},       // last bracketed occurrence
		{"I think A is wrong, B is right", "B"}, // last " X "
		{"B.", "B"},                             // stripped to "B", then "B "
		{".,A", "A"},                            // strip(',') then strip('.') leaves ",A"; "A " still matches
		{",.A.,", "A"},
		{"it is located in the mitochondria of the cell", "B"}, // content match needs > 5 words
		{"mitochondria", ""},
		{"nothing matches here", ""}, // the original picks random.choice; here a documented miss
	}
	for _, c := range cases {
		if got := MMMUParseChoice(c.in, ch); got != c.want {
			t.Errorf("MMMUParseChoice(%q) = %q want %q", c.in, got, c.want)
		}
	}
	open := []struct {
		resp, gold string
		want       bool
	}{
		{"The answer is 3,000.", "3000", true},
		{"answer: b c", "b", true},              // no indicator after lowercasing ("answer " needs a space), whole text kept
		{"so the result is 2.499", "2.5", true}, // rounded to 2 decimals
		{"x = 7", "7", true},
		{"It is red", "red", true},
		{"The mass is 12 kg", "12", true},
		{"banana", "a", false},  // single characters are padded with a space
		{"1_000", "1000", true}, // Python float() accepts underscores
	}
	for _, c := range open {
		if got := MMMUEvalOpen(c.gold, MMMUParseOpen(c.resp)); got != c.want {
			t.Errorf("open %q vs %q = %v want %v (preds %v)", c.resp, c.gold, got, c.want, MMMUParseOpen(c.resp))
		}
	}
	if got := extractNumbers("1,000,0000 and 123, -4.5e3 x7"); strings.Join(got, "|") != "1,000|-4.5e3|0000|-4|3|7" {
		t.Errorf("extractNumbers = %q", got)
	}
}

func rowsOf(answers, preds string) []Row {
	var out []Row
	for i := range answers {
		out = append(out, Row{Index: int64(i), Options: abcd, Answer: answers[i : i+1], Prediction: preds[i : i+1], HasPrediction: preds[i] != '-', Category: "c" + string(rune('0'+i%2))})
	}
	return out
}

func TestScoreVanilla(t *testing.T) {
	rows := rowsOf("ABCD", "AB?-")
	res, err := ScoreVanilla(SEED, rows, VLMEvalKit2502)
	if err != nil {
		t.Fatal(err)
	}
	if res.Headline.Value != 50 || res.Unparseable != 1 || res.Missing != 1 {
		t.Errorf("%+v", res)
	}
	c0, _ := res.Find(eval.ScopeCategory, "c0", "accuracy_pct")
	if c0.Value != 50 || c0.N != 2 {
		t.Errorf("category c0: %+v", c0)
	}
	if _, err := ScoreVanilla(SEED, rows, InternVL); err == nil {
		t.Error("internvl rules accepted for SEED")
	}
}

func TestScoreMMMU(t *testing.T) {
	rows := []Row{
		{ID: "1", Options: abcd, Answer: "B", Prediction: "B", HasPrediction: true, Split: "validation", Category: "Art"},
		{ID: "2", Answer: "42", Prediction: "The answer is 42", HasPrediction: true, Split: "validation", Category: "Math"},
		{ID: "3", Answer: "42", Prediction: "42", HasPrediction: true, Split: "dev", Category: "Math"},
		{ID: "4", Answer: "7", Prediction: "Other Answers", HasPrediction: true, Split: "validation", Category: "Math"},
	}
	// VLMEvalKit: open questions become A = gold text, B = "Other Answers".
	res, err := ScoreVanilla(MMMU, rows, VLMEvalKit2502)
	if err != nil {
		t.Fatal(err)
	}
	if res.Headline.Group != "validation" || math.Abs(res.Headline.Value-200.0/3) > 1e-9 {
		t.Errorf("headline %+v", res.Headline)
	}
	res, err = ScoreVanilla(MMMU, rows, MMMUOfficial)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Headline.Value-200.0/3) > 1e-9 {
		t.Errorf("official headline %+v", res.Headline)
	}
}

func TestScoreCircular(t *testing.T) {
	const P = 1_000_000
	rot := []Option{{"A", "cat"}, {"B", "red car"}, {"C", "blue car"}, {"D", "3"}}
	mk := func(idx int64, opts []Option, ans, pred string) Row {
		return Row{Index: idx, Options: opts, Answer: ans, Prediction: pred, HasPrediction: pred != "-", L2Category: "coarse_perception", Category: "scene"}
	}
	rows := []Row{
		mk(0, abcd, "A", "A"), mk(P, rot, "B", "B"), // q0: both passes right → hit
		mk(1, abcd, "B", "B"), mk(P+1, rot, "C", "A"), // q1: second pass wrong → miss
		mk(2, abcd, "C", "C"), mk(P+2, rot, "D", "hmm"), // q2: unparseable pass → miss
		mk(3, abcd, "D", "D"), mk(P+3, rot, "A", "-"), // q3: missing pass → miss
		mk(2*P+9, abcd, "A", "A"), // a pass without its question
	}
	res, err := ScoreCircular(rows, VLMEvalKit2502)
	if err != nil {
		t.Fatal(err)
	}
	if res.Headline.Value != 25 || res.Unparseable != 1 || res.Missing != 1 || res.Extra != 1 {
		t.Errorf("%+v", res)
	}
	van, _ := res.Find(eval.ScopeOverall, "", "vanilla_accuracy_pct")
	if van.Value != 100 {
		t.Errorf("vanilla (pass 0 only) = %v", van.Value)
	}
	cp, ok := res.Find(eval.ScopeL2Category, "CP", "accuracy_pct")
	if !ok || cp.Value != 25 {
		t.Errorf("l2 abbreviation: %+v", cp)
	}
	if _, err := ScoreCircular(rows, LLaVA); err == nil {
		t.Error("circular with llava rules accepted")
	}
}

func FuzzExtractors(f *testing.F) {
	for _, s := range []string{"A", "The answer is B.", "(C)", "1,000", "x = 7\nso 3", "Cannot determine the answer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []Version{V2502, V2508, V2606} {
			if p := CanInfer(s, abcd, v); p != "" && p != "Z" && !strings.Contains("ABCD", p) {
				t.Fatalf("CanInfer(%q) = %q", s, p)
			}
		}
		if p := MMMUParseChoice(s, abcd); p != "" && !strings.Contains("ABCD", p) {
			t.Fatalf("MMMUParseChoice(%q) = %q", s, p)
		}
		_ = MMMUEvalOpen("3", MMMUParseOpen(s))
		if p := ScienceQALLaVA(s); len(p) > 1 {
			t.Fatalf("ScienceQALLaVA(%q) = %q", s, p)
		}
	})
}
