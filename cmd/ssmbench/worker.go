package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/runners/cpu"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		return &cobra.Command{
			Use:   "worker cpu",
			Short: "Run a measurement runner on stdin/stdout (the engine starts it)",
			Long: `Run the pure-Go CPU reference runner ("cpu-ref"), speaking the runner
protocol (runners/protocol/PROTOCOL.md) on stdin and stdout, until a shutdown
request or the end of input. The engine starts it; a person does not need to.`,
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 || args[0] != "cpu" {
					return usageErr(fmt.Errorf("worker: want exactly one argument, \"cpu\" (the PyTorch worker lives in runners/torch)"))
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				return cpu.Serve(stdio.In, stdio.Out)
			},
		}
	})
}
