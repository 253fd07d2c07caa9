package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes. A finding (a regression, a failed claim check) is not a crash.
const (
	ExitOK         = 0   // everything ran
	ExitError      = 1   // the harness failed (I/O, runner could not start, ...)
	ExitUsage      = 2   // bad input: flags, spec, config, dataset or results file
	ExitRegression = 3   // a comparison found a regression or a claim check failed
	ExitInterrupt  = 130 // interrupted by a signal; results so far are kept
)

// Stdio is the process's standard streams, injected so tests can drive the
// CLI in-process.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as bad input (exit 2).
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: ExitUsage, err: err}
}

// withCode marks err with an exit code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// subcommands are added by the files of this package, each in an init func,
// so that commands live in files of their own.
var subcommands []func(ctx context.Context, io *Stdio) *cobra.Command

func register(f func(ctx context.Context, io *Stdio) *cobra.Command) {
	subcommands = append(subcommands, f)
}

func newRoot(ctx context.Context, stdio *Stdio) *cobra.Command {
	root := &cobra.Command{
		Use:           "ssmbench",
		Short:         "Benchmark and evaluate mmMamba-linear, mmMamba-hybrid and HoVLE",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	for _, f := range subcommands {
		root.AddCommand(f(ctx, stdio))
	}
	return root
}

// Main runs the CLI with args and returns the exit code.
func Main(ctx context.Context, stdio *Stdio, args []string) int {
	root := newRoot(ctx, stdio)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stdio.Err, "ssmbench:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupt
	}
	// cobra's own argument errors (unknown command, wrong arg count) are usage errors.
	if isCobraUsage(err) {
		return ExitUsage
	}
	return ExitError
}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
