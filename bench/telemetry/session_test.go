package telemetry

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/ssmbench/ssmbench/bench/telemetry/nvmlfake"
)

const mib = 1 << 20

// busy is a reading of a GPU at work, to be adjusted per step.
func busy(procs ...nvml.ProcessInfo) nvmlfake.Reading {
	var used uint64 = 600 * mib // the driver's share, as seen on the H200
	for _, p := range procs {
		used += p.UsedGpuMemory
	}
	return nvmlfake.Reading{ComputeProcs: procs, MemUsedBytes: used, PowerMW: 450000, PowerInstantMW: 480000,
		SMClockMHz: 1980, MemClockMHz: 3201, TempC: 50, UtilGPU: 90, UtilMem: 60}
}

func with(r nvmlfake.Reading, f func(*nvmlfake.Reading)) nvmlfake.Reading { f(&r); return r }

// A full cell: begin, two ticks, a window with two ticks, a tick, end.
var cellActions = []action{
	{kind: "tick", ms: 10}, {kind: "tick", ms: 20},
	{kind: "start", ms: 25}, {kind: "tick", ms: 30}, {kind: "tick", ms: 40}, {kind: "stop", ms: 45, tokens: 100},
	{kind: "tick", ms: 50}, {kind: "end", ms: 60},
}

// cellScript has one Reading per sample of cellActions (begin first).
func cellScript() []nvmlfake.Reading {
	idle := nvmlfake.Reading{MemUsedBytes: 600 * mib, PowerMW: 90000, PowerInstantMW: 90000, SMClockMHz: 345, MemClockMHz: 3201,
		ClocksEventReasons: nvml.ClocksEventReasonGpuIdle, TempC: 30}
	energy := func(r nvmlfake.Reading, mj uint64) nvmlfake.Reading { r.EnergyMJ = mj; return r }
	return []nvmlfake.Reading{
		energy(idle, 1000), // begin
		energy(busy(proc(100, 600)), 2000),
		energy(busy(proc(100, 2000), proc(101, 500)), 3000), // the child appears
		with(energy(busy(proc(100, 3000), proc(101, 1000)), 5000), func(r *nvmlfake.Reading) { r.PowerMW = 400000 }), // window start
		with(energy(busy(proc(100, 3000), proc(101, 1000), proc(102, 200)), 6000), func(r *nvmlfake.Reading) {
			r.PowerMW, r.PowerInstantMW, r.SMClockMHz, r.TempC = 500000, 650000, 1900, 60
		}),
		with(energy(busy(proc(100, 3000), proc(101, 1500)), 7500), func(r *nvmlfake.Reading) {
			r.PowerMW, r.SMClockMHz, r.TempC = 600000, 1950, 65
		}),
		energy(busy(proc(100, 3000), proc(101, 1000)), 9000), // window end
		with(energy(busy(proc(100, 5000)), 9500), func(r *nvmlfake.Reading) { r.TempC = 70 }),
		energy(busy(proc(100, 1000)), 9900), // end
	}
}

func TestSessionCell(t *testing.T) {
	h := newHarness(t, fakeProc(t, standardProcs), nil)
	h.fake.Devices[1].Script(cellScript()...)
	s := h.m.Begin("cell-1", 100, 1)
	agg, samples := h.run(s, cellActions)

	checks := []struct {
		name string
		got  any
		want any
	}{
		{"process peak", deref(agg.NVMLProcessMemPeakBytes), int64(5000 * mib)},
		{"window process peak (children included)", deref(agg.NVMLProcessMemWindowPeakBytes), int64(4500 * mib)},
		{"device peak", deref(agg.NVMLDeviceMemPeakBytes), int64(5600 * mib)},
		{"matched", deref(agg.NVMLProcessMatched), true},
		{"energy J", deref(agg.EnergyJ), 4.0},
		{"J/token", deref(agg.EnergyJPerToken), 0.04},
		{"window s", round(deref(agg.TelemetryWindowS)), 0.02},
		{"tokens", deref(agg.TelemetryWindowTokens), int64(100)},
		{"power mean (window)", deref(agg.PowerWMean), 487.5},
		{"power max (window)", deref(agg.PowerWMax), 600.0},
		{"instant power max", deref(agg.PowerInstantWMax), 650.0},
		{"SM min", deref(agg.SMClockMHzMin), 1900.0},
		{"SM median", deref(agg.SMClockMHzMedian), 1965.0},
		{"mem clock median", deref(agg.MemClockMHzMedian), 3201.0},
		{"temp max (window, not the 70 after it)", deref(agg.TempCMax), int32(65)},
		{"util mean", deref(agg.GPUUtilPctMean), 90.0},
		{"throttled", deref(agg.Throttled), false},
		{"reasons", deref(agg.ThrottleReasons), ""},
		{"isolated", deref(agg.Isolated), true},
		{"samples", deref(agg.TelemetrySamples), int64(9)},
		{"hz achieved (5 ticks in 60 ms)", round(deref(agg.TelemetryHzAchieved)), round(5 / 0.060)},
		{"scope", deref(agg.TelemetryScope), "window"},
		{"uuid", deref(agg.NVMLGPUUUID), "GPU-00000000-0000-0000-0000-000000000001"},
		{"warnings", len(agg.Warnings), 0},
		{"rows", len(samples), 9},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
	if t.Failed() {
		t.Logf("warnings: %q", agg.Warnings)
	}
	kinds := make([]string, len(samples))
	for i, s := range samples {
		kinds[i] = s.Kind
	}
	if want := []string{"begin", "tick", "tick", "window_start", "tick", "tick", "window_end", "tick", "end"}; !slices.Equal(kinds, want) {
		t.Errorf("sample kinds %v, want %v", kinds, want)
	}
	if samples[3].ProcessCount != 2 || samples[4].ProcessCount != 3 || !samples[4].InWindow || samples[7].InWindow {
		t.Errorf("process counts / window flags wrong: %+v %+v %+v", samples[3], samples[4], samples[7])
	}
	if samples[0].ProcessMemBytes == nil || *samples[0].ProcessMemBytes != 0 {
		t.Errorf("begin sample: runner not yet on the GPU should read 0 bytes, got %v", samples[0].ProcessMemBytes)
	}
	a, rows := stable(agg, samples)
	golden(t, "cell_aggregate.json", a)
	golden(t, "cell_samples.json", rows)
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func round(v any) any {
	if f, ok := v.(float64); ok {
		return math.Round(f*1e6) / 1e6
	}
	return v
}

// TestSessionFlags runs short scenarios that each raise one flag.
func TestSessionFlags(t *testing.T) {
	procs := standardProcs
	window := []action{{kind: "start", ms: 0}, {kind: "tick", ms: 10}, {kind: "stop", ms: 20, tokens: 10}, {kind: "end", ms: 30}}
	// Four samples: begin, window start, tick, window end, end = five.
	five := func(f func(i int, r *nvmlfake.Reading)) []nvmlfake.Reading {
		out := make([]nvmlfake.Reading, 5)
		for i := range out {
			out[i] = busy(proc(100, 1000))
			out[i].EnergyMJ = uint64(1000 * (i + 1))
			f(i, &out[i])
		}
		return out
	}
	tests := []struct {
		name   string
		root   int
		tweak  func(*Options)
		fail   map[string]nvml.Return
		script []nvmlfake.Reading
		acts   []action
		check  func(t *testing.T, a Aggregate, s []Sample)
	}{
		{
			name:   "energy counter going backwards is dropped with a warning",
			root:   100,
			script: five(func(i int, r *nvmlfake.Reading) { r.EnergyMJ = uint64(10000 - 1000*i) }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if a.EnergyJ != nil || a.EnergyJPerToken != nil {
					t.Errorf("energy %v, J/token %v: want null", deref(a.EnergyJ), deref(a.EnergyJPerToken))
				}
				wantWarning(t, a, "energy counter went backwards over window 1 (9000 mJ to 7000 mJ)")
			},
		},
		{
			name:   "energy counter not supported",
			root:   100,
			fail:   map[string]nvml.Return{"GetTotalEnergyConsumption": nvml.ERROR_NOT_SUPPORTED},
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   window,
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if a.EnergyJ != nil || s[2].EnergyCounterJ != nil {
					t.Errorf("energy should be null")
				}
				wantWarning(t, a, "GetTotalEnergyConsumption not available (ERROR_NOT_SUPPORTED)")
			},
		},
		{
			name:   "energy counter that does not move",
			root:   100,
			script: five(func(i int, r *nvmlfake.Reading) { r.EnergyMJ = 5000 }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.EnergyJ) != 0.0 {
					t.Errorf("energy %v, want 0", deref(a.EnergyJ))
				}
				wantWarning(t, a, "energy counter did not advance")
			},
		},
		{
			name:   "idle reason does not flag",
			root:   100,
			script: five(func(i int, r *nvmlfake.Reading) { r.ClocksEventReasons = nvml.ClocksEventReasonGpuIdle }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.Throttled) != false || deref(a.ThrottleReasons) != "" {
					t.Errorf("throttled %v reasons %q", deref(a.Throttled), deref(a.ThrottleReasons))
				}
			},
		},
		{
			name: "power cap inside the window flags",
			root: 100,
			script: five(func(i int, r *nvmlfake.Reading) {
				if i == 2 {
					r.ClocksEventReasons = nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown
				}
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.Throttled) != true || deref(a.ThrottleReasons) != "sw_power_cap,hw_thermal_slowdown" {
					t.Errorf("throttled %v reasons %q", deref(a.Throttled), deref(a.ThrottleReasons))
				}
				wantWarning(t, a, "clocks throttled during the window: sw_power_cap,hw_thermal_slowdown")
			},
		},
		{
			name: "power cap outside the window does not flag",
			root: 100,
			script: five(func(i int, r *nvmlfake.Reading) {
				if i == 0 || i == 4 {
					r.ClocksEventReasons = nvml.ClocksEventReasonSwPowerCap
				}
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.Throttled) != false {
					t.Errorf("throttled %v, want false", deref(a.Throttled))
				}
			},
		},
		{
			name:  "ignored reason does not flag",
			root:  100,
			tweak: func(o *Options) { o.ThrottleIgnore = nvml.ClocksEventReasonApplicationsClocksSetting },
			script: five(func(i int, r *nvmlfake.Reading) {
				r.ClocksEventReasons = nvml.ClocksEventReasonApplicationsClocksSetting
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.Throttled) != false {
					t.Errorf("throttled %v, want false", deref(a.Throttled))
				}
			},
		},
		{
			name: "foreign process makes the cell not isolated",
			root: 100,
			script: five(func(i int, r *nvmlfake.Reading) {
				if i == 2 {
					r.ComputeProcs = append(r.ComputeProcs, proc(200, 1536))
				}
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if deref(a.Isolated) != false {
					t.Errorf("isolated %v, want false", deref(a.Isolated))
				}
				if deref(a.NVMLProcessMemPeakBytes) != int64(1000*mib) {
					t.Errorf("process peak %v counts the foreign process", deref(a.NVMLProcessMemPeakBytes))
				}
				if s[2].ForeignProcessCount != 1 || deref(s[2].ForeignProcessMemBytes) != int64(1536*mib) {
					t.Errorf("sample 2 foreign: %d, %v", s[2].ForeignProcessCount, deref(s[2].ForeignProcessMemBytes))
				}
				wantWarning(t, a, "not isolated: other processes used GPU 0 during the cell: PID 200 (other-job, up to 1.50 GiB)")
			},
		},
		{
			name: "foreign graphics process makes the cell not isolated",
			root: 100,
			script: five(func(i int, r *nvmlfake.Reading) {
				r.GraphicsProcs = []nvml.ProcessInfo{proc(200, 64), proc(100, 10)} // PID 100 in both lists: counted once
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.Isolated) != false {
					t.Errorf("isolated %v, want false", deref(a.Isolated))
				}
				if deref(a.NVMLProcessMemPeakBytes) != int64(1000*mib) {
					t.Errorf("process peak %v", deref(a.NVMLProcessMemPeakBytes))
				}
			},
		},
		{
			name:   "runner PIDs not among NVML's (another PID namespace)",
			root:   100,
			script: five(func(i int, r *nvmlfake.Reading) { r.ComputeProcs = []nvml.ProcessInfo{proc(4242001, 1000)} }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if deref(a.NVMLProcessMatched) != false || a.Isolated != nil || a.NVMLProcessMemPeakBytes != nil {
					t.Errorf("matched %v isolated %v peak %v: want false, null, null", deref(a.NVMLProcessMatched), deref(a.Isolated), deref(a.NVMLProcessMemPeakBytes))
				}
				for _, x := range s {
					if x.ProcessMemBytes != nil {
						t.Fatalf("sample %s has process memory %d; want null", x.Kind, *x.ProcessMemBytes)
					}
				}
				wantWarning(t, a, "were not found among NVML's processes on GPU 0, which were PID 4242001 (up to 1000.00 MiB)")
			},
		},
		{
			name:   "runner never on the GPU",
			root:   100,
			script: five(func(i int, r *nvmlfake.Reading) { r.ComputeProcs = nil }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.NVMLProcessMatched) != false || deref(a.Isolated) != true || a.NVMLProcessMemPeakBytes != nil {
					t.Errorf("matched %v isolated %v peak %v", deref(a.NVMLProcessMatched), deref(a.Isolated), deref(a.NVMLProcessMemPeakBytes))
				}
				wantWarning(t, a, "never appeared among NVML's processes")
			},
		},
		{
			name: "VALUE_NOT_AVAILABLE memory",
			root: 100,
			script: five(func(i int, r *nvmlfake.Reading) {
				r.ComputeProcs = []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: math.MaxUint64}}
			}),
			acts: window,
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if deref(a.NVMLProcessMatched) != true || a.NVMLProcessMemPeakBytes != nil || s[1].ProcessMemBytes != nil {
					t.Errorf("matched %v peak %v: want true, null", deref(a.NVMLProcessMatched), deref(a.NVMLProcessMemPeakBytes))
				}
				wantWarning(t, a, "VALUE_NOT_AVAILABLE) for a runner process in 5 samples")
			},
		},
		{
			name:   "no window: statistics over the cell",
			root:   100,
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   []action{{kind: "tick", ms: 10}, {kind: "end", ms: 20}},
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.TelemetryScope) != "cell" || a.EnergyJ != nil || a.PowerWMean == nil {
					t.Errorf("scope %v energy %v power %v", deref(a.TelemetryScope), deref(a.EnergyJ), deref(a.PowerWMean))
				}
				wantWarning(t, a, "no measured window was marked")
			},
		},
		{
			name:   "window left open is closed by End",
			root:   100,
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   []action{{kind: "start", ms: 0}, {kind: "tick", ms: 10}, {kind: "end", ms: 20}},
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if deref(a.EnergyJ) != 2.0 || a.EnergyJPerToken != nil || len(s) != 5 {
					t.Errorf("energy %v J/token %v rows %d", deref(a.EnergyJ), deref(a.EnergyJPerToken), len(s))
				}
				wantWarning(t, a, "window 1 was still open at End")
			},
		},
		{
			name:  "slow readings every second tick",
			root:  100,
			tweak: func(o *Options) { o.SlowEvery = 2 },
			script: func() []nvmlfake.Reading {
				// Memory is read every sample, power on full samples only,
				// so the two scripts advance at different rates.
				r := busy(proc(100, 1000))
				return []nvmlfake.Reading{r}
			}(),
			acts: []action{{kind: "tick", ms: 10}, {kind: "tick", ms: 20}, {kind: "tick", ms: 30}, {kind: "end", ms: 40}},
			check: func(t *testing.T, a Aggregate, s []Sample) {
				var got []bool
				for _, x := range s {
					got = append(got, x.PowerW != nil)
					if x.DeviceMemUsedBytes == nil || x.ProcessMemBytes == nil {
						t.Errorf("%s sample without memory", x.Kind)
					}
				}
				if want := []bool{true, true, false, true, true}; !slices.Equal(got, want) {
					t.Errorf("power read on samples %v, want %v", got, want)
				}
			},
		},
		{
			name:   "device memory falls back to v1",
			root:   100,
			fail:   map[string]nvml.Return{"GetMemoryInfo_v2": nvml.ERROR_FUNCTION_NOT_FOUND},
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if deref(a.NVMLDeviceMemPeakBytes) != int64(1600*mib) {
					t.Errorf("device peak %v", deref(a.NVMLDeviceMemPeakBytes))
				}
				wantWarning(t, a, "device memory from GetMemoryInfo (v1")
			},
		},
		{
			name: "every query unsupported: nulls and warnings, no panic",
			root: 100,
			fail: map[string]nvml.Return{
				"GetComputeRunningProcesses": nvml.ERROR_NOT_SUPPORTED, "GetGraphicsRunningProcesses": nvml.ERROR_NOT_SUPPORTED,
				"GetMemoryInfo_v2": nvml.ERROR_NOT_SUPPORTED, "GetMemoryInfo": nvml.ERROR_NOT_SUPPORTED,
				"GetPowerUsage": nvml.ERROR_NOT_SUPPORTED, "GetFieldValues": nvml.ERROR_NOT_SUPPORTED,
				"GetTotalEnergyConsumption": nvml.ERROR_NOT_SUPPORTED, "GetClockInfo(CLOCK_SM)": nvml.ERROR_NOT_SUPPORTED,
				"GetClockInfo(CLOCK_MEM)": nvml.ERROR_NOT_SUPPORTED, "GetCurrentClocksEventReasons": nvml.ERROR_NOT_SUPPORTED,
				"GetCurrentClocksThrottleReasons": nvml.ERROR_NOT_SUPPORTED, "GetTemperature": nvml.ERROR_NOT_SUPPORTED,
				"GetUtilizationRates": nvml.ERROR_NOT_SUPPORTED,
			},
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				if a.NVMLProcessMatched != nil || a.Isolated != nil || a.PowerWMean != nil || a.Throttled != nil || a.NVMLDeviceMemPeakBytes != nil {
					t.Errorf("want nulls, got %+v", a)
				}
				if deref(a.TelemetrySamples) != int64(5) {
					t.Errorf("samples %v", deref(a.TelemetrySamples))
				}
				wantWarning(t, a, "GetMemoryInfo_v2 and GetMemoryInfo not available")
				wantWarning(t, a, "GetCurrentClocksEventReasons and GetCurrentClocksThrottleReasons not available")
			},
		},
		{
			name:   "transient failures are counted",
			root:   100,
			fail:   map[string]nvml.Return{"GetTemperature": nvml.ERROR_UNKNOWN},
			script: five(func(int, *nvmlfake.Reading) {}),
			acts:   window,
			check: func(t *testing.T, a Aggregate, _ []Sample) {
				wantWarning(t, a, "GetTemperature(TEMPERATURE_GPU) failed 5 times (last: ERROR_UNKNOWN)")
			},
		},
		{
			name:   "sample cap keeps peaks",
			root:   100,
			tweak:  func(o *Options) { o.MaxSamples = 2 },
			script: five(func(i int, r *nvmlfake.Reading) { r.ComputeProcs = []nvml.ProcessInfo{proc(100, uint64(1000*(i+1)))} }),
			acts:   window,
			check: func(t *testing.T, a Aggregate, s []Sample) {
				if len(s) != 2 || deref(a.TelemetrySamples) != int64(5) || deref(a.NVMLProcessMemPeakBytes) != int64(5000*mib) {
					t.Errorf("rows %d samples %v peak %v", len(s), deref(a.TelemetrySamples), deref(a.NVMLProcessMemPeakBytes))
				}
				wantWarning(t, a, "sample cap (2) reached: 3 later samples")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, fakeProc(t, procs), tc.tweak)
			d := h.fake.Devices[0]
			d.Script(tc.script...)
			for m, ret := range tc.fail {
				d.Fail(m, ret)
			}
			s := h.m.Begin("c", tc.root, 0)
			a, samples := h.run(s, tc.acts)
			tc.check(t, a, samples)
			if t.Failed() {
				t.Logf("warnings: %q", a.Warnings)
			}
		})
	}
}

func wantWarning(t *testing.T, a Aggregate, sub string) {
	t.Helper()
	for _, w := range a.Warnings {
		if strings.Contains(w, sub) {
			return
		}
	}
	t.Errorf("no warning contains %q; warnings: %q", sub, a.Warnings)
}
