package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/spec"
	"github.com/ssmbench/ssmbench/reports"
	"github.com/ssmbench/ssmbench/specs"
)

// version is the harness version recorded in every manifest.
const version = "0.1.0"

func init() {
	register(func(ctx context.Context, stdio *Stdio) *cobra.Command {
		var resume, output string
		var auto, retry, noTelemetry, dryRun bool
		var hz float64
		cmd := &cobra.Command{
			Use:   "run [SPEC.yaml]",
			Short: "Run a sweep (or resume one) and print its summary",
			Long: `Run the sweep a spec describes, writing results/<run-id>/ (cells.parquet,
samples.parquet, telemetry.parquet, manifest.json, runner.log) after every cell.

  ssmbench run specs/tiny-cpu.yaml      run a spec
  ssmbench run --auto                   the main job: the GPU reference sweep when a CUDA GPU and
                                        the PyTorch worker are usable here, else the CPU tiny sweep
  ssmbench run --resume results/ID     finish an interrupted sweep (at most the cell in flight is redone)

Exit status: 0 when every cell was attempted (cells that ran out of memory or
failed are results, shown in the table), 2 for a bad spec, 130 when
interrupted, 1 when the harness itself failed.`,
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts := engine.Options{Argv: os.Args, Version: version, RetryFailed: retry}
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				opts.CPUWorker = []string{exe, "worker", "cpu"}
				opts.Progress = engine.NewProgress(stdio.Err, isTerminal(stdio.Err) && os.Getenv("CI") == "")
				var e *engine.Engine
				switch {
				case resume != "":
					if len(args) > 0 || auto {
						return usageErr(errors.New("--resume takes no spec and no --auto: the spec is read from the run's manifest"))
					}
					if e, err = engine.Resume(resume, opts); err != nil {
						return usageErr(err)
					}
				default:
					s, err := loadSpec(stdio.Err, args, auto)
					if err != nil {
						return err
					}
					if output != "" {
						s.Output = output
					}
					if dryRun {
						for _, c := range engine.Plan(s) {
							fmt.Fprintf(stdio.Out, "%4d  %s  %s\n", c.Index, c.ID, c)
						}
						return nil
					}
					if e, err = engine.New(s, opts); err != nil {
						return err
					}
				}
				if !noTelemetry {
					if t := openTelemetry(stdio.Err, e, hz); t != nil {
						e.Opts.Telemetry = t
						defer t.Close()
					}
				}
				fmt.Fprintf(stdio.Err, "ssmbench: %d cells -> %s\n", len(e.Cells()), e.Dir)
				sum, err := e.Run(ctx)
				if sum != nil {
					if run, rerr := results.ReadRun(e.Dir); rerr == nil && len(run.Cells) > 0 {
						fmt.Fprintln(stdio.Out)
						_ = reports.Summary(stdio.Out, run.Cells, reports.Text)
						fmt.Fprintf(stdio.Out, "\nresults: %s\n", e.Dir)
					}
				}
				if err != nil {
					if engine.IsInterrupted(err) {
						return withCode(ExitInterrupt, err)
					}
					return err
				}
				return nil
			},
		}
		f := cmd.Flags()
		f.StringVar(&resume, "resume", "", "resume the interrupted run in this directory")
		f.BoolVar(&auto, "auto", false, "pick the shipped spec for this machine (GPU sweep, else CPU tiny sweep)")
		f.BoolVar(&retry, "retry-failed", false, "with --resume: redo cells that timed out, crashed or failed")
		f.BoolVar(&dryRun, "dry-run", false, "print the planned cells in order, with their index and ID, and run nothing")
		f.BoolVar(&noTelemetry, "no-telemetry", false, "do not sample the GPU through NVML")
		f.Float64Var(&hz, "telemetry-hz", 100, "NVML sampling rate beside GPU cells")
		f.StringVar(&output, "output", "", "results root directory (overrides the spec's output)")
		return cmd
	})
}

// loadSpec reads the spec named in args, or with auto the shipped spec that
// suits this machine.
func loadSpec(w io.Writer, args []string, auto bool) (*spec.Spec, error) {
	if auto == (len(args) == 1) {
		return nil, usageErr(errors.New("give a spec file or --auto (not both)"))
	}
	if len(args) == 1 {
		s, err := spec.Load(args[0])
		if err != nil {
			return nil, usageErr(err)
		}
		return s, nil
	}
	name, why := autoSpec()
	fmt.Fprintf(w, "ssmbench: --auto: %s -> specs/%s\n", why, name)
	data, err := specs.FS.ReadFile(name)
	if err != nil {
		return nil, err
	}
	s, err := spec.Parse("specs/"+name+" (built in)", data)
	if err != nil {
		return nil, usageErr(err)
	}
	return s, nil
}

// autoSpec picks the GPU reference sweep when NVML sees a GPU and the
// PyTorch worker's python has CUDA; else the CPU tiny sweep.
func autoSpec() (name, why string) {
	n, err := nvmlDeviceCount()
	if err != nil || n == 0 {
		return "tiny-cpu.yaml", "no NVIDIA GPU found (" + errText(err, "0 devices") + "), using the CPU reference runner"
	}
	py := os.Getenv("SSMBENCH_PYTHON")
	if py == "" {
		py = "python3"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec.CommandContext(ctx, py, "-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)").Run(); err != nil {
		return "tiny-cpu.yaml", fmt.Sprintf("%d GPU(s) but %s has no CUDA-enabled torch, using the CPU reference runner", n, py)
	}
	return "fig1-gpu.yaml", fmt.Sprintf("%d GPU(s) and a CUDA-enabled torch", n)
}

func errText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

func nvmlDeviceCount() (int, error) {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		return 0, fmt.Errorf("NVML: %v", ret)
	}
	defer nvml.Shutdown()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return 0, fmt.Errorf("NVML: %v", ret)
	}
	return n, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
