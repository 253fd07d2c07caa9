// Command ssmbench measures and evaluates linear-complexity multimodal models
// (mmMamba-linear, mmMamba-hybrid) against the transformer they were
// distilled from (HoVLE). See the README for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, &Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
