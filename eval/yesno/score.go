package yesno

import (
	"fmt"
	"math"
	"sort"

	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/vqa"
)

// Rules names a toolkit's yes/no scoring.
type Rules string

// The yes/no rules variants.
const (
	// Official is MME's calculation.py (eval_tool.zip), with LLaVA's
	// eval_pope.py for POPE (= InternVL's).
	Official Rules = "official"
	// InternVL is InternVL's eval kit: for MME, post_processing then
	// calculation.py with malformed lines skipped; for POPE, eval_pope.py.
	InternVL Rules = "internvl"
	// VLMEvalKit2502 is VLMEvalKit's YOrN_Extraction with exact matching
	// (Unknown is wrong), MME_rating and POPE_rating, at 2d8e44e4.
	VLMEvalKit2502 Rules = "vlmevalkit-2502"
	// VLMEvalKit2505 is the same with the May 2025 period rule.
	VLMEvalKit2505 Rules = "vlmevalkit-2505"
	// LmmsEval is lmms-eval's mme/pope tasks.
	LmmsEval Rules = "lmms-eval"
)

// MMEPerception and MMECognition are MME's subtasks in calculation.py's
// order. VLMEvalKit calls cognition "reasoning".
var (
	MMEPerception = []string{"existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"}
	MMECognition  = []string{"commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"}
)

// MMERecord is one MME question with its response, in results-file order.
type MMERecord struct {
	Subtask  string
	Image    string // the image the question belongs to (grouping key)
	GT       string // "Yes" or "No", any case
	Response string
	// Malformed marks a results line that did not split into 4 fields.
	// calculation.py crashes on it; InternVL's copy skips the line but
	// still counts its pair as an image.
	Malformed bool
	// Where names the source (file:line) for error messages.
	Where string
}

func (r Rules) mmeParse(resp string) (Label, error) {
	switch r {
	case Official:
		return MMEOfficial(resp), nil
	case InternVL:
		return MMEOfficial(InternVLPostProcess(resp)), nil
	case VLMEvalKit2502:
		return YOrN(resp, vqa.PeriodOfficial), nil
	case VLMEvalKit2505:
		return YOrN(resp, vqa.PeriodLookbehind), nil
	case LmmsEval:
		return MMELmmsEval(resp), nil
	}
	return "", fmt.Errorf("yesno: unknown rules %q", r)
}

func gtLabel(gt, where string) (Label, error) {
	switch l := Label(lowerASCII(gt)); l {
	case Yes, No:
		return l, nil
	}
	return "", fmt.Errorf("%s: ground truth %q is not yes or no", where, gt)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

type mmeSub struct {
	correct, total int // per question
	plus, images   int // per image
	other          int
}

// ScoreMME scores MME records: acc and acc+ per subtask (score = 100·acc +
// 100·acc+, max 200), perception (10 subtasks, max 2000), cognition (4,
// max 800) and their sum. The headline is perception, as papers report.
// Pairing follows the rules: consecutive lines (official, internvl), the
// Image key within a subtask (vlmevalkit: first two questions of each
// image; lmms-eval: exactly two).
func ScoreMME(records []MMERecord, rules Rules) (*eval.Result, error) {
	res := &eval.Result{Bench: "mme", Rules: string(rules)}
	subs := map[string]*mmeSub{}
	var order []string
	get := func(name string) *mmeSub {
		s, ok := subs[name]
		if !ok {
			s = &mmeSub{}
			subs[name] = s
			order = append(order, name)
		}
		return s
	}
	bySub := map[string][]MMERecord{}
	for _, r := range records {
		if _, ok := bySub[r.Subtask]; !ok {
			get(r.Subtask)
		}
		bySub[r.Subtask] = append(bySub[r.Subtask], r)
	}
	for _, name := range order {
		s := subs[name]
		recs := bySub[name]
		var groups [][]MMERecord
		switch rules {
		case Official, InternVL:
			if len(recs)%2 != 0 {
				return nil, fmt.Errorf("%s: subtask %s has %d lines; calculation.py needs the two questions of each image on consecutive lines", recs[len(recs)-1].Where, name, len(recs))
			}
			for i := 0; i < len(recs); i += 2 {
				groups = append(groups, recs[i:i+2])
			}
		default:
			idx := map[string]int{}
			for _, r := range recs {
				i, ok := idx[r.Image]
				if !ok {
					i = len(groups)
					idx[r.Image] = i
					groups = append(groups, nil)
				}
				groups[i] = append(groups[i], r)
			}
			for _, g := range groups {
				if len(g) < 2 || (rules == LmmsEval && len(g) != 2) {
					return nil, fmt.Errorf("%s: subtask %s image %q has %d questions; MME pairs exactly two per image", g[0].Where, name, g[0].Image, len(g))
				}
			}
		}
		for _, g := range groups {
			s.images++
			hits := make([]bool, len(g))
			for i, r := range g {
				if r.Malformed {
					if rules != InternVL {
						return nil, fmt.Errorf("%s: malformed MME results line (want image\\tquestion\\tGT\\tresponse)", r.Where)
					}
					continue
				}
				gt, err := gtLabel(r.GT, r.Where)
				if err != nil {
					return nil, err
				}
				p, err := rules.mmeParse(r.Response)
				if err != nil {
					return nil, err
				}
				if p == Other {
					s.other++
				}
				s.total++
				if p == gt {
					s.correct++
					hits[i] = true
				}
			}
			switch rules {
			case VLMEvalKit2502, VLMEvalKit2505:
				if hits[0] && hits[1] { // val[0] * val[1]
					s.plus++
				}
			default: // img_correct_num == 2
				if countHits(hits) == 2 {
					s.plus++
				}
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return mmeRank(order[i]) < mmeRank(order[j]) })
	scores := map[string]float64{}
	for _, name := range order {
		s := subs[name]
		acc := eval.Pct(float64(s.correct), float64(s.total))
		plus := eval.Pct(float64(s.plus), float64(s.images))
		scores[name] = acc + plus
		res.Add(eval.ScopeSubtask, name, "accuracy_pct", acc, s.total)
		res.Add(eval.ScopeSubtask, name, "acc_plus_pct", plus, s.images)
		res.Add(eval.ScopeSubtask, name, "score_pts", acc+plus, s.images)
		res.Items += s.total
		res.Unparseable += s.other
	}
	super := func(group string, names []string) eval.Metric {
		sum, n := 0.0, 0
		var missing []string
		for _, name := range names {
			v, ok := scores[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			sum += v
			n += subs[name].images
		}
		if len(missing) > 0 {
			res.Notef("%s not computed: subtasks missing: %v", group, missing)
			sum = math.NaN()
		}
		return res.Add(eval.ScopeSuper, group, "score_pts", sum, n)
	}
	perc := super("perception", MMEPerception)
	cog := super("cognition", MMECognition)
	res.Add(eval.ScopeOverall, "", "score_pts", perc.Value+cog.Value, perc.N+cog.N)
	res.Headline = perc
	res.Add(eval.ScopeOverall, "", "unparseable_count", float64(res.Unparseable), res.Items)
	for _, name := range order {
		if mmeRank(name) == len(MMEPerception)+len(MMECognition) {
			res.Notef("subtask %q is not an MME subtask; it is in no total", name)
		}
	}
	return res, nil
}

func countHits(h []bool) int {
	n := 0
	for _, b := range h {
		if b {
			n++
		}
	}
	return n
}

func mmeRank(name string) int {
	for i, n := range MMEPerception {
		if n == name {
			return i
		}
	}
	for i, n := range MMECognition {
		if n == name {
			return len(MMEPerception) + i
		}
	}
	return len(MMEPerception) + len(MMECognition)
}

// POPERecord is one POPE question: its splits (VLMEvalKit's category may
// be comma-joined), the label and the raw prediction.
type POPERecord struct {
	Splits []string
	GT     Label // yes or no
	Pred   string
}

type confusion struct{ tp, fp, tn, fn, n, predYes, gtYes, correct, other int }

// POPESplits is POPE's split order.
var POPESplits = []string{"random", "popular", "adversarial"}

// ScorePOPE scores POPE: per split accuracy, precision, recall, F1 and
// yes-ratio (yes = positive), the mean over splits (the InternVL/LLaVA
// headline: mean F1) and the pooled values (VLMEvalKit's Overall).
func ScorePOPE(records []POPERecord, rules Rules) (*eval.Result, error) {
	res := &eval.Result{Bench: "pope", Rules: string(rules)}
	cm := map[string]*confusion{}
	var splits []string
	pooled := &confusion{}
	for _, r := range records {
		if r.GT != Yes && r.GT != No {
			return nil, fmt.Errorf("pope: ground truth %q is not yes or no", r.GT)
		}
		var p Label
		switch rules {
		case Official, InternVL:
			p = POPELLaVA(r.Pred)
		case VLMEvalKit2502:
			p = YOrN(r.Pred, vqa.PeriodOfficial)
		case VLMEvalKit2505:
			p = YOrN(r.Pred, vqa.PeriodLookbehind)
		case LmmsEval:
			p = POPELmmsEval(r.Pred)
		default:
			return nil, fmt.Errorf("yesno: unknown rules %q", rules)
		}
		res.Items++
		if p == Other {
			res.Unparseable++
		}
		targets := []*confusion{pooled}
		for _, s := range r.Splits {
			c, ok := cm[s]
			if !ok {
				c = &confusion{}
				cm[s] = c
				splits = append(splits, s)
			}
			targets = append(targets, c)
		}
		for _, c := range targets {
			c.observe(r.GT, p, rules)
		}
	}
	sort.SliceStable(splits, func(i, j int) bool { return popeRank(splits[i]) < popeRank(splits[j]) })
	var f1s, accs []float64
	n := 0
	for _, s := range splits {
		m := cm[s].emit(res, eval.ScopeSplit, s, rules)
		f1s = append(f1s, m["f1_pct"])
		accs = append(accs, m["accuracy_pct"])
		n += cm[s].n
	}
	meanF1 := res.Add(eval.ScopeOverall, "", "f1_mean_pct", mean(f1s), n)
	res.Add(eval.ScopeOverall, "", "accuracy_mean_pct", mean(accs), n)
	pm := pooled.emit(res, eval.ScopeOverall, "pooled", rules)
	_ = pm
	res.Add(eval.ScopeOverall, "", "unparseable_count", float64(res.Unparseable), res.Items)
	switch rules {
	case Official, InternVL:
		res.Headline = meanF1
	default:
		res.Headline, _ = res.Find(eval.ScopeOverall, "pooled", "f1_pct")
	}
	if rules == LmmsEval {
		res.Notef("lmms-eval computes yes_ratio from the ground truth, not the predictions; reproduced as is")
	}
	return res, nil
}

func (c *confusion) observe(gt, p Label, rules Rules) {
	c.n++
	if gt == Yes {
		c.gtYes++
	}
	if p == Yes {
		c.predYes++
	}
	if p == gt {
		c.correct++
	}
	if p == Other {
		c.other++
	}
	switch {
	case gt == Yes && p == Yes:
		c.tp++
	case gt == No && p == Yes:
		c.fp++
	case gt == Yes && p == No:
		c.fn++
	case gt == No && p == No:
		c.tn++
	case gt == Yes && p == Other:
		if rules != LmmsEval { // VLMEvalKit: Unknown counts as "not Yes"
			c.fn++
		}
	case gt == No && p == Other:
		if rules != LmmsEval {
			c.tn++
		}
	}
}

func (c *confusion) emit(res *eval.Result, scope, group string, rules Rules) map[string]float64 {
	div := func(a, b int) float64 {
		if b == 0 {
			if rules == VLMEvalKit2502 || rules == VLMEvalKit2505 {
				return 0 // POPE_rating guards 0/0 with 0
			}
			return math.NaN() // eval_pope.py and lmms-eval divide by zero
		}
		return float64(a) / float64(b)
	}
	p := div(c.tp, c.tp+c.fp)
	r := div(c.tp, c.tp+c.fn)
	var f1 float64
	if p+r == 0 && (rules == VLMEvalKit2502 || rules == VLMEvalKit2505) {
		f1 = 0
	} else if p+r == 0 {
		f1 = math.NaN()
	} else {
		f1 = 2 * p * r / (p + r)
	}
	yes := c.predYes
	if rules == LmmsEval {
		yes = c.gtYes
	}
	out := map[string]float64{
		"accuracy_pct":  eval.Pct(float64(c.correct), float64(c.n)),
		"precision_pct": 100 * p,
		"recall_pct":    100 * r,
		"f1_pct":        100 * f1,
		"yes_ratio_pct": eval.Pct(float64(yes), float64(c.n)),
	}
	for _, k := range []string{"accuracy_pct", "precision_pct", "recall_pct", "f1_pct", "yes_ratio_pct"} {
		res.Add(scope, group, k, out[k], c.n)
	}
	for _, k := range []struct {
		name string
		v    int
	}{{"tp_count", c.tp}, {"fp_count", c.fp}, {"tn_count", c.tn}, {"fn_count", c.fn}} {
		res.Add(scope, group, k.name, float64(k.v), c.n)
	}
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func popeRank(s string) int {
	for i, n := range POPESplits {
		if n == s {
			return i
		}
	}
	return len(POPESplits)
}
