package mcq

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ssmbench/ssmbench/eval"
)

// Rules names a multiple-choice scoring variant.
type Rules string

// The multiple-choice rules variants.
const (
	VLMEvalKit2502 Rules = "vlmevalkit-2502" // can_infer at 2d8e44e4 (the seed's)
	VLMEvalKit2505 Rules = "vlmevalkit-2505" // same MCQ rules as 2502
	VLMEvalKit2508 Rules = "vlmevalkit-2508" // can_infer at c3371551
	VLMEvalKit2606 Rules = "vlmevalkit-2606" // can_infer at a67ace50 (HEAD)
	LLaVA          Rules = "llava"           // ScienceQA eval_science_qa.py; SEED exact equality
	LmmsEval       Rules = "lmms-eval"       // lmms-eval's per-task rules
	InternVL       Rules = "internvl"        // AI2D strip().lower() equality
	MMMUOfficial   Rules = "mmmu-official"   // MMMU's parsers, no random fallback
)

// Version returns the can_infer version of a VLMEvalKit rules variant.
func (r Rules) Version() (Version, bool) {
	switch r {
	case VLMEvalKit2502, VLMEvalKit2505:
		return V2502, true
	case VLMEvalKit2508:
		return V2508, true
	case VLMEvalKit2606:
		return V2606, true
	}
	return 0, false
}

// Row is one multiple-choice item with its prediction.
type Row struct {
	// Index is VLMEvalKit's index; for MMBench a circular pass r of
	// question g has index g + r·1e6.
	Index   int64
	ID      string
	Options []Option // in letter order; empty for an MMMU open question
	// Answer is the GT letter, or the answer text of an open question.
	Answer     string
	Category   string
	L2Category string
	Split      string
	Prediction string
	// HasPrediction is false when no prediction exists for the item
	// (scored wrong and counted as missing).
	HasPrediction bool
}

// Bench selects benchmark-specific behaviour of Score.
type Bench string

// Benchmarks scored by this package.
const (
	MMBench   Bench = "mmbench"
	SEED      Bench = "seed"
	ScienceQA Bench = "scienceqa"
	AI2D      Bench = "ai2d"
	MMMU      Bench = "mmmu"
)

// judge decides one row: the extracted answer, whether it was parseable,
// and whether it is a hit.
func judge(b Bench, rules Rules, r Row) (pred string, parsed, hit bool, err error) {
	if v, ok := rules.Version(); ok {
		opts, gt := r.Options, r.Answer
		if b == MMMU {
			opts, gt = mmmuPreproc(r)
		}
		p := CanInfer(r.Prediction, opts, v)
		return p, p != "", p != "" && p == gt, nil
	}
	switch {
	case rules == LLaVA && b == ScienceQA:
		p := ScienceQALLaVA(r.Prediction)
		valid := p != "" && strings.Index("ABCDE", p) < len(r.Options)
		return p, p != "", valid && p == r.Answer, nil
	case rules == LLaVA && b == SEED:
		return r.Prediction, true, r.Prediction == r.Answer, nil
	case rules == LmmsEval && b == ScienceQA:
		h := ScienceQALmmsEval(r.Prediction, r.Answer)
		return r.Prediction, true, h, nil
	case rules == LmmsEval && b == SEED:
		h := SEEDLmmsEval(r.Prediction, r.Answer)
		return r.Prediction, true, h, nil
	case rules == LmmsEval && b == AI2D:
		h := AI2DLmmsEval(r.Prediction, r.Answer)
		return r.Prediction, true, h, nil
	case rules == InternVL && b == AI2D:
		return r.Prediction, true, StripLowerEqual(r.Prediction, r.Answer), nil
	case rules == MMMUOfficial && b == MMMU:
		if len(r.Options) == 0 {
			preds := MMMUParseOpen(r.Prediction)
			return r.Prediction, true, MMMUEvalOpen(r.Answer, preds), nil
		}
		p := MMMUParseChoice(r.Prediction, r.Options)
		return p, p != "", p != "" && p == r.Answer, nil
	}
	return "", false, false, fmt.Errorf("mcq: rules %q do not apply to %s", rules, b)
}

// mmmuPreproc is VLMEvalKit's MMMU_preproc: an open question (no option A)
// becomes A = the gold answer text, B = "Other Answers", GT = A; and
// any non-letter GT is mapped to A.
func mmmuPreproc(r Row) ([]Option, string) {
	if len(r.Options) == 0 {
		return []Option{{"A", r.Answer}, {"B", "Other Answers"}}, "A"
	}
	gt := r.Answer
	if len(gt) != 1 || gt[0] < 'A' || gt[0] > 'Z' {
		gt = "A"
	}
	return r.Options, gt
}

// MMBAbbr maps MMBench l2-categories to VLMEvalKit's abbreviations.
var MMBAbbr = map[string]string{
	"coarse_perception":                       "CP",
	"finegrained_perception (instance-level)": "FP-S",
	"finegrained_perception (cross-instance)": "FP-C",
	"logic_reasoning":                         "LR",
	"relation_reasoning":                      "RR",
	"attribute_reasoning":                     "AR",
}

// report is VLMEvalKit's report_acc: Overall per split, then every
// l2-category and category. With a single split the split scope is
// folded into overall.
func report(res *eval.Result, rows []Row, hits []bool) eval.Metric {
	var acc eval.Accumulator
	splits := map[string]bool{}
	for _, r := range rows {
		splits[r.Split] = true
	}
	multi := len(splits) > 1
	for i, r := range rows {
		s := 0.0
		if hits[i] {
			s = 1
		}
		acc.Observe(eval.ScopeOverall, "", s)
		prefix := ""
		if multi {
			acc.Observe(eval.ScopeSplit, r.Split, s)
			prefix = r.Split + "/"
		}
		if r.L2Category != "" {
			l2 := r.L2Category
			if a, ok := MMBAbbr[l2]; ok {
				l2 = a
			}
			acc.Observe(eval.ScopeL2Category, prefix+l2, s)
		}
		if r.Category != "" {
			acc.Observe(eval.ScopeCategory, prefix+r.Category, s)
		}
	}
	m, _ := acc.Emit(res, "accuracy_pct")
	return m
}

// ScoreVanilla scores every row on its own (SEED, ScienceQA, AI2D, MMMU,
// or MMBench's "vanilla" mode). For MMMU with several splits the headline
// is the validation split.
func ScoreVanilla(b Bench, rows []Row, rules Rules) (*eval.Result, error) {
	res := &eval.Result{Bench: string(b), Rules: string(rules)}
	hits := make([]bool, len(rows))
	for i, r := range rows {
		res.Items++
		if !r.HasPrediction {
			res.Missing++
			continue
		}
		_, parsed, hit, err := judge(b, rules, r)
		if err != nil {
			return nil, err
		}
		if !parsed {
			res.Unparseable++
		}
		hits[i] = hit
	}
	res.Headline = report(res, rows, hits)
	if b == MMMU {
		if m, ok := res.Find(eval.ScopeSplit, "validation", "accuracy_pct"); ok {
			res.Headline = m
		}
	}
	res.Add(eval.ScopeOverall, "", "unparseable_count", float64(res.Unparseable), res.Items)
	res.Add(eval.ScopeOverall, "", "missing_count", float64(res.Missing), res.Items)
	if rules == MMMUOfficial {
		res.Notef("mmmu-official: a response with no candidate is a miss (the original picks random.choice)")
	}
	if res.Unparseable > 0 {
		res.Notef("%d predictions could not be mapped to an option without a judge; scored wrong", res.Unparseable)
	}
	return res, nil
}

// ScoreCircular is VLMEvalKit's CircularEval for MMBench: rows whose index
// is below 1e6 are questions; pass r of question g has index g + r·1e6.
// A question is a hit iff every pass's extracted option equals its GT; an
// unparseable pass (no judge) or a missing one makes it a miss.
// Unparseable counts rows. A row with no main question is ignored.
func ScoreCircular(rows []Row, rules Rules) (*eval.Result, error) {
	const pass = 1_000_000
	v, ok := rules.Version()
	if !ok {
		return nil, fmt.Errorf("mcq: CircularEval needs a vlmevalkit rules variant, not %q", rules)
	}
	res := &eval.Result{Bench: string(MMBench), Rules: string(rules)}
	groups := map[int64][]int{}
	var mains []int
	for i, r := range rows {
		if r.Index < 0 {
			return nil, fmt.Errorf("mcq: row %s has negative index %d", r.ID, r.Index)
		}
		if r.Index < pass {
			mains = append(mains, i)
		}
		groups[r.Index%pass] = append(groups[r.Index%pass], i)
	}
	sort.SliceStable(mains, func(a, b int) bool { return rows[mains[a]].Index < rows[mains[b]].Index })
	mainRows := make([]Row, len(mains))
	hits := make([]bool, len(mains))
	vanilla := make([]bool, len(mains))
	groupsUnparsed := 0
	for k, mi := range mains {
		main := rows[mi]
		mainRows[k] = main
		members := groups[main.Index]
		sort.SliceStable(members, func(a, b int) bool { return rows[members[a]].Index < rows[members[b]].Index })
		hit, unparsed := true, false
		for _, j := range members {
			r := rows[j]
			res.Items++
			if !r.HasPrediction {
				res.Missing++
				hit = false
				continue
			}
			p := CanInfer(r.Prediction, r.Options, v)
			if p == "" {
				res.Unparseable++
				unparsed = true
				hit = false
				continue
			}
			if p != r.Answer {
				hit = false
			}
			if j == mi {
				vanilla[k] = p == r.Answer
			}
		}
		hits[k] = hit
		if unparsed {
			groupsUnparsed++
		}
	}
	for idx, members := range groups {
		if rows[members[0]].Index != idx && !hasMain(rows, members, idx) {
			res.Extra += len(members)
		}
	}
	res.Headline = report(res, mainRows, hits)
	var va eval.Accumulator
	for k := range mainRows {
		s := 0.0
		if vanilla[k] {
			s = 1
		}
		va.Observe(eval.ScopeOverall, "", s)
	}
	va.Emit(res, "vanilla_accuracy_pct")
	res.Add(eval.ScopeOverall, "", "questions_count", float64(len(mains)), len(mains))
	res.Add(eval.ScopeOverall, "", "unparseable_count", float64(res.Unparseable), res.Items)
	res.Add(eval.ScopeOverall, "", "unparseable_questions_count", float64(groupsUnparsed), len(mains))
	res.Add(eval.ScopeOverall, "", "missing_count", float64(res.Missing), res.Items)
	if res.Unparseable > 0 {
		res.Notef("%d passes (%d questions) could not be mapped to an option without a judge; their questions are misses", res.Unparseable, groupsUnparsed)
	}
	if res.Extra > 0 {
		res.Notef("%d circular passes have no main question (index < 1e6) and were ignored", res.Extra)
	}
	return res, nil
}

func hasMain(rows []Row, members []int, idx int64) bool {
	for _, j := range members {
		if rows[j].Index == idx {
			return true
		}
	}
	return false
}
