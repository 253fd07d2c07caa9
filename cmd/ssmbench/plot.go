package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/reports"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var out, formats string
		var noSeed bool
		cmd := &cobra.Command{
			Use:   "plot RUN_DIR [RUN_DIR...]",
			Short: "Draw the decode latency and memory charts of runs (paper-ready PNG, SVG, PDF)",
			Long: `Draw decode latency (median with its 95% CI) and decode-step memory against
context, one line per variant and profile (solid: paper or reference
profile, dashed: matched), for the cells at batch 1 without a memory cap.
When the runs hold the full-size models, the seed paper's Fig. 1 values are
drawn dotted beside them. Writes OUT/decode-latency.EXT and
OUT/decode-memory.EXT for each format (PNG at 200 dpi, SVG with embedded
fonts, PDF).`,
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
				if out == "" {
					out = args[0]
				}
				if err := os.MkdirAll(out, 0o755); err != nil {
					return err
				}
				for _, metric := range []string{reports.ChartLatency, reports.ChartMemory} {
					p, err := reports.DecodeChart(rows, metric, !noSeed)
					if err != nil {
						return usageErr(err)
					}
					for _, f := range strings.Split(formats, ",") {
						path := filepath.Join(out, "decode-"+metric+"."+strings.TrimSpace(f))
						if err := reports.SavePlot(path, p); err != nil {
							return usageErr(err)
						}
						fmt.Fprintln(stdio.Out, path)
					}
				}
				return nil
			},
		}
		cmd.Flags().StringVar(&out, "out", "", "output directory (default: the first run directory)")
		cmd.Flags().StringVar(&formats, "format", "png,svg,pdf", "comma-separated formats: png, svg, pdf")
		cmd.Flags().BoolVar(&noSeed, "no-seed", false, "do not draw the seed paper's Fig. 1 values")
		return cmd
	})
}
