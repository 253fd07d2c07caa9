package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/datasets"
	"github.com/ssmbench/ssmbench/eval"
	"github.com/ssmbench/ssmbench/eval/pipeline"
	"github.com/ssmbench/ssmbench/runners/configs"
)

type evalOpts struct {
	specFile, runner, variant, weights, profile, dtype string
	data, registry, out, rules, system, python         string
	seed                                               int64
	limit, maxNum, maxNew                              int
	resume, json, detail                               bool
	timeout                                            time.Duration
}

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var o evalOpts
		cmd := &cobra.Command{
			Use:   "eval BENCH... (--spec SPEC.yaml | --runner cpu|torch) --variant V",
			Short: "Run benchmarks through a runner, score them, compare with the paper",
			Long: `Answer a benchmark's items with a model through a runner and score the answers.

BENCH is one or more of: ` + strings.Join(datasets.Benches, ", ") + `.

Each item gets the seed's prompt (eval/prompt: its VLMEvalKit wrapper's
question formats, the internlm2-chat template) and HoVLE's image
preprocessing (448-pixel tiles, or the tiny configs' own size; dynamic tiling
up to --max-num tiles plus a thumbnail; ImageNet normalisation); the runner
decodes greedily (runners/protocol/PROTOCOL.md, "infer"). Answers are
appended to OUT/BENCH/predictions.jsonl as they come: an interrupted eval
continues with --resume. Then the answers are scored with the seed's rules
(or --rules), written to OUT/BENCH/score.json, OUT/BENCH/scores.parquet and
OUT/scores.parquet, and printed beside the seed's Table 1 row of the variant.

  ssmbench eval pope mme --runner cpu --variant mmmamba-linear-tiny --limit 20
  ssmbench eval mmbench --spec specs/fig1-gpu.yaml --variant mmmamba-hybrid
  ssmbench eval pope --runner torch --variant mmmamba-linear --weights /ckpt/mmMamba-linear

Data come from --data PATH (one benchmark) or the registry (--registry,
$` + datasets.EnvRegistry + `, ~/.config/ssmbench/datasets.yaml). With random
weights the answers are nonsense, but every step runs.

Exit status: 0 when scored, 2 for bad input, 130 when interrupted (resume
with --resume), 1 when the runner or the harness failed.`,
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runEval(ctx, stdio, args, o)
			},
		}
		f := cmd.Flags()
		f.StringVar(&o.specFile, "spec", "", "sweep spec naming the runner and the models (its runner, env, options, timeouts and models are used)")
		f.StringVar(&o.runner, "runner", "", "runner kind without a spec: cpu (default) or torch")
		f.StringVar(&o.variant, "variant", "", "model variant: a builtin config (hovle, mmmamba-linear, mmmamba-hybrid, their -tiny versions) or a spec model")
		f.StringVar(&o.weights, "weights", "", "without a spec: a checkpoint directory (config.json + safetensors) instead of random weights")
		f.Int64Var(&o.seed, "seed", 1, "without a spec: the seed of random weights")
		f.StringVar(&o.python, "python", "python3", "without a spec, with --runner torch: the python interpreter that has torch")
		f.StringVar(&o.profile, "profile", "", "runner profile (default: reference for cpu, paper for torch)")
		f.StringVar(&o.dtype, "dtype", "", "runner dtype (default: fp32 for cpu, bf16 for torch)")
		f.StringVar(&o.data, "data", "", "benchmark data (file or folder) for a single BENCH; overrides the registry")
		f.StringVar(&o.registry, "registry", "", "dataset registry file (default $"+datasets.EnvRegistry+" or ~/.config/ssmbench/datasets.yaml)")
		f.IntVar(&o.limit, "limit", 0, "ask only the first N items of each benchmark (whole MME image pairs and MMBench circular groups)")
		f.IntVar(&o.maxNum, "max-num", 0, "tile cap for dynamic tiling (default: the seed's, 6; 12 for MMMU)")
		f.IntVar(&o.maxNew, "max-new-tokens", pipeline.DefaultMaxNewTokens, "longest answer in tokens (the seed's: 1024)")
		f.StringVar(&o.out, "out", "", "output directory (default results/eval/VARIANT)")
		f.StringVar(&o.rules, "rules", "", "rules variant for scoring (default: the seed's toolkit per benchmark; see ssmbench score --help)")
		f.StringVar(&o.system, "system", "", "system message of the chat template (default: InternVL's internlm2-chat message)")
		f.BoolVar(&o.resume, "resume", false, "continue the predictions already in --out (items answered are not asked again)")
		f.DurationVar(&o.timeout, "item-timeout", 10*time.Minute, "longest wait for one answer before the runner is killed")
		f.BoolVar(&o.json, "json", false, "print the results as JSON")
		f.BoolVar(&o.detail, "detail", false, "print every metric of each benchmark, not only the comparison")
		_ = cmd.MarkFlagRequired("variant")
		return cmd
	})
}

// evalSpec returns the spec that names the runner and the model.
func evalSpec(o evalOpts) (*spec.Spec, error) {
	if o.specFile != "" {
		if o.runner != "" || o.weights != "" {
			return nil, errors.New("--runner and --weights go without --spec (the spec names the runner and its models)")
		}
		return spec.Load(o.specFile)
	}
	kind := o.runner
	if kind == "" {
		kind = spec.RunnerCPU
	}
	if kind != spec.RunnerCPU && kind != spec.RunnerTorch {
		return nil, fmt.Errorf("--runner %q: want cpu or torch (or a spec for any other runner)", kind)
	}
	s := &spec.Spec{Name: "eval", Runner: spec.Runner{Kind: kind, Python: o.python}, Timeouts: spec.DefaultTimeouts, Seed: o.seed, Models: map[string]spec.Model{}}
	if o.weights != "" {
		s.Models[o.variant] = spec.Model{Config: o.weights, Weights: o.weights}
	}
	return s, nil
}

// defaultProfile picks the profile and dtype: the flags, else the spec's
// single axis value, else the runner kind's natural one.
func defaultProfile(s *spec.Spec, o evalOpts) (string, string) {
	profile, dtype := o.profile, o.dtype
	if len(s.Grids) > 0 {
		if g := s.Grids[0]; profile == "" && len(g.Profile) == 1 {
			profile = g.Profile[0]
		}
		if g := s.Grids[0]; dtype == "" && len(g.DType) == 1 {
			dtype = g.DType[0]
		}
	}
	if profile == "" {
		profile = map[string]string{spec.RunnerTorch: "paper"}[s.Runner.Kind]
		if profile == "" {
			profile = "reference"
		}
	}
	if dtype == "" {
		dtype = map[string]string{spec.RunnerTorch: "bf16"}[s.Runner.Kind]
		if dtype == "" {
			dtype = "fp32"
		}
	}
	return profile, dtype
}

func evalInputErr(err error) bool {
	var ie *pipeline.InputError
	return errors.As(err, &ie) || errors.Is(err, fs.ErrNotExist)
}

func runEval(ctx context.Context, stdio *Stdio, benches []string, o evalOpts) error {
	if err := pipeline.CheckBenches(benches); err != nil {
		return usageErr(err)
	}
	s, err := evalSpec(o)
	if err != nil {
		return usageErr(err)
	}
	model := s.ModelFor(o.variant)
	cfg, err := configs.Load(model.Config)
	if err != nil {
		return usageErr(fmt.Errorf("variant %s: %w", o.variant, err))
	}
	if o.out == "" {
		o.out = filepath.Join("results", "eval", o.variant)
	}
	opts := pipeline.Options{Benches: benches, Variant: o.variant, Model: model, Data: o.data, Limit: o.limit, MaxNum: o.maxNum,
		MaxNewTokens: o.maxNew, Out: o.out, Rules: o.rules, Resume: o.resume, System: o.system, Version: version, Argv: os.Args}
	if o.data == "" {
		path := o.registry
		if path == "" {
			path = datasets.DefaultRegistryPath()
		}
		if opts.Registry, err = datasets.LoadRegistry(path); err != nil {
			return usageErr(fmt.Errorf("no --data and no dataset registry: %w", err))
		}
	}
	plan, err := pipeline.NewPlan(opts, cfg)
	if err != nil {
		if evalInputErr(err) {
			return usageErr(err)
		}
		return err
	}
	if n := plan.Pending(); n > 0 {
		if err := askAll(ctx, stdio, s, o, plan); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdio.Err, "ssmbench: every item in %s is answered; scoring\n", plan.Opts.Out)
	}
	results, err := plan.Score()
	if err != nil {
		if evalInputErr(err) {
			return usageErr(err)
		}
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	if o.detail {
		for _, r := range results {
			if err := eval.WriteTable(stdio.Out, r); err != nil {
				return err
			}
			fmt.Fprintln(stdio.Out)
		}
	}
	// Beside Table 1: every benchmark scored in this output directory so
	// far (one variant per directory), not only this run's.
	all, err := pipeline.ReadResults(plan.Opts.Out)
	if err != nil {
		return err
	}
	if err := eval.WriteComparison(stdio.Out, o.variant, all); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "results: %s\n", plan.Opts.Out)
	return nil
}

// askAll starts the runner and asks every pending item.
func askAll(ctx context.Context, stdio *Stdio, s *spec.Spec, o evalOpts, plan *pipeline.Plan) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(plan.Opts.Out, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(plan.Opts.Out, "runner.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	profile, dtype := defaultProfile(s, o)
	eopts := engine.Options{CPUWorker: []string{exe, "worker", "cpu"}, Argv: os.Args, Version: version}
	fmt.Fprintf(stdio.Err, "ssmbench: starting the %s runner for %s (%s/%s); %d items to ask\n", s.Runner.Kind, o.variant, profile, dtype, plan.Pending())
	r, err := pipeline.StartRunner(ctx, s, eopts, o.variant, profile, dtype, plan.MaxSeqLen(), logf)
	if err != nil {
		return fmt.Errorf("start runner (log: %s): %w", logf.Name(), err)
	}
	defer r.Close()
	r.Timeout = o.timeout
	err = plan.Execute(ctx, r, pipeline.NewRunnerInfo(r.Hello, r.Loaded, profile, dtype), progressFor(stdio))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return withCode(ExitInterrupt, fmt.Errorf("interrupted; the answers so far are in %s: continue with --resume", plan.Opts.Out))
	case evalInputErr(err):
		return usageErr(err)
	}
	return fmt.Errorf("%w (runner log: %s)", err, logf.Name())
}

// progressFor draws a bar per benchmark on a terminal, and prints a line
// per tenth otherwise.
func progressFor(stdio *Stdio) pipeline.Progress {
	tty := isTerminal(stdio.Err) && os.Getenv("CI") == ""
	var bar *progressbar.ProgressBar
	cur, last := "", -1
	return func(bench string, done, total int) {
		if bench != cur {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(stdio.Err)
			}
			cur, last = bench, -1
			if tty {
				bar = progressbar.NewOptions(total, progressbar.OptionSetDescription(bench), progressbar.OptionSetWriter(stdio.Err),
					progressbar.OptionShowCount(), progressbar.OptionSetVisibility(true))
			}
		}
		if tty {
			_ = bar.Set(done)
			return
		}
		if tenth := done * 10 / max(total, 1); tenth != last {
			last = tenth
			fmt.Fprintf(stdio.Err, "ssmbench: %s %d/%d items answered\n", bench, done, total)
		}
	}
}
