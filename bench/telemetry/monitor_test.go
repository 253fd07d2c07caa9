package telemetry

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/parquet-go/parquet-go"

	"github.com/ssmbench/ssmbench/bench/telemetry/nvmlfake"
)

func TestOpenUnavailable(t *testing.T) {
	noLib := nvmlfake.New(1)
	noLib.FailInit(nvml.ERROR_LIBRARY_NOT_FOUND)
	noDriver := nvmlfake.New(1)
	noDriver.FailInit(nvml.ERROR_DRIVER_NOT_LOADED)
	tests := []struct {
		name   string
		lib    nvml.Interface
		reason string
	}{
		{"no library", noLib, "libnvidia-ml.so.1 not found"},
		{"no kernel driver", noDriver, "kernel driver not loaded"},
		{"no GPU", dgxh200.NewWithGPUs(), "NVML reports no GPU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(Options{Lib: tc.lib})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Available() || !strings.Contains(m.Reason(), tc.reason) {
				t.Fatalf("Available %v, Reason %q; want false, %q", m.Available(), m.Reason(), tc.reason)
			}
			s := m.Begin("c", os.Getpid(), 0)
			s.StartWindow()
			s.EndWindow(5)
			a, samples := s.End()
			if !reflect.DeepEqual(a, Aggregate{}) || samples != nil {
				t.Errorf("inert session gave %+v, %d samples", a, len(samples))
			}
			env := m.Environment()
			if env.Available || env.Reason != m.Reason() || env.Devices != nil {
				t.Errorf("environment %+v", env)
			}
			var buf bytes.Buffer
			if err := m.State().WriteText(&buf); err != nil || !strings.HasPrefix(buf.String(), "no GPU telemetry: ") {
				t.Errorf("state text %q, %v", buf.String(), err)
			}
		})
	}
}

// TestOpenReal uses the real NVML. On a machine without a driver it must
// report unavailable, with a reason, and not fail.
func TestOpenReal(t *testing.T) {
	m, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Available() {
		t.Skipf("a GPU is present (%d devices): nothing to check here", m.DeviceCount())
	}
	if m.Reason() == "" {
		t.Error("unavailable without a reason")
	}
	t.Logf("reason: %s", m.Reason())
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		hz      float64
	}{
		{"default rate", Options{}, "", DefaultHz},
		{"1000 Hz", Options{Hz: 1000}, "", 1000},
		{"negative rate", Options{Hz: -1}, "Hz -1 outside", 0},
		{"too fast", Options{Hz: 20000}, "Hz 20000 outside", 0},
		{"negative SlowEvery", Options{SlowEvery: -2}, "SlowEvery -2", 0},
		{"negative MaxSamples", Options{MaxSamples: -1}, "MaxSamples -1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Lib = nvmlfake.New(1)
			m, err := Open(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Hz() != tc.hz {
				t.Errorf("Hz %v, want %v", m.Hz(), tc.hz)
			}
			if want := max(1, int(tc.hz+99)/100); m.opts.SlowEvery != want {
				t.Errorf("SlowEvery %d, want %d", m.opts.SlowEvery, want)
			}
		})
	}
}

func TestBeginBadDevice(t *testing.T) {
	m, err := Open(Options{Lib: nvmlfake.New(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, samples := m.Begin("c", 1, 7).End()
	if len(samples) != 0 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "GPU 7: NVML DeviceGetHandleByIndex: ERROR_INVALID_ARGUMENT") {
		t.Errorf("got %+v", a)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	h := newHarness(t, fakeProc(t, standardProcs), nil)
	s := h.m.Begin("c", 100, 0)
	h.tickAt(10)
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	a, samples := s.End() // already ended by Close: same values again
	if len(samples) != 3 || deref(a.TelemetrySamples) != int64(3) {
		t.Errorf("after Close: %d rows, %v samples", len(samples), deref(a.TelemetrySamples))
	}
	if a2, s2 := s.End(); !reflect.DeepEqual(a, a2) || len(s2) != len(samples) {
		t.Error("End is not idempotent")
	}
	if a := h.m.Begin("d", 100, 0); len(a.result.Warnings) != 1 {
		t.Errorf("Begin after Close: %+v", a.result)
	}
	if err := h.m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRealTicker samples with the real ticker at 1000 Hz until the fake
// has answered 50 samples; it checks the path, not the rate (the test
// machine is shared).
func TestRealTicker(t *testing.T) {
	fake := nvmlfake.New(1)
	m, err := Open(Options{Lib: fake, Hz: 1000, ProcRoot: fakeProc(t, standardProcs)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := fake.Devices[0]
	d.Script(busy(proc(100, 1000)))
	s := m.Begin("c", 100, 0)
	s.StartWindow()
	deadline := time.Now().Add(20 * time.Second)
	for d.Calls("GetComputeRunningProcesses") < 50 {
		if time.Now().After(deadline) {
			t.Fatal("the sampler took fewer than 50 samples in 20 s")
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for a result
	}
	s.EndWindow(1)
	a, samples := s.End()
	if len(samples) < 50 || a.TelemetryHzAchieved == nil || *a.TelemetryHzAchieved <= 0 {
		t.Fatalf("%d samples, %v Hz", len(samples), deref(a.TelemetryHzAchieved))
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].Timestamp.Before(samples[i-1].Timestamp) {
			t.Fatalf("sample %d earlier than sample %d", i, i-1)
		}
	}
	// SlowEvery is 10 at 1000 Hz: most ticks read memory only.
	var full int
	for _, x := range samples {
		if x.PowerW != nil {
			full++
		}
	}
	if full >= len(samples)/2 {
		t.Errorf("%d of %d samples read power; want about one in 10", full, len(samples))
	}
	t.Logf("%d samples, %.0f Hz achieved, read %.1f us mean", len(samples), *a.TelemetryHzAchieved, deref(a.TelemetryReadUsMean))
}

// TestParquet writes samples and an Aggregate embedded in a cell row, and
// reads them back with their column names and types.
func TestParquet(t *testing.T) {
	h := newHarness(t, fakeProc(t, standardProcs), nil)
	h.fake.Devices[1].Script(cellScript()...)
	agg, samples := h.run(h.m.Begin("cell-1", 100, 1), cellActions)
	agg.Warnings = []string{"a warning"}

	dir := t.TempDir()
	sp := filepath.Join(dir, "telemetry.parquet")
	if err := parquet.WriteFile(sp, samples); err != nil {
		t.Fatal(err)
	}
	back, err := parquet.ReadFile[Sample](sp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, samples) {
		t.Errorf("samples differ after a round trip:\n%+v\n%+v", back[0], samples[0])
	}
	schema := parquet.SchemaOf(Sample{}).String()
	for _, col := range []string{"int64 timestamp (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))", "optional int64 process_mem_bytes", "optional double power_w", "optional int32 sm_clock_mhz"} {
		if !strings.Contains(schema, col) {
			t.Errorf("schema lacks %q:\n%s", col, schema)
		}
	}

	type cellRow struct {
		CellID string `parquet:"cell_id"`
		Aggregate
	}
	rows := []cellRow{{CellID: "gpu", Aggregate: agg}, {CellID: "cpu"}}
	cp := filepath.Join(dir, "cells.parquet")
	if err := parquet.WriteFile(cp, rows); err != nil {
		t.Fatal(err)
	}
	// Read back as a projection onto Aggregate: reading into a struct that
	// embeds it would turn nulls into zeros (parquet-go issue #163).
	gotAggs, err := parquet.ReadFile[Aggregate](cp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotAggs[0], agg) {
		t.Errorf("aggregate differs after a round trip:\n%+v\n%+v", gotAggs[0], agg)
	}
	if gotAggs[1].EnergyJ != nil || gotAggs[1].Isolated != nil || len(gotAggs[1].Warnings) != 0 {
		t.Errorf("CPU row should read back nulls: %+v", gotAggs[1])
	}
	generic, err := parquet.ReadFile[any](cp)
	if err != nil {
		t.Fatal(err)
	}
	m := generic[0].(map[string]any)
	for _, col := range []string{"cell_id", "nvml_process_mem_peak_bytes", "energy_j_per_token", "sm_clock_mhz_median", "throttled", "isolated", "telemetry_hz_achieved", "telemetry_warnings"} {
		if _, ok := m[col]; !ok {
			t.Errorf("cells.parquet has no column %q (columns: %v)", col, keys(m))
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BenchmarkSample measures one fast (memory-only) and one full sample
// against the fake NVML (which allocates on its own account).
func BenchmarkSample(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "memory"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			fake := nvmlfake.New(1)
			fake.Devices[0].Script(busy(proc(100, 1000), proc(101, 10)))
			dev, _ := fake.DeviceGetHandleByIndex(0)
			st := sessionState{opts: Options{MaxSamples: 1}, rd: newReader(dev), cls: newPIDClassifier(b.TempDir(), 100)}
			st.cls.ours[101] = true
			st.recs = make([]rec, 0, 1)
			b.ReportAllocs()
			for b.Loop() {
				st.take(kindTick, time.Time{}, full)
			}
		})
	}
}
