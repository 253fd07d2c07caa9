package telemetry

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/ssmbench/ssmbench/bench/telemetry/nvmlfake"
)

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *nvmlfake.Fake)
	}{
		{"h200", func(*nvmlfake.Fake) {}},
		{"not_supported", func(f *nvmlfake.Fake) {
			d := f.Devices[1]
			for _, m := range []string{"GetVbiosVersion", "GetApplicationsClock", "GetDefaultApplicationsClock", "GetNvLinkState", "GetEccMode", "GetPowerManagementLimitConstraints"} {
				d.Fail(m, nvml.ERROR_NOT_SUPPORTED)
			}
			d.NVLinks = 0
			f.SystemGetNVMLVersionFunc = func() (string, nvml.Return) { return "", nvml.ERROR_NOT_SUPPORTED }
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := nvmlfake.New(2)
			tc.setup(f)
			m, err := Open(Options{Lib: f})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			env := m.Environment()
			golden(t, "env_"+tc.name+".json", env)
		})
	}
}

func TestState(t *testing.T) {
	f := nvmlfake.New(2)
	procRoot := fakeProc(t, standardProcs)
	f.Devices[0].Script(with(busy(proc(100, 44818), proc(4242001, 512)), func(r *nvmlfake.Reading) {
		r.ClocksEventReasons = nvml.ClocksEventReasonSwPowerCap
		r.ComputeProcs = append(r.ComputeProcs, nvml.ProcessInfo{Pid: 101, UsedGpuMemory: valueNotAvailable})
	}))
	f.Devices[1].Fail("GetTemperature", nvml.ERROR_NOT_SUPPORTED)
	f.Devices[1].Fail("GetEnforcedPowerLimit", nvml.ERROR_NOT_SUPPORTED)
	m, err := Open(Options{Lib: f, ProcRoot: procRoot})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st := m.State()
	var text, js bytes.Buffer
	if err := st.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "state.txt", text.Bytes())
	golden(t, "state.json", js.Bytes())
}

// Example drives a Session over the fake NVML: one measured window of 100
// tokens during which the energy counter rises by 4 J.
func Example() {
	fake := nvmlfake.New(1)
	reading := func(mib, energyMJ uint64) nvmlfake.Reading {
		return nvmlfake.Reading{
			ComputeProcs: []nvml.ProcessInfo{{Pid: 4321, UsedGpuMemory: mib << 20}},
			MemUsedBytes: (mib + 600) << 20, EnergyMJ: energyMJ, PowerMW: 450000, SMClockMHz: 1980, MemClockMHz: 3201,
		}
	}
	// One reading per sample: begin, window start, a tick, window end, end.
	fake.Devices[0].Script(reading(0, 1000), reading(5000, 2000), reading(5200, 4000), reading(5100, 6000), reading(5100, 6500))

	tick := make(chan time.Time)
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	m, err := Open(Options{Lib: fake, Tick: tick, Now: func() time.Time { return clock }})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	s := m.Begin("decode-105472", 4321, 0)
	clock = clock.Add(10 * time.Millisecond)
	s.StartWindow()
	tick <- clock.Add(5 * time.Millisecond)
	clock = clock.Add(10 * time.Millisecond)
	s.EndWindow(100)
	agg, samples := s.End()
	fmt.Printf("%d samples, process peak %s, device peak %s\n", len(samples),
		FormatBytes(uint64(*agg.NVMLProcessMemPeakBytes)), FormatBytes(uint64(*agg.NVMLDeviceMemPeakBytes)))
	fmt.Printf("energy %.1f J over %.3f s, %.3f J/token, isolated %v\n", *agg.EnergyJ, *agg.TelemetryWindowS, *agg.EnergyJPerToken, *agg.Isolated)
	// Output:
	// 5 samples, process peak 5.08 GiB, device peak 5.66 GiB
	// energy 4.0 J over 0.010 s, 0.040 J/token, isolated true
}
