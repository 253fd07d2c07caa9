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
		var markdown bool
		cmd := &cobra.Command{
			Use:   "claim RUN_DIR [RUN_DIR...]",
			Short: "Compare runs with the mmMamba paper's Fig. 1 claim and the reference targets",
			Long: `Read one or more run directories (e.g. the main sweep and the 24 GiB-cap sweep)
and print: the headline speedups and memory savings at 103K tokens for the
paper and matched profiles; the decode latency and memory beside the seed's
Fig. 1 for each profile; and every target with its verdict.

Exit status 3 when a target fails (a finding, not a crash); targets with no
cells are reported as MISSING and do not fail.`,
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var rows []results.CellRow
				for _, dir := range args {
					run, err := results.ReadRun(dir)
					if err != nil {
						return usageErr(err)
					}
					rows = append(rows, run.Cells...)
				}
				f := reports.Text
				if markdown {
					f = reports.Markdown
				}
				rep, err := reports.WriteClaim(stdio.Out, rows, f)
				if err != nil {
					return err
				}
				if rep.Failed() {
					return withCode(ExitRegression, errors.New("some targets failed (see the table)"))
				}
				return nil
			},
		}
		cmd.Flags().BoolVar(&markdown, "markdown", false, "Markdown tables")
		return cmd
	})
}
