package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/score"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var o scoreOpts
		cmd := &cobra.Command{
			Use:   "score BENCH --pred FILE",
			Short: "Score predictions made elsewhere on a multimodal benchmark",
			Long: `Score a model's predictions on one benchmark exactly as a standard toolkit does.

BENCH is one of: ` + strings.Join(datasets.Benches, ", ") + `.

--pred reads LLaVA answer jsonl, VLMEvalKit result files (.xlsx/.tsv),
lmms-eval samples jsonl, an MME Your_Results folder, GQA [{questionId,
prediction}] or VQA [{question_id, answer}] json, or an MM-Vet {id: answer}
json. Files that carry the ground truth (VLMEvalKit, Your_Results, lmms-eval
docs) need no dataset; otherwise give --data PATH (a file or folder in the
benchmark's own layout, or a VLMEvalKit .tsv) or list the benchmark in the
registry (--registry, $` + datasets.EnvRegistry + `, ~/.config/ssmbench/datasets.yaml).

--rules picks the toolkit variant; the default is the one the mmMamba paper
used (InternVL for GQA and POPE, VLMEvalKit @ 2d8e44e4 otherwise). Every
result names the variant. MM-Vet needs a GPT judge: its judge input is
written to --judge-out and no score is invented.

Rules per benchmark:
` + rulesHelp(),
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runScore(stdio, args[0], o)
			},
		}
		f := cmd.Flags()
		f.StringVar(&o.pred, "pred", "", "predictions file or MME Your_Results folder (required)")
		f.StringVar(&o.predFormat, "pred-format", "", "predictions format (default: detect): "+strings.Join([]string{datasets.PredLLaVA, datasets.PredVLMEvalKit, datasets.PredLmmsEval, datasets.PredMMEResults, datasets.PredGQAJSON, datasets.PredVQAJSON, datasets.PredMMVetJSON}, ", "))
		f.StringVar(&o.data, "data", "", "benchmark data (file or folder); overrides the registry")
		f.StringVar(&o.registry, "registry", "", "dataset registry file (default $"+datasets.EnvRegistry+" or ~/.config/ssmbench/datasets.yaml)")
		f.StringVar(&o.rules, "rules", "", "rules variant (default: the seed's toolkit for BENCH)")
		f.BoolVar(&o.json, "json", false, "print every number as JSON")
		f.StringVar(&o.judgeOut, "judge-out", "", "mmvet: write the GPT judge's input file here")
		_ = cmd.MarkFlagRequired("pred")
		return cmd
	})
}

type scoreOpts struct {
	pred, predFormat, data, registry, rules, judgeOut string
	json                                              bool
}

func rulesHelp() string {
	var b strings.Builder
	for _, bench := range datasets.Benches {
		spec := score.Specs[bench]
		var names []string
		for k := range spec.Rules {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "  %-9s default %s; %s\n", bench, spec.Default, strings.Join(names, ", "))
	}
	return b.String()
}

// badInput reports whether err is the user's input at fault (exit 2).
func badInput(err error) bool {
	var ie *score.InputError
	return errors.As(err, &ie) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, datasets.ErrUnknownBench)
}

func runScore(stdio *Stdio, bench string, o scoreOpts) error {
	if _, _, err := score.Resolve(bench, o.rules); err != nil {
		return usageErr(err)
	}
	preds, err := datasets.ReadPredictions(o.pred, bench, o.predFormat)
	if err != nil {
		return usageErr(err)
	}
	ds, err := loadScoreData(bench, o, preds)
	if err != nil {
		return usageErr(err)
	}
	var res *eval.Result
	if bench == datasets.MMVet {
		if o.judgeOut == "" {
			return usageErr(errors.New("mmvet: no judge-free score exists; give --judge-out FILE for the GPT judge's input"))
		}
		f, err := os.Create(o.judgeOut)
		if err != nil {
			return err
		}
		res, err = score.MMVetJudgeInput(f, ds, preds)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if badInput(err) {
				return usageErr(err)
			}
			return err
		}
		res.Notef("judge input written to %s", o.judgeOut)
	} else {
		res, err = score.Score(bench, ds, preds, o.rules)
		if err != nil {
			if badInput(err) {
				return usageErr(err)
			}
			return err
		}
	}
	if o.json {
		return eval.WriteJSON(stdio.Out, res)
	}
	return eval.WriteTable(stdio.Out, res)
}

// loadScoreData loads the dataset from --data, else from the registry
// when the predictions do not carry their ground truth; nil means none
// is needed.
func loadScoreData(bench string, o scoreOpts, preds *datasets.Predictions) (*datasets.Dataset, error) {
	if o.data != "" {
		return datasets.Load(bench, datasets.Entry{Path: o.data})
	}
	if preds.SelfContained() {
		return nil, nil
	}
	if bench == datasets.MMVet && preds.Format == datasets.PredMMVetJSON {
		return nil, nil
	}
	path := o.registry
	if path == "" {
		path = datasets.DefaultRegistryPath()
	}
	reg, err := datasets.LoadRegistry(path)
	if err != nil {
		return nil, fmt.Errorf("%s predictions carry no ground truth: give --data PATH or a registry (%v)", preds.Format, err)
	}
	e, err := reg.Entry(bench)
	if err != nil {
		return nil, err
	}
	return datasets.Load(bench, e)
}
