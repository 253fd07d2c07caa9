package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/overhead"
	"github.com/ssmbench/ssmbench/bench/spec"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var cell, reps, rounds int
		var rates, gate []float64
		var threshold float64
		var out string
		var asJSON, verbose bool
		cmd := &cobra.Command{
			Use:   "overhead SPEC.yaml",
			Short: "Measure what the NVML sampler costs: one cell with the sampler off and at each rate, interleaved",
			Long: `Measure the overhead of the NVML telemetry sampler on one cell of a spec
(by default its first decode cell; --cell N picks the N-th cell of the plan,
as numbered by ssmbench run).

One runner is started and the cell prepared once. After the cell's warm-up,
--rounds rounds run; in each, every arm (the sampler off, then each --hz rate)
runs ceil(--reps / --rounds) repetitions, and the arms' order rotates by one
from round to round so that drift of the machine falls on every arm alike.
An arm with a rate samples the runner's GPU through NVML during its
repetitions (a session per round, as ssmbench run does per cell); the off arm
samples nothing.

For each arm: the median step time and its 95% confidence interval. For each
rate, against the off arm: the difference of the medians in percent, the
Hodges-Lehmann shift with its distribution-free 95% interval, the
Mann-Whitney U p-value, the sampler's achieved rate and the mean time of one
sample's NVML queries. Verdict: PASS iff the shift's 95% interval lies
strictly inside (-T, +T), T = --threshold percent (0.5 by default); FAIL
otherwise, saying whether the difference is real or merely not shown to be
small (then more repetitions or a quieter machine would decide).

  ssmbench overhead specs/fig1-gpu.yaml --cell 3
  ssmbench overhead specs/tiny-cpu.yaml --reps 30 --hz 100 --out results/overhead --json

--json prints every number as JSON instead of the table. --out DIR writes
overhead.parquet (one row per repetition: arm, hz, round, rep, seq, at,
latency_ms), overhead.json (the summary, the cell, the runner's hello and
replies, the GPU environment, every session's telemetry aggregate),
telemetry.parquet (the sessions' samples) and runner.log.

Without NVML, or with a runner that is not on a CUDA GPU, the arms still run
(all with the sampler effectively off) and a warning says the rates could
not be sampled; the numbers then show the noise of the measurement alone.

Exit status: 0 when the experiment ran and every --gate rate (100 Hz by
default) passed or could not be sampled, 3 when a gate rate sampled and
FAILed, 2 for bad flags or a bad spec, 1 when the runner failed.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := overhead.Arms(rates); err != nil {
					return usageErr(fmt.Errorf("--%w", err))
				}
				for _, g := range gate {
					if !slices.Contains(rates, g) {
						return usageErr(fmt.Errorf("--gate: %v Hz is not among --hz", g))
					}
				}
				switch {
				case reps < 1:
					return usageErr(fmt.Errorf("--reps: %d, need at least 1", reps))
				case rounds < 1 || rounds > reps:
					return usageErr(fmt.Errorf("--rounds: %d, need 1..--reps (%d)", rounds, reps))
				case !(threshold > 0):
					return usageErr(fmt.Errorf("--threshold: %v, need a positive percentage", threshold))
				}
				s, err := spec.Load(args[0])
				if err != nil {
					return usageErr(err)
				}
				c, err := overhead.PickCell(engine.Plan(s), cell)
				if err != nil {
					return usageErr(fmt.Errorf("%s: %w", args[0], err))
				}
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				eopts := engine.Options{CPUWorker: []string{exe, "worker", "cpu"}, Argv: os.Args, Version: version}
				o := overhead.Options{Rates: rates, Reps: reps, Rounds: rounds, ThresholdPct: threshold, Progress: stdio.Err}
				var logs []io.Writer
				if verbose {
					logs = append(logs, stdio.Err)
				}
				if out != "" {
					if err := os.MkdirAll(out, 0o755); err != nil {
						return err
					}
					f, err := os.Create(filepath.Join(out, "runner.log"))
					if err != nil {
						return err
					}
					defer f.Close()
					logs = append(logs, f)
				}
				o.Log = io.MultiWriter(logs...)
				if c.Phase != "decode" {
					fmt.Fprintf(stdio.Err, "ssmbench overhead: note: cell %d is a %s cell, not a decode cell\n", c.Index, c.Phase)
				}
				fmt.Fprintf(stdio.Err, "ssmbench overhead: cell %d: %s; arms off, %s; %d rounds of %d reps each\n",
					c.Index, c, joinRates(rates), rounds, overhead.RepsPerRound(reps, rounds))
				res, err := overhead.Run(ctx, s, eopts, c, o)
				if err != nil {
					return err
				}
				if out != "" {
					if err := res.WriteFiles(out); err != nil {
						return err
					}
				}
				if asJSON {
					err = res.WriteJSON(stdio.Out)
				} else {
					err = res.WriteTable(stdio.Out)
				}
				if err != nil {
					return err
				}
				if out != "" {
					fmt.Fprintf(stdio.Err, "ssmbench overhead: results in %s\n", out)
				}
				if failed := res.Failed(gate); len(failed) > 0 {
					var names []string
					for _, f := range failed {
						names = append(names, f.Arm)
					}
					return withCode(ExitRegression, fmt.Errorf("sampler overhead: %s FAILed against ±%g%% (see the table)", strings.Join(names, ", "), threshold))
				}
				return nil
			},
		}
		f := cmd.Flags()
		f.IntVar(&cell, "cell", -1, "index of the cell in the spec's plan (default: the first decode cell)")
		f.IntVar(&reps, "reps", overhead.DefaultReps, "measured repetitions per arm, at least")
		f.IntVar(&rounds, "rounds", overhead.DefaultRounds, "rounds; the arms' order rotates each round")
		f.Float64SliceVar(&rates, "hz", overhead.DefaultRates, "sampling rates to compare with the sampler off")
		f.Float64SliceVar(&gate, "gate", []float64{100}, "rates whose FAIL makes the exit status 3")
		f.Float64Var(&threshold, "threshold", overhead.DefaultThresholdPct, "T in percent: PASS iff the shift's 95% CI lies inside (-T, +T)")
		f.StringVar(&out, "out", "", "write overhead.parquet, overhead.json, telemetry.parquet and runner.log into this directory")
		f.BoolVar(&asJSON, "json", false, "print all the numbers as JSON instead of the table")
		f.BoolVarP(&verbose, "verbose", "v", false, "copy the runner's stderr to stderr")
		return cmd
	})
}

func joinRates(rates []float64) string {
	var s []string
	for _, r := range rates {
		s = append(s, overhead.ArmName(r))
	}
	return strings.Join(s, ", ")
}
