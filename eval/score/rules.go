// Package score joins predictions to benchmark items and scores them with
// a chosen rules variant: the per-benchmark dispatch on top of eval/vqa,
// eval/yesno and eval/mcq. It takes loaded data (see package datasets) and
// does no I/O itself.
package score

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ssmbench/ssmbench/datasets"
)

// Rules variant names shared across benchmarks.
const (
	VLMEvalKit2502 = "vlmevalkit-2502" // VLMEvalKit @ 2d8e44e4 (2025-02-20): the seed's toolkit
	VLMEvalKit2505 = "vlmevalkit-2505" // + process_punctuation look-behind (928a95b0, 2025-05-13)
	VLMEvalKit2508 = "vlmevalkit-2508" // + can_infer last-4-tokens and length guard (c3371551)
	VLMEvalKit2606 = "vlmevalkit-2606" // + can_infer "answer is X" regex (a67ace50, HEAD)
	Official       = "official"        // the benchmark authors' own script
	InternVL       = "internvl"        // InternVL eval kit @ 2410d1db (the seed's for GQA, POPE)
	LLaVA          = "llava"           // LLaVA @ c121f043
	LmmsEval       = "lmms-eval"       // lmms-eval @ 75571cfe
	M4C            = "m4c"             // mmf/m4c EvalAIAnswerProcessor (LLaVA/InternVL/lmms TextVQA)
	VQAEval        = "vqaeval"         // official vqaEval.py (VQAv2 EvalAI server)
	MMMUOfficial   = "mmmu-official"   // MMMU eval_utils, with "no candidate" a miss instead of random
	Judge          = "judge"           // MM-Vet: GPT judge only
)

// Spec describes a benchmark's rules variants.
type Spec struct {
	Bench   string
	Default string
	// Rules maps each accepted variant to a one-line description.
	Rules map[string]string
	// Aliases maps extra names to variants.
	Aliases map[string]string
}

var vlmAll = map[string]string{
	VLMEvalKit2502: "VLMEvalKit @ 2d8e44e4 (Feb 2025), exact matching (no judge)",
	VLMEvalKit2505: "VLMEvalKit after 928a95b0 (May 2025: period rule)",
	VLMEvalKit2508: "VLMEvalKit after c3371551 (Aug 2025: can_infer last 4 tokens, length guard)",
	VLMEvalKit2606: "VLMEvalKit @ a67ace50+ (HEAD: can_infer 'answer is X' fallback)",
}

func with(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range vlmAll {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var vlmAlias = map[string]string{"vlmevalkit": VLMEvalKit2606, "vlmevalkit-head": VLMEvalKit2606, "seed": VLMEvalKit2502}

func aliases(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range vlmAlias {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Specs lists every benchmark. Defaults are the seed's toolkits: InternVL
// for GQA and POPE, VLMEvalKit @ 2d8e44e4 for the rest (VQAv2, absent
// from the paper, defaults to the official vqaEval.py).
var Specs = map[string]Spec{
	datasets.MME: {Bench: datasets.MME, Default: VLMEvalKit2502, Rules: with(map[string]string{
		Official: "MME calculation.py: 4-character prefix rule, consecutive-line pairs",
		InternVL: "InternVL: post_processing (是/否, true/false, CJK) then calculation.py, malformed lines skipped",
		LmmsEval: "lmms-eval mme: strip, delete '.', y/n, prefix rule; pairs by question_id",
	}), Aliases: aliases(map[string]string{LLaVA: Official})},
	datasets.POPE: {Bench: datasets.POPE, Default: InternVL, Rules: with(map[string]string{
		InternVL: "InternVL/LLaVA eval_pope.py: first sentence, 'No'/'no'/'not' token = no; mean F1 over splits",
		LmmsEval: "lmms-eval pope: exact yes/no; pooled; yes_ratio from ground truth (sic)",
	}), Aliases: aliases(map[string]string{LLaVA: InternVL, Official: InternVL})},
	datasets.MMBench: {Bench: datasets.MMBench, Default: VLMEvalKit2502, Rules: with(nil), Aliases: aliases(nil)},
	datasets.SEED: {Bench: datasets.SEED, Default: VLMEvalKit2502, Rules: with(map[string]string{
		LLaVA:    "LLaVA convert_seed_for_submission.py: exact string equality",
		LmmsEval: "lmms-eval seedbench: first character, case-insensitive",
	}), Aliases: aliases(nil)},
	datasets.ScienceQA: {Bench: datasets.ScienceQA, Default: VLMEvalKit2502, Rules: with(map[string]string{
		LLaVA:    "LLaVA eval_science_qa.py: letter, 'X. ', or one 'The answer is X.'",
		LmmsEval: "lmms-eval scienceqa_img: stripped lowercase equality",
	}), Aliases: aliases(nil)},
	datasets.AI2D: {Bench: datasets.AI2D, Default: VLMEvalKit2502, Rules: with(map[string]string{
		LmmsEval: "lmms-eval ai2d: '^\\s*([A-Z])\\.' then exact match ignoring case and punctuation",
		InternVL: "InternVL ai2diagram: strip().lower() equality",
	}), Aliases: aliases(nil)},
	datasets.MMMU: {Bench: datasets.MMMU, Default: VLMEvalKit2502, Rules: with(map[string]string{
		MMMUOfficial: "MMMU eval_utils (= lmms-eval) parsers; no candidate is a miss, not random.choice",
	}), Aliases: aliases(map[string]string{LmmsEval: MMMUOfficial, Official: MMMUOfficial})},
	datasets.TextVQA: {Bench: datasets.TextVQA, Default: VLMEvalKit2502, Rules: with(map[string]string{
		M4C:     "m4c EvalAIAnswerProcessor (LLaVA, InternVL, lmms-eval) + soft accuracy",
		VQAEval: "official vqaEval.py normalisation + soft accuracy",
	}), Aliases: aliases(map[string]string{LLaVA: M4C, InternVL: M4C, LmmsEval: M4C, Official: VQAEval})},
	datasets.VQAv2: {Bench: datasets.VQAv2, Default: VQAEval, Rules: with(map[string]string{
		VQAEval:  "official vqaEval.py (EvalAI server): normalise only when GTs differ",
		M4C:      "m4c EvalAIAnswerProcessor + soft accuracy",
		LmmsEval: "lmms-eval vqav2_val: process_answer always (official period rule)",
	}), Aliases: aliases(map[string]string{Official: VQAEval, LLaVA: VQAEval})},
	datasets.GQA: {Bench: datasets.GQA, Default: InternVL, Rules: with(map[string]string{
		InternVL: "InternVL/LLaVA convert_gqa_for_eval.py rstrip('.').lower() + official exact match",
		LmmsEval: "lmms-eval gqa: exact match ignoring case and punctuation",
	}), Aliases: aliases(map[string]string{LLaVA: InternVL, Official: InternVL})},
	datasets.MMVet: {Bench: datasets.MMVet, Default: Judge, Rules: map[string]string{
		Judge: "needs a GPT-4 judge (official evaluator: gpt-4-0613); no judge-free score exists",
	}},
}

// Resolve returns the variant a rules name selects for bench ("" = the
// default) and its description.
func Resolve(bench, rules string) (string, string, error) {
	spec, ok := Specs[bench]
	if !ok {
		return "", "", fmt.Errorf("unknown benchmark %q (want one of %s)", bench, strings.Join(datasets.Benches, ", "))
	}
	if rules == "" {
		rules = spec.Default
	}
	if a, ok := spec.Aliases[rules]; ok {
		rules = a
	}
	doc, ok := spec.Rules[rules]
	if !ok {
		var names []string
		for k := range spec.Rules {
			names = append(names, k)
		}
		for k := range spec.Aliases {
			names = append(names, k)
		}
		sort.Strings(names)
		return "", "", fmt.Errorf("rules %q do not apply to %s (want one of %s)", rules, bench, strings.Join(names, ", "))
	}
	return rules, doc, nil
}
