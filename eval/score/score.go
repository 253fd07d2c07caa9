package score

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/mcq"
	"github.com/ssmbench/ssmbench/eval/vqa"
	"github.com/ssmbench/ssmbench/eval/yesno"
)

// InputError is bad input (a prediction that cannot be joined, a
// duplicate, a malformed value); the CLI exits 2 on it.
type InputError struct{ Err error }

// Error returns the wrapped error's message.
func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, a ...any) error { return &InputError{fmt.Errorf(format, a...)} }

// pair is one benchmark item with its prediction (pred nil when missing).
type pair struct {
	item *datasets.Item
	pred *datasets.Prediction
}

// joined is the outcome of matching predictions to items.
type joined struct {
	pairs []pair
	extra []string // where of predictions that matched no item
	notes []string
	pos   map[*datasets.Prediction]int // position in the predictions file
}

// Score scores preds for bench under rules ("" = default). ds may be nil
// when the predictions carry their ground truth (VLMEvalKit result files,
// MME Your_Results, lmms-eval samples with docs).
func Score(bench string, ds *datasets.Dataset, preds *datasets.Predictions, rules string) (*eval.Result, error) {
	variant, doc, err := Resolve(bench, rules)
	if err != nil {
		return nil, &InputError{err}
	}
	if bench == datasets.MMVet {
		return nil, inputErr("mmvet: no judge-free score exists; write the judge input with MMVetJudgeInput")
	}
	j, err := join(bench, ds, preds)
	if err != nil {
		return nil, err
	}
	var res *eval.Result
	switch bench {
	case datasets.MME:
		res, err = scoreMME(j, variant, ds == nil || preds.Format == datasets.PredMMEResults)
	case datasets.POPE:
		res, err = scorePOPE(j, variant, ds != nil && preds.Format == datasets.PredLLaVA)
	case datasets.MMBench, datasets.SEED, datasets.ScienceQA, datasets.AI2D, datasets.MMMU:
		res, err = scoreMCQ(bench, j, variant)
	case datasets.TextVQA, datasets.VQAv2:
		res, err = scoreVQA(bench, j, variant)
	case datasets.GQA:
		res, err = scoreGQA(j, variant)
	default:
		return nil, inputErr("unknown benchmark %q", bench)
	}
	if err != nil {
		return nil, err
	}
	res.Bench, res.Rules, res.RulesDoc = bench, variant, doc
	res.Extra += len(j.extra)
	if len(j.extra) > 0 {
		ex := j.extra
		if len(ex) > 3 {
			ex = ex[:3]
		}
		res.Notef("%d predictions matched no benchmark item (ignored), e.g. %s", len(j.extra), strings.Join(ex, "; "))
	}
	res.Notes = append(j.notes, res.Notes...)
	if res.Missing > 0 {
		res.Notef("%d items had no prediction and are scored wrong", res.Missing)
	}
	return res, nil
}

func join(bench string, ds *datasets.Dataset, preds *datasets.Predictions) (*joined, error) {
	j := &joined{pos: map[*datasets.Prediction]int{}}
	for i := range preds.Preds {
		j.pos[&preds.Preds[i]] = i
	}
	if ds == nil || preds.Format == datasets.PredMMEResults {
		if !preds.SelfContained() {
			return nil, inputErr("%s: %s predictions carry no ground truth; give the dataset with --data or a registry entry", preds.Path, preds.Format)
		}
		if ds != nil {
			j.notes = append(j.notes, "MME Your_Results files carry their own ground truth; the dataset was not used")
		}
		for i := range preds.Preds {
			p := &preds.Preds[i]
			j.pairs = append(j.pairs, pair{item: p.Item, pred: p})
		}
		return j, nil
	}
	var lookup func(p *datasets.Prediction) (*datasets.Item, bool)
	switch {
	case bench == datasets.MME && preds.Format == datasets.PredLLaVA:
		lookup = llavaMMELookup(ds)
	case bench == datasets.TextVQA && preds.Format == datasets.PredLLaVA:
		lookup = llavaTextVQALookup(ds)
	default:
		lookup = func(p *datasets.Prediction) (*datasets.Item, bool) {
			if p.Key == "" && p.Pos >= 0 {
				if p.Pos < len(ds.Items) {
					return &ds.Items[p.Pos], true
				}
				return nil, false
			}
			return ds.Lookup(p.Key)
		}
	}
	got := map[*datasets.Item]*datasets.Prediction{}
	skippedRounds := 0
	for i := range preds.Preds {
		p := &preds.Preds[i]
		if p.Round > 0 {
			skippedRounds++
			continue
		}
		it, ok := lookup(p)
		if !ok {
			j.extra = append(j.extra, p.Where)
			continue
		}
		if prev, dup := got[it]; dup {
			return nil, inputErr("%s: second prediction for item %s (first at %s)", p.Where, it.ID, prev.Where)
		}
		got[it] = p
	}
	if skippedRounds > 0 {
		j.notes = append(j.notes, fmt.Sprintf("%d LLaVA --all-rounds answers (round_id > 0) ignored; MMBench TSVs hold the circular passes", skippedRounds))
	}
	for i := range ds.Items {
		it := &ds.Items[i]
		j.pairs = append(j.pairs, pair{item: it, pred: got[it]})
	}
	return j, nil
}

// llavaMMELookup is convert_answer_to_mme.py's join: category = the
// question_id before "/", file = its base name with .txt, and the prompt
// without "Answer the question using a single word or phrase." (with
// " Please answer yes or no." restored).
func llavaMMELookup(ds *datasets.Dataset) func(p *datasets.Prediction) (*datasets.Item, bool) {
	idx := map[[3]string]*datasets.Item{}
	for i := range ds.Items {
		it := &ds.Items[i]
		idx[[3]string{it.Field("subtask"), it.Field("txt"), it.Question}] = it
	}
	return func(p *datasets.Prediction) (*datasets.Item, bool) {
		cat, rest, ok := strings.Cut(p.Key, "/")
		if !ok {
			return nil, false
		}
		base := filepath.Base(rest)
		file := strings.SplitN(base, ".", 2)[0] + ".txt"
		prompt := p.Prompt
		if prompt == "" {
			return nil, false
		}
		const single = "Answer the question using a single word or phrase."
		if strings.Contains(prompt, single) {
			prompt = strings.TrimSpace(strings.ReplaceAll(prompt, single, ""))
		}
		if !strings.Contains(prompt, "Please answer yes or no.") {
			prompt += " Please answer yes or no."
			if _, ok := idx[[3]string{cat, file, prompt}]; !ok {
				prompt = strings.Replace(prompt, " Please answer yes or no.", "  Please answer yes or no.", 1)
			}
		}
		it, ok := idx[[3]string{cat, file, prompt}]
		return it, ok
	}
}

// llavaTextVQALookup is eval_textvqa.py's join: LLaVA's question_id is the
// image_id, and the question is parsed out of the prompt; without a
// prompt the question_id is used as is.
func llavaTextVQALookup(ds *datasets.Dataset) func(p *datasets.Prediction) (*datasets.Item, bool) {
	idx := map[[2]string]*datasets.Item{}
	for i := range ds.Items {
		it := &ds.Items[i]
		idx[[2]string{it.Field("image_id"), strings.ToLower(it.Question)}] = it
	}
	return func(p *datasets.Prediction) (*datasets.Item, bool) {
		if p.Prompt != "" {
			if q, ok := textVQAPromptQuestion(p.Prompt); ok {
				if it, ok := idx[[2]string{p.Key, q}]; ok {
					return it, true
				}
			}
		}
		return ds.Lookup(p.Key)
	}
}

// textVQAPromptQuestion is eval_textvqa.py's prompt_processor.
func textVQAPromptQuestion(prompt string) (string, bool) {
	lines := strings.Split(prompt, "\n")
	var q string
	switch {
	case strings.HasPrefix(prompt, "OCR tokens: "):
		i := strings.Index(prompt, "Question: ")
		k := strings.Index(prompt, " Short answer:")
		if i < 0 || k < i {
			return "", false
		}
		q = prompt[i+len("Question: ") : k]
	case strings.Contains(prompt, "Reference OCR token: ") && len(lines) == 3:
		if strings.HasPrefix(prompt, "Reference OCR token:") {
			q = lines[1]
		} else {
			q = lines[0]
		}
	case len(lines) == 2:
		q = lines[0]
	default:
		return "", false
	}
	return strings.ToLower(q), true
}

func predText(p pair) (string, bool) {
	if p.pred == nil {
		return "", false
	}
	return p.pred.Text, true
}

func scoreMME(j *joined, variant string, fileOrder bool) (*eval.Result, error) {
	rules := yesno.Rules(variant)
	switch variant {
	case VLMEvalKit2508, VLMEvalKit2606:
		rules = yesno.VLMEvalKit2505
	}
	recs := make([]yesno.MMERecord, 0, len(j.pairs))
	missing := 0
	for _, p := range j.pairs {
		it := p.item
		r := yesno.MMERecord{Subtask: it.Field("subtask"), Image: it.Field("image"), GT: it.Answer, Where: it.Where}
		if r.Subtask == "" {
			r.Subtask = it.Category
		}
		if p.pred != nil {
			r.Response, r.Malformed, r.Where = p.pred.Text, p.pred.Malformed, p.pred.Where
		} else {
			missing++
		}
		recs = append(recs, r)
	}
	res, err := yesno.ScoreMME(recs, rules)
	if err != nil {
		return nil, &InputError{err}
	}
	res.Missing = missing
	if !fileOrder && (variant == Official || variant == InternVL) {
		res.Notef("pairs formed in dataset order (the two questions of an image are consecutive)")
	}
	return res, nil
}

func scorePOPE(j *joined, variant string, zipByOrder bool) (*eval.Result, error) {
	rules := yesno.Rules(variant)
	switch variant {
	case VLMEvalKit2508, VLMEvalKit2606:
		rules = yesno.VLMEvalKit2505
	}
	splitsOf := func(it *datasets.Item) []string {
		s := it.Split
		if s == "" {
			s = it.Category
		}
		if s == "" {
			return []string{"all"}
		}
		return strings.Split(s, ",")
	}
	label := func(it *datasets.Item) (yesno.Label, error) {
		switch strings.ToLower(it.Answer) {
		case "yes":
			return yesno.Yes, nil
		case "no":
			return yesno.No, nil
		}
		return "", inputErr("%s: POPE answer %q is not yes or no", it.Where, it.Answer)
	}
	var recs []yesno.POPERecord
	missing := 0
	if zipByOrder && variant == InternVL {
		// eval_pope.py: per category, answers in file order zipped with the
		// label file's lines in order; ids do not align them.
		labels := map[string][]yesno.Label{}
		answers := map[string][]string{}
		var order []string
		type fp struct {
			pos  int
			text string
			cat  string
		}
		var ans []fp
		for _, p := range j.pairs {
			l, err := label(p.item)
			if err != nil {
				return nil, err
			}
			s := splitsOf(p.item)[0]
			if _, ok := labels[s]; !ok {
				order = append(order, s)
			}
			labels[s] = append(labels[s], l)
			if p.pred != nil {
				ans = append(ans, fp{pos: j.pos[p.pred], text: p.pred.Text, cat: s})
			} else {
				missing++
			}
		}
		sort.SliceStable(ans, func(a, b int) bool { return ans[a].pos < ans[b].pos })
		for _, a := range ans {
			answers[a.cat] = append(answers[a.cat], a.text)
		}
		for _, s := range order {
			n := min(len(labels[s]), len(answers[s]))
			for k := 0; k < n; k++ {
				recs = append(recs, yesno.POPERecord{Splits: []string{s}, GT: labels[s][k], Pred: answers[s][k]})
			}
		}
		res, err := yesno.ScorePOPE(recs, rules)
		if err != nil {
			return nil, &InputError{err}
		}
		res.Missing = missing
		if missing > 0 {
			res.Notef("eval_pope.py zips answers with labels by order and truncates: %d labels without an answer were dropped, not scored wrong", missing)
		}
		return res, nil
	}
	for _, p := range j.pairs {
		l, err := label(p.item)
		if err != nil {
			return nil, err
		}
		text, ok := predText(p)
		if !ok {
			missing++ // a yes/no confusion matrix has no cell for "no answer"
			continue
		}
		recs = append(recs, yesno.POPERecord{Splits: splitsOf(p.item), GT: l, Pred: text})
	}
	res, err := yesno.ScorePOPE(recs, rules)
	if err != nil {
		return nil, &InputError{err}
	}
	res.Missing = missing
	if missing > 0 {
		res.Notef("%d questions without an answer are left out of the POPE metrics (a confusion matrix has no cell for them)", missing)
	}
	return res, nil
}

func toOptions(opts []datasets.Option) []mcq.Option {
	out := make([]mcq.Option, len(opts))
	for i, o := range opts {
		out[i] = mcq.Option{Letter: o.Letter, Text: o.Text}
	}
	return out
}

func scoreMCQ(bench string, j *joined, variant string) (*eval.Result, error) {
	rows := make([]mcq.Row, 0, len(j.pairs))
	for _, p := range j.pairs {
		it := p.item
		text, ok := predText(p)
		rows = append(rows, mcq.Row{
			Index: it.Index, ID: it.ID, Options: toOptions(it.Options), Answer: it.Answer,
			Category: it.Category, L2Category: it.L2Category, Split: it.Split,
			Prediction: text, HasPrediction: ok,
		})
	}
	if bench == datasets.MMBench {
		for _, r := range rows {
			if r.Index < 0 {
				return nil, inputErr("mmbench: item %s has no VLMEvalKit index; CircularEval needs the MMBench TSV", r.ID)
			}
		}
		res, err := mcq.ScoreCircular(rows, mcq.Rules(variant))
		if err != nil {
			return nil, &InputError{err}
		}
		return res, nil
	}
	res, err := mcq.ScoreVanilla(mcq.Bench(bench), rows, mcq.Rules(variant))
	if err != nil {
		return nil, &InputError{err}
	}
	return res, nil
}

func vqaNorm(variant string) vqa.Norm {
	switch variant {
	case VLMEvalKit2502, LmmsEval:
		return vqa.NormVLMEvalKit2502
	case VLMEvalKit2505, VLMEvalKit2508, VLMEvalKit2606:
		return vqa.NormVLMEvalKit2505
	case M4C:
		return vqa.NormM4C
	}
	return vqa.NormVQAEval
}

func scoreVQA(bench string, j *joined, variant string) (*eval.Result, error) {
	sc, err := vqa.NewScorer(vqaNorm(variant))
	if err != nil {
		return nil, err
	}
	res := &eval.Result{}
	var acc eval.Accumulator
	for _, p := range j.pairs {
		it := p.item
		if len(it.Answers) == 0 {
			return nil, inputErr("%s: item %s has no ground-truth answers", it.Where, it.ID)
		}
		if bench == datasets.TextVQA && (variant == M4C) && len(it.Answers) != 10 {
			return nil, inputErr("%s: item %s has %d answers; m4c asserts 10", it.Where, it.ID, len(it.Answers))
		}
		res.Items++
		s := 0.0
		if text, ok := predText(p); ok {
			gts := make([]vqa.GTAnswer, len(it.Answers))
			for i, a := range it.Answers {
				gts[i] = vqa.GTAnswer{Answer: a.Answer, Confidence: a.Confidence, ID: a.ID}
			}
			s = sc.Score(text, gts)
		} else {
			res.Missing++
		}
		acc.Observe(eval.ScopeOverall, "", s)
		if at := it.Field("answer_type"); at != "" {
			acc.Observe(eval.ScopeAnswerType, at, s)
		}
		if qt := it.Field("question_type"); qt != "" {
			acc.Observe(eval.ScopeType, qt, s)
		}
	}
	res.Headline, _ = acc.Emit(res, "accuracy_pct")
	res.Add(eval.ScopeOverall, "", "missing_count", float64(res.Missing), res.Items)
	if variant == VQAEval {
		res.Notef("vqaEval.py prints accuracies rounded to 2 decimals; values here are unrounded")
	}
	return res, nil
}

func scoreGQA(j *joined, variant string) (*eval.Result, error) {
	rule := vqa.GQAInternVL
	switch variant {
	case LmmsEval:
		rule = vqa.GQALmmsEval
	case VLMEvalKit2502, VLMEvalKit2505, VLMEvalKit2508, VLMEvalKit2606:
		rule = vqa.GQAVLMEvalKit
	}
	res := &eval.Result{}
	var acc eval.Accumulator
	for _, p := range j.pairs {
		it := p.item
		res.Items++
		s := 0.0
		if text, ok := predText(p); ok {
			hit, err := vqa.GQAMatch(rule, text, it.Answer)
			if err != nil {
				return nil, err
			}
			if hit {
				s = 1
			}
		} else {
			res.Missing++
		}
		acc.Observe(eval.ScopeOverall, "", s)
		if it.Category != "" {
			acc.Observe(eval.ScopeType, it.Category, s)
		}
	}
	res.Headline, _ = acc.Emit(res, "accuracy_pct")
	res.Add(eval.ScopeOverall, "", "missing_count", float64(res.Missing), res.Items)
	return res, nil
}
