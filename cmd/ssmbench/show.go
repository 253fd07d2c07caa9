package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/reports"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var asJSON, cells, markdown, memory bool
		cmd := &cobra.Command{
			Use:   "show RUN_DIR",
			Short: "Print a run's summary table (or its cells, or JSON)",
			Long: `Print the results of a run directory.

By default one table per (phase, profile, dtype, batch, memory cap): a row per
context length, a column per variant with the median latency and the
half-width of its 95% confidence interval, then the memory of each variant
(allocator peak on GPU runners, Go heap peak on the CPU runner).
--cells prints one line per cell instead; --memory compares the memory
methods per cell (allocator peak, reserve, NVML per-process and device peaks,
analytic); --json prints the manifest and every cell row as JSON.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				run, err := results.ReadRun(args[0])
				if err != nil {
					return usageErr(err)
				}
				if asJSON {
					enc := json.NewEncoder(stdio.Out)
					enc.SetIndent("", "  ")
					return enc.Encode(struct {
						Manifest results.Manifest  `json:"manifest"`
						Cells    []results.CellRow `json:"cells"`
					}{run.Manifest, run.Cells})
				}
				f := reports.Text
				if markdown {
					f = reports.Markdown
				}
				m := run.Manifest
				fmt.Fprintf(stdio.Out, "run %s: %d of %d cells recorded, %v\n", m.RunID, len(run.Cells), m.Cells, m.StatusCounts)
				for _, r := range m.Runners {
					fmt.Fprintf(stdio.Out, "runner %s %s on %v\n", r.Name, r.Version, r.Device["name"])
				}
				fmt.Fprintln(stdio.Out)
				if cells {
					return reports.Cells(stdio.Out, run.Cells, f)
				}
				if memory {
					return reports.MemoryMethods(stdio.Out, run.Cells, f)
				}
				return reports.Summary(stdio.Out, run.Cells, f)
			},
		}
		cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest and all cell rows as JSON")
		cmd.Flags().BoolVar(&cells, "cells", false, "one line per cell instead of the summary tables")
		cmd.Flags().BoolVar(&markdown, "markdown", false, "Markdown tables")
		cmd.Flags().BoolVar(&memory, "memory", false, "compare the memory methods per cell")
		return cmd
	})
}
