package score

import (
	"encoding/json"
	"io"
	"math"

	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
)

// MMVetJudgeInput writes the file MM-Vet's official evaluator
// (mm-vet_evaluator) reads — a JSON object {sample id: model answer}, as
// LLaVA's convert_mmvet_for_eval.py writes it — and returns a Result that
// holds counts only: MM-Vet is scored by a GPT-4 judge, so the headline
// is undefined (null), never invented. ds may be nil when the predictions
// are already keyed by sample id (an {id: answer} file, or lmms-eval docs).
func MMVetJudgeInput(w io.Writer, ds *datasets.Dataset, preds *datasets.Predictions) (*eval.Result, error) {
	out := map[string]string{}
	res := &eval.Result{Bench: datasets.MMVet, Rules: Judge, RulesDoc: Specs[datasets.MMVet].Rules[Judge]}
	if ds == nil {
		for _, p := range preds.Preds {
			if p.Key == "" {
				return nil, inputErr("%s: prediction has no sample id; give the dataset with --data", p.Where)
			}
			if _, dup := out[p.Key]; dup {
				return nil, inputErr("%s: second answer for %s", p.Where, p.Key)
			}
			out[p.Key] = p.Text
		}
		res.Items = len(out)
	} else {
		j, err := join(datasets.MMVet, ds, preds)
		if err != nil {
			return nil, err
		}
		for _, p := range j.pairs {
			res.Items++
			if p.pred == nil {
				res.Missing++
				continue
			}
			out[p.item.ID] = p.pred.Text
		}
		res.Extra = len(j.extra)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	res.Headline = res.Add(eval.ScopeOverall, "", "score_pct", math.NaN(), res.Items)
	res.Add(eval.ScopeOverall, "", "answers_count", float64(len(out)), res.Items)
	res.Add(eval.ScopeOverall, "", "missing_count", float64(res.Missing), res.Items)
	res.Notef("MM-Vet needs a GPT-4 judge (official: gpt-4-0613); no score is computed. Run the MM-Vet evaluator on the judge input")
	if res.Missing > 0 {
		res.Notef("%d samples have no answer; the official evaluator expects all of them", res.Missing)
	}
	return res, nil
}
