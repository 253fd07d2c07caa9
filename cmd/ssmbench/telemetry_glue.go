package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ssmbench/ssmbench/bench/engine"
	"github.com/ssmbench/ssmbench/bench/results"
	"github.com/ssmbench/ssmbench/bench/telemetry"
	"github.com/ssmbench/ssmbench/runners/protocol"
)

// nvmlTelemetry adapts a telemetry.Monitor to the engine: one sampling
// session per GPU cell, the aggregates into the cell row, the samples into
// telemetry.parquet.
type nvmlTelemetry struct {
	m       *telemetry.Monitor
	env     telemetry.Environment
	samples []telemetry.Sample
}

// openTelemetry returns the NVML sampler for the run, or nil when the
// machine has no NVML (said once on w, and recorded in the manifest).
func openTelemetry(w io.Writer, e *engine.Engine, hz float64) *nvmlTelemetry {
	m, err := telemetry.Open(telemetry.Options{Hz: hz})
	if err != nil {
		fmt.Fprintf(w, "ssmbench: telemetry off: %v\n", err)
		return nil
	}
	env := m.Environment()
	e.SetGPU(env)
	if !m.Available() {
		fmt.Fprintf(w, "ssmbench: no GPU telemetry: %s\n", m.Reason())
		m.Close()
		return nil
	}
	t := &nvmlTelemetry{m: m, env: env}
	// On resume keep the samples already written.
	if prev, err := results.ReadParquet[telemetry.Sample](filepath.Join(e.Dir, results.TelemetryFile)); err == nil {
		t.samples = prev
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(w, "ssmbench: earlier telemetry unreadable, starting a new file: %v\n", err)
	}
	return t
}

// Begin starts sampling the device the runner reported, found by UUID when
// the runner gave one (CUDA and NVML may number devices differently).
func (t *nvmlTelemetry) Begin(c engine.Cell, pid int, dev *protocol.DeviceInfo) engine.TelemetrySession {
	if dev == nil || dev.Kind != "cuda" {
		return nil
	}
	idx := dev.Index
	if dev.UUID != "" {
		for _, d := range t.env.Devices {
			if d.UUID == dev.UUID {
				idx = d.Index
			}
		}
	}
	return &nvmlSession{t: t, s: t.m.Begin(c.ID, pid, idx)}
}

// Flush writes every sample so far to path.
func (t *nvmlTelemetry) Flush(path string) error {
	if len(t.samples) == 0 {
		return nil
	}
	return results.WriteParquet(path, t.samples)
}

// Close ends NVML.
func (t *nvmlTelemetry) Close() error { return t.m.Close() }

type nvmlSession struct {
	t *nvmlTelemetry
	s *telemetry.Session
}

func (s *nvmlSession) StartWindow()         { s.s.StartWindow() }
func (s *nvmlSession) EndWindow(tokens int) { s.s.EndWindow(tokens) }

func (s *nvmlSession) End(row *results.CellRow) {
	agg, samples := s.s.End()
	row.Warnings = append(row.Warnings, agg.Warnings...)
	agg.Warnings = nil
	row.Aggregate = agg
	s.t.samples = append(s.t.samples, samples...)
}
