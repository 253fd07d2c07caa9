package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/runners/cpu"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var out string
		cmd := &cobra.Command{
			Use:   "parity-fixture --out DIR",
			Short: "Write the CPU reference's parity fixtures for the tiny configs",
			Long: `Write, for each tiny config (hovle-tiny, mmmamba-linear-tiny,
mmmamba-hybrid-tiny), DIR/<variant>/ holding config.json, model.safetensors
(fp32 random weights from a fixed seed, under the real parameter names) and
expected.safetensors (tokens, prefill_logits, decode_tokens, decode_logits)
computed by the pure-Go reference. The committed copies live in
runners/cpu/testdata/parity; regenerate them with
  ssmbench parity-fixture --out runners/cpu/testdata/parity`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if out == "" {
					return usageErr(errors.New("parity-fixture: --out DIR is required"))
				}
				if err := cpu.WriteParityFixtures(out); err != nil {
					return err
				}
				for _, v := range cpu.ParityVariants {
					fmt.Fprintf(stdio.Out, "wrote %s/%s\n", out, v)
				}
				return nil
			},
		}
		cmd.Flags().StringVar(&out, "out", "", "directory to write the fixtures into (created if needed)")
		return cmd
	})
}
