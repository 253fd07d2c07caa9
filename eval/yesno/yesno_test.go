package yesno

import (
	"math"
	"strings"
	"testing"

	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/vqa"
)

func TestMMEParsers(t *testing.T) {
	cases := []struct {
		resp                          string
		official, internvl, lmms, vlm Label
	}{
		{"Yes", Yes, Yes, Yes, Yes},
		{"yes\n", Yes, Yes, Yes, Yes}, // the response keeps its trailing newline
		{"know", No, No, No, Other},   // 4-char prefix contains "no"
		{"snow", No, No, No, Other},
		{"none", No, No, No, Other},
		{"Nope", No, No, No, Other},
		{"not sure", No, No, No, Other},
		{"Y", Other, Other, Yes, Other},
		{"n", No, No, No, Other}, // "n"[:4] has no "no"? it is "n": official other — see below
		{"I think yes", Other, Other, Other, Yes},
		{"The answer is yes", Other, Other, Other, Yes},
		{"", Other, Other, Other, Other},
		{"Yes, there is no cat", Yes, Yes, Yes, Other},
		{"No.", No, No, No, No},
		{"Yes.", Yes, Yes, Yes, Yes},
		{".", Other, Other, Other, Other},
		{"是", Other, Yes, Other, Other},
		{"不是", Other, No, Other, Other},
		{"True", Other, Yes, Other, Other},
		{"x", Other, Other, Other, Other},
	}
	cases[8].official, cases[8].internvl = Other, Other
	for _, c := range cases {
		t.Run(c.resp, func(t *testing.T) {
			if got := MMEOfficial(c.resp); got != c.official {
				t.Errorf("official: %s want %s", got, c.official)
			}
			if got := MMEOfficial(InternVLPostProcess(c.resp)); got != c.internvl {
				t.Errorf("internvl: %s want %s", got, c.internvl)
			}
			if got := MMELmmsEval(c.resp); got != c.lmms {
				t.Errorf("lmms: %s want %s", got, c.lmms)
			}
			if got := YOrN(c.resp, vqa.PeriodOfficial); got != c.vlm {
				t.Errorf("vlmevalkit: %s want %s", got, c.vlm)
			}
		})
	}
}

func TestPOPEParsers(t *testing.T) {
	cases := []struct {
		text       string
		llava, lmm Label
	}{
		{"Yes", Yes, Yes},
		{"yes", Yes, Yes},
		{"No", No, No},
		{"NO", Yes, No},     // only "No", "no", "not" count
		{"No!", Yes, Other}, // "No!" is not the token "No"
		{"Nope", Yes, Other},
		{"None", Yes, Other},
		{"Not really", Yes, Other},
		{"isn't", Yes, Other},
		{"", Yes, Other},
		{"Yes, no doubt", No, Other},
		{"No.", No, Other},
		{"Yes. No", Yes, Other},   // only the first sentence
		{"no,thanks", Yes, Other}, // commas are deleted, not split
		{"There is not a dog", No, Other},
		{"No\tway", Yes, Other}, // split on single spaces only
		{" yes ", Yes, Yes},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			if got := POPELLaVA(c.text); got != c.llava {
				t.Errorf("llava: %s want %s", got, c.llava)
			}
			if got := POPELmmsEval(c.text); got != c.lmm {
				t.Errorf("lmms: %s want %s", got, c.lmm)
			}
		})
	}
}

func mmeRecs(sub string, pairs ...string) []MMERecord {
	var out []MMERecord
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, MMERecord{Subtask: sub, Image: sub + "/" + string(rune('a'+i/4)), GT: pairs[i], Response: pairs[i+1], Where: "t"})
	}
	return out
}

func TestScoreMME(t *testing.T) {
	var recs []MMERecord
	// Every subtask: two images, one fully right, one half right:
	// acc = 75, acc+ = 50, score = 125.
	for _, s := range append(append([]string(nil), MMEPerception...), MMECognition...) {
		recs = append(recs, mmeRecs(s, "Yes", "Yes", "No", "No", "Yes", "Yes", "No", "Yes")...)
	}
	for _, rules := range []Rules{Official, InternVL, VLMEvalKit2502, VLMEvalKit2505, LmmsEval} {
		res, err := ScoreMME(recs, rules)
		if err != nil {
			t.Fatal(err)
		}
		if res.Headline.Value != 1250 {
			t.Errorf("%s perception = %v want 1250", rules, res.Headline.Value)
		}
		cog, _ := res.Find(eval.ScopeSuper, "cognition", "score_pts")
		if cog.Value != 500 {
			t.Errorf("%s cognition = %v", rules, cog.Value)
		}
	}
	// Chatty answers: the parsers differ.
	chatty := mmeRecs("existence", "Yes", "Yes, there is no doubt", "No", "know", "Yes", "I think yes", "No", "No")
	want := map[Rules]float64{Official: 75 + 50, VLMEvalKit2502: 50 + 50, LmmsEval: 75 + 50}
	for rules, w := range want {
		res, err := ScoreMME(chatty, rules)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := res.Find(eval.ScopeSubtask, "existence", "score_pts")
		if m.Value != w {
			t.Errorf("%s: existence = %v want %v", rules, m.Value, w)
		}
		if !math.IsNaN(res.Headline.Value) {
			t.Errorf("%s: perception with 9 subtasks missing must be undefined, got %v", rules, res.Headline.Value)
		}
	}
}

func TestScoreMMEErrors(t *testing.T) {
	odd := mmeRecs("count", "Yes", "Yes", "No", "No", "Yes", "Yes")
	if _, err := ScoreMME(odd, Official); err == nil || !strings.Contains(err.Error(), "consecutive") {
		t.Errorf("odd lines: %v", err)
	}
	bad := mmeRecs("count", "Maybe", "Yes", "No", "No")
	if _, err := ScoreMME(bad, Official); err == nil {
		t.Error("bad GT accepted")
	}
	mal := mmeRecs("count", "Yes", "Yes", "No", "No")
	mal[1].Malformed = true
	if _, err := ScoreMME(mal, Official); err == nil {
		t.Error("official must reject a malformed line")
	}
	res, err := ScoreMME(mal, InternVL)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := res.Find(eval.ScopeSubtask, "count", "accuracy_pct")
	plus, _ := res.Find(eval.ScopeSubtask, "count", "acc_plus_pct")
	if acc.Value != 100 || acc.N != 1 || plus.Value != 0 {
		t.Errorf("internvl skips the malformed line but counts the image: acc %v/%d plus %v", acc.Value, acc.N, plus.Value)
	}
	one := []MMERecord{{Subtask: "count", Image: "x", GT: "Yes", Response: "Yes", Where: "f:1"}}
	if _, err := ScoreMME(one, LmmsEval); err == nil {
		t.Error("lmms-eval asserts two questions per image")
	}
}

func popeRecs(split string, pairs ...string) []POPERecord {
	var out []POPERecord
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, POPERecord{Splits: []string{split}, GT: Label(pairs[i]), Pred: pairs[i+1]})
	}
	return out
}

func TestScorePOPE(t *testing.T) {
	var recs []POPERecord
	recs = append(recs, popeRecs("random", "yes", "Yes", "yes", "Yes", "no", "No", "no", "Yes")...) // tp2 fp1 tn1: p 2/3 r 1 f1 .8
	recs = append(recs, popeRecs("popular", "yes", "Yes", "yes", "No", "no", "No", "no", "No")...)  // tp1 fn1 tn2: p 1 r .5 f1 2/3
	recs = append(recs, popeRecs("adversarial", "yes", "Yes", "no", "No")...)                       // f1 1
	res, err := ScorePOPE(recs, InternVL)
	if err != nil {
		t.Fatal(err)
	}
	want := 100 * (0.8 + 2.0/3 + 1) / 3
	if math.Abs(res.Headline.Value-want) > 1e-9 || res.Headline.Name != "f1_mean_pct" {
		t.Errorf("headline %+v want mean F1 %v", res.Headline, want)
	}
	yr, _ := res.Find(eval.ScopeSplit, "random", "yes_ratio_pct")
	if yr.Value != 75 {
		t.Errorf("yes ratio %v", yr.Value)
	}
	// VLMEvalKit pools all rows and explodes comma-joined categories.
	multi := []POPERecord{{Splits: []string{"random", "popular"}, GT: Yes, Pred: "Yes"}, {Splits: []string{"random"}, GT: No, Pred: "maybe"}}
	res, err = ScorePOPE(multi, VLMEvalKit2502)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unparseable != 1 || res.Headline.Group != "pooled" {
		t.Errorf("vlmevalkit: %+v", res)
	}
	pop, _ := res.Find(eval.ScopeSplit, "popular", "accuracy_pct")
	if pop.N != 1 || pop.Value != 100 {
		t.Errorf("exploded category: %+v", pop)
	}
	// No predicted yes: eval_pope.py divides by zero (undefined), VLMEvalKit guards with 0.
	none := popeRecs("random", "yes", "No", "no", "No")
	r1, _ := ScorePOPE(none, InternVL)
	r2, _ := ScorePOPE(none, VLMEvalKit2502)
	p1, _ := r1.Find(eval.ScopeSplit, "random", "precision_pct")
	p2, _ := r2.Find(eval.ScopeSplit, "random", "precision_pct")
	if !math.IsNaN(p1.Value) || p2.Value != 0 {
		t.Errorf("zero division: internvl %v vlmevalkit %v", p1.Value, p2.Value)
	}
	// lmms-eval: "Yes." is wrong, and yes_ratio comes from the ground truth.
	lm := popeRecs("random", "yes", "Yes.", "no", "No", "no", "no")
	r3, _ := ScorePOPE(lm, LmmsEval)
	acc, _ := r3.Find(eval.ScopeSplit, "random", "accuracy_pct")
	yr3, _ := r3.Find(eval.ScopeSplit, "random", "yes_ratio_pct")
	if math.Abs(acc.Value-200.0/3) > 1e-9 || math.Abs(yr3.Value-100.0/3) > 1e-9 {
		t.Errorf("lmms: acc %v yes_ratio %v", acc.Value, yr3.Value)
	}
	if _, err := ScorePOPE(popeRecs("random", "maybe", "Yes"), InternVL); err == nil {
		t.Error("bad label accepted")
	}
}

func FuzzYesNoParsers(f *testing.F) {
	for _, s := range []string{"Yes", "know", "No.", "是", "Yes, no doubt", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range []Label{MMEOfficial(s), MMELmmsEval(s), YOrN(s, vqa.PeriodOfficial), YOrN(s, vqa.PeriodLookbehind), POPELmmsEval(s), MMEOfficial(InternVLPostProcess(s))} {
			if l != Yes && l != No && l != Other {
				t.Fatalf("%q -> %q", s, l)
			}
		}
		if l := POPELLaVA(s); l != Yes && l != No {
			t.Fatalf("POPELLaVA never returns other: %q -> %q", s, l)
		}
	})
}
