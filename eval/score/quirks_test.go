package score

import (
	"testing"

	"github.com/ssmbench/ssmbench/datasets"
)

func popeSet() *datasets.Dataset {
	d := &datasets.Dataset{Bench: "pope"}
	for i, l := range []string{"Yes", "No", "Yes", "No"} {
		d.Items = append(d.Items, datasets.Item{Bench: "pope", ID: string(rune('1' + i)), Answer: l, Split: "random", Where: "labels"})
	}
	return d
}

// eval_pope.py zips answers with labels by file order, not by id: an
// answer file in another order is scored against the wrong labels.
func TestPOPEZipByOrder(t *testing.T) {
	preds := &datasets.Predictions{Format: datasets.PredLLaVA, Path: "a.jsonl"}
	// Answers for ids 4,3,2,1 (reverse order), each right for its own id.
	for i, txt := range []string{"No", "Yes", "No", "Yes"} {
		preds.Preds = append(preds.Preds, datasets.Prediction{Key: string(rune('4' - i)), Pos: -1, Text: txt, Where: "a.jsonl"})
	}
	zipped, err := Score("pope", popeSet(), preds, "internvl")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := Score("pope", popeSet(), preds, "vlmevalkit-2502")
	if err != nil {
		t.Fatal(err)
	}
	za, _ := zipped.Find("split", "random", "accuracy_pct")
	ia, _ := byID.Find("split", "random", "accuracy_pct")
	if za.Value != 0 || ia.Value != 100 {
		t.Errorf("zip by order %v (want 0), by id %v (want 100)", za.Value, ia.Value)
	}
}

// LLaVA's ScienceQA parser returns a letter beyond the choices; it is wrong.
func TestScienceQALetterBeyondChoices(t *testing.T) {
	d := &datasets.Dataset{Bench: "scienceqa", Items: []datasets.Item{{Bench: "scienceqa", ID: "1", Answer: "C", Where: "p",
		Options: []datasets.Option{{Letter: "A", Text: "x"}, {Letter: "B", Text: "y"}, {Letter: "C", Text: "z"}}}}}
	for text, want := range map[string]float64{"The answer is F.": 0, "The answer is C.": 100, "C": 100, "C.": 0} {
		preds := &datasets.Predictions{Format: datasets.PredLLaVA, Preds: []datasets.Prediction{{Key: "1", Pos: -1, Text: text}}}
		res, err := Score("scienceqa", d, preds, "llava")
		if err != nil {
			t.Fatal(err)
		}
		if res.Headline.Value != want {
			t.Errorf("%q: %v want %v", text, res.Headline.Value, want)
		}
	}
}
