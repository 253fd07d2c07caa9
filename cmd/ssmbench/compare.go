package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/reports"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		o := reports.DefaultCompareOptions
		var markdown bool
		cmd := &cobra.Command{
			Use:   "compare OLD_RUN NEW_RUN",
			Short: "Compare two runs cell by cell and flag regressions (for nightly runs)",
			Long: `Compare the cells two runs share (matched by variant, phase, context, batch,
profile, dtype and memory cap).

Latency: the measured repetitions of each cell are compared with a
Mann-Whitney U test, as benchstat does; the Benjamini-Hochberg procedure keeps
the false-discovery rate over all cells at --alpha; a significant change is
reported as better or worse only when it exceeds --min-latency (the
practical-effect floor, 3% by default), so a noisy machine does not cry wolf.
Memory is compared as an exact value with its own floor (--min-memory, 1%).
A cell that ran before and fails now is worse.

Exit status 3 when anything got worse (a finding, not a crash).`,
			Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				old, err := results.ReadRun(args[0])
				if err != nil {
					return usageErr(err)
				}
				new, err := results.ReadRun(args[1])
				if err != nil {
					return usageErr(err)
				}
				if o.Alpha <= 0 || o.Alpha >= 1 || o.MinLatencyDelta < 0 || o.MinMemoryDelta < 0 {
					return usageErr(errors.New("--alpha must be in (0, 1) and the floors >= 0"))
				}
				ds := reports.Compare(old, new, o)
				if len(ds) == 0 {
					return usageErr(errors.New("the two runs have no cell in common"))
				}
				f := reports.Text
				if markdown {
					f = reports.Markdown
				}
				if err := reports.WriteCompare(stdio.Out, ds, f); err != nil {
					return err
				}
				if reports.Regressed(ds) {
					return withCode(ExitRegression, errors.New("regression found"))
				}
				return nil
			},
		}
		f := cmd.Flags()
		f.Float64Var(&o.Alpha, "alpha", o.Alpha, "false-discovery rate over all cells")
		f.Float64Var(&o.MinLatencyDelta, "min-latency", o.MinLatencyDelta, "smallest relative latency change that counts")
		f.Float64Var(&o.MinMemoryDelta, "min-memory", o.MinMemoryDelta, "smallest relative memory change that counts")
		f.BoolVar(&markdown, "markdown", false, "Markdown table")
		return cmd
	})
}
