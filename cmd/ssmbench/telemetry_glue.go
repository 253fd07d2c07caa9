package main

import (
	"io"

	"github.com/ssmbench/ssmbench/bench/engine"
)

// telemetryCloser is an engine.Telemetry that must be closed.
type telemetryCloser interface {
	engine.Telemetry
	Close() error
}

// openTelemetry returns the NVML sampler for the run, or nil when the
// machine has no NVML (said once on w).
func openTelemetry(w io.Writer, e *engine.Engine) telemetryCloser {
	return nil // wired to bench/telemetry once it lands
}
