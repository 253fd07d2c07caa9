package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ssmbench/ssmbench/bench/telemetry"
)

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var asJSON, env bool
		cmd := &cobra.Command{
			Use:   "gpu",
			Short: "Print the GPUs and their current state, from NVML",
			Long: `Print every NVIDIA GPU NVML shows and its current state: memory used and
total, SM and memory clocks, power draw and limit, temperature, utilisation,
clocks-event (throttle) reasons, and the processes on it with their PID and
GPU memory. --json prints the same as JSON; --env prints the static
description recorded in a run's manifest (driver and CUDA versions, VBIOS,
power limits, application and maximum clocks, persistence, ECC and MIG modes,
PCIe link, NVLink) as JSON.

On a machine without NVML (no NVIDIA driver, or no GPU) it prints one line
saying why on stderr and exits 0: having no GPU is not an error. With --json
or --env it also prints {"available": false, "reason": ...} on stdout.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				m, err := telemetry.Open(telemetry.Options{})
				if err != nil {
					return err
				}
				defer m.Close()
				if !m.Available() {
					fmt.Fprintf(stdio.Err, "ssmbench gpu: no GPU telemetry: %s\n", m.Reason())
					if !asJSON && !env {
						return nil
					}
				}
				if env {
					enc := json.NewEncoder(stdio.Out)
					enc.SetIndent("", "  ")
					return enc.Encode(m.Environment())
				}
				st := m.State()
				if asJSON {
					return st.WriteJSON(stdio.Out)
				}
				return st.WriteText(stdio.Out)
			},
		}
		cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
		cmd.Flags().BoolVar(&env, "env", false, "print the static environment (manifest form) as JSON")
		return cmd
	})
}
