// Package nvmlfake is an NVML without a GPU: go-nvml's DGX H200 mock with
// every query the telemetry package makes answered from a script of
// readings. It lets the sampler, its aggregation, the environment and the
// `ssmbench gpu` output be tested anywhere.
//
// Scripts: call n of a query on a device returns the n-th Reading of that
// device's script (counting from 0; the last Reading repeats once the
// script is used up). The sampler makes each query once a sample, so
// Reading n is what sample n sees, whichever goroutine asks.
package nvmlfake

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// Reading is what a device reports at one step of a script.
type Reading struct {
	// ComputeProcs is GetComputeRunningProcesses.
	ComputeProcs []nvml.ProcessInfo
	// GraphicsProcs is GetGraphicsRunningProcesses.
	GraphicsProcs []nvml.ProcessInfo
	// MemUsedBytes is the Used of GetMemoryInfo and GetMemoryInfo_v2.
	MemUsedBytes uint64
	// PowerMW is GetPowerUsage (milliwatts).
	PowerMW uint32
	// PowerInstantMW is the FI_DEV_POWER_INSTANT field (milliwatts).
	PowerInstantMW uint32
	// EnergyMJ is GetTotalEnergyConsumption (millijoules).
	EnergyMJ uint64
	// SMClockMHz and MemClockMHz are GetClockInfo(CLOCK_SM / CLOCK_MEM).
	SMClockMHz, MemClockMHz uint32
	// ClocksEventReasons is GetCurrentClocksEventReasons (and the
	// deprecated GetCurrentClocksThrottleReasons).
	ClocksEventReasons uint64
	// TempC is GetTemperature(TEMPERATURE_GPU).
	TempC uint32
	// UtilGPU and UtilMem are GetUtilizationRates.
	UtilGPU, UtilMem uint32
}

// Fake is an nvml.Interface with n scripted H200 devices.
type Fake struct {
	*server.Server
	// Devices are the scripted devices, by index.
	Devices []*Device
}

// Device is one scripted device. Its exported fields are the static
// answers (used by Environment and State); change them before use.
type Device struct {
	*server.Device
	VBIOS                         string
	PowerLimitMW, DefaultLimitMW  uint32
	MinLimitMW, MaxLimitMW        uint32
	AppClockSMMHz, AppClockMemMHz uint32
	MaxClockSMMHz, MaxClockMemMHz uint32
	Persistence, ECC              nvml.EnableState
	PCIeGen, PCIeWidth            int
	PCIeGenMax, PCIeWidthMax      int
	NVLinks                       int
	NVLinkVersion                 uint32

	mu     sync.Mutex
	script []Reading
	calls  map[string]int
	fail   map[string]nvml.Return
}

// New returns a Fake with n H200 devices whose UUIDs are
// "GPU-00000000-0000-0000-0000-00000000000i", each scripted with one
// idle Reading.
func New(n int) *Fake {
	srv := dgxh200.NewWithGPUs(gpus.Multiple(n, gpus.H200_SXM5_141GB)...)
	f := &Fake{Server: srv}
	for i, d := range srv.Devices {
		sd := d.(*server.Device)
		sd.UUID = fmt.Sprintf("GPU-00000000-0000-0000-0000-%012d", i)
		sd.PciBusID = fmt.Sprintf("00000000:%02X:00.0", 0x18+i)
		fd := &Device{
			Device: sd, VBIOS: "96.00.A5.00.01",
			PowerLimitMW: 700000, DefaultLimitMW: 700000, MinLimitMW: 200000, MaxLimitMW: 700000,
			AppClockSMMHz: 1980, AppClockMemMHz: 3201, MaxClockSMMHz: 1980, MaxClockMemMHz: 3201,
			Persistence: nvml.FEATURE_ENABLED, ECC: nvml.FEATURE_ENABLED,
			PCIeGen: 5, PCIeWidth: 16, PCIeGenMax: 5, PCIeWidthMax: 16,
			NVLinks: 18, NVLinkVersion: 4,
			calls: map[string]int{}, fail: map[string]nvml.Return{},
		}
		fd.script = []Reading{{MemUsedBytes: 0, PowerMW: 70000, SMClockMHz: 345, MemClockMHz: 3201,
			ClocksEventReasons: nvml.ClocksEventReasonGpuIdle, TempC: 30}}
		fd.install()
		f.Devices = append(f.Devices, fd)
	}
	return f
}

// FailInit makes Init return ret (e.g. nvml.ERROR_LIBRARY_NOT_FOUND).
func (f *Fake) FailInit(ret nvml.Return) {
	f.InitFunc = func() nvml.Return { return ret }
}

// Script replaces the device's script.
func (d *Device) Script(steps ...Reading) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.script = append([]Reading(nil), steps...)
	clear(d.calls)
}

// Fail makes the query named method (the nvml.Device method name, e.g.
// "GetPowerUsage") return ret from now on, without consuming the script.
func (d *Device) Fail(method string, ret nvml.Return) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail[method] = ret
}

// Calls reports how many times method was answered from the script.
func (d *Device) Calls(method string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[method]
}

// step returns the Reading for this call of method, or the failure set
// for it.
func (d *Device) step(method string) (Reading, nvml.Return) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ret, ok := d.fail[method]; ok {
		return Reading{}, ret
	}
	n := d.calls[method]
	d.calls[method] = n + 1
	if len(d.script) == 0 {
		return Reading{}, nvml.ERROR_UNKNOWN
	}
	return d.script[min(n, len(d.script)-1)], nvml.SUCCESS
}

// static answers a static query unless it was made to fail.
func (d *Device) static(method string) nvml.Return {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ret, ok := d.fail[method]; ok {
		return ret
	}
	return nvml.SUCCESS
}

func clockOf(r Reading, c nvml.ClockType) (uint32, nvml.Return) {
	switch c {
	case nvml.CLOCK_SM, nvml.CLOCK_GRAPHICS:
		return r.SMClockMHz, nvml.SUCCESS
	case nvml.CLOCK_MEM:
		return r.MemClockMHz, nvml.SUCCESS
	}
	return 0, nvml.ERROR_INVALID_ARGUMENT
}

func (d *Device) install() {
	total := d.Device.MemoryInfo.Total
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		r, ret := d.step("GetComputeRunningProcesses")
		return append([]nvml.ProcessInfo(nil), r.ComputeProcs...), ret
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		r, ret := d.step("GetGraphicsRunningProcesses")
		return append([]nvml.ProcessInfo(nil), r.GraphicsProcs...), ret
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		r, ret := d.step("GetMemoryInfo_v2")
		if ret != nvml.SUCCESS {
			return nvml.Memory_v2{}, ret
		}
		return nvml.Memory_v2{Version: 2, Total: total, Used: r.MemUsedBytes, Free: total - min(total, r.MemUsedBytes)}, ret
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		r, ret := d.step("GetMemoryInfo")
		if ret != nvml.SUCCESS {
			return nvml.Memory{}, ret
		}
		return nvml.Memory{Total: total, Used: r.MemUsedBytes, Free: total - min(total, r.MemUsedBytes)}, ret
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		r, ret := d.step("GetPowerUsage")
		return r.PowerMW, ret
	}
	d.GetFieldValuesFunc = func(values []nvml.FieldValue) nvml.Return {
		r, ret := d.step("GetFieldValues")
		if ret != nvml.SUCCESS {
			return ret
		}
		for i := range values {
			v := &values[i]
			if v.FieldId != nvml.FI_DEV_POWER_INSTANT {
				v.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
				continue
			}
			v.NvmlReturn = uint32(nvml.SUCCESS)
			v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_INT)
			v.Value = [8]byte{byte(r.PowerInstantMW), byte(r.PowerInstantMW >> 8), byte(r.PowerInstantMW >> 16), byte(r.PowerInstantMW >> 24)}
		}
		return nvml.SUCCESS
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		r, ret := d.step("GetTotalEnergyConsumption")
		return r.EnergyMJ, ret
	}
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		name := "GetClockInfo(CLOCK_SM)"
		if c == nvml.CLOCK_MEM {
			name = "GetClockInfo(CLOCK_MEM)"
		}
		r, ret := d.step(name)
		if ret != nvml.SUCCESS {
			return 0, ret
		}
		return clockOf(r, c)
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
		r, ret := d.step("GetCurrentClocksEventReasons")
		return r.ClocksEventReasons, ret
	}
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
		r, ret := d.step("GetCurrentClocksThrottleReasons")
		return r.ClocksEventReasons, ret
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) {
		r, ret := d.step("GetTemperature")
		return r.TempC, ret
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		r, ret := d.step("GetUtilizationRates")
		return nvml.Utilization{Gpu: r.UtilGPU, Memory: r.UtilMem}, ret
	}

	// Static queries.
	d.GetVbiosVersionFunc = func() (string, nvml.Return) { return d.VBIOS, d.static("GetVbiosVersion") }
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		var p nvml.PciInfo
		p.PciDeviceId = d.Config.PciDeviceId
		for i := 0; i < len(d.PciBusID) && i < len(p.BusId)-1; i++ {
			p.BusId[i] = int8(d.PciBusID[i])
		}
		return p, d.static("GetPciInfo")
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return d.PowerLimitMW, d.static("GetEnforcedPowerLimit") }
	d.GetPowerManagementDefaultLimitFunc = func() (uint32, nvml.Return) {
		return d.DefaultLimitMW, d.static("GetPowerManagementDefaultLimit")
	}
	d.GetPowerManagementLimitConstraintsFunc = func() (uint32, uint32, nvml.Return) {
		return d.MinLimitMW, d.MaxLimitMW, d.static("GetPowerManagementLimitConstraints")
	}
	d.GetApplicationsClockFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		return pick(c, d.AppClockSMMHz, d.AppClockMemMHz), d.static("GetApplicationsClock")
	}
	d.GetDefaultApplicationsClockFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		return pick(c, d.AppClockSMMHz, d.AppClockMemMHz), d.static("GetDefaultApplicationsClock")
	}
	d.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		return pick(c, d.MaxClockSMMHz, d.MaxClockMemMHz), d.static("GetMaxClockInfo")
	}
	d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return d.Persistence, d.static("GetPersistenceMode") }
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		return d.ECC, d.ECC, d.static("GetEccMode")
	}
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return d.PCIeGen, d.static("GetCurrPcieLinkGeneration") }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return d.PCIeWidth, d.static("GetCurrPcieLinkWidth") }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return d.PCIeGenMax, d.static("GetMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return d.PCIeWidthMax, d.static("GetMaxPcieLinkWidth") }
	d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
		if ret := d.static("GetNvLinkState"); ret != nvml.SUCCESS {
			return 0, ret
		}
		if link >= d.NVLinks {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	d.GetNvLinkVersionFunc = func(int) (uint32, nvml.Return) { return d.NVLinkVersion, d.static("GetNvLinkVersion") }
}

func pick(c nvml.ClockType, sm, mem uint32) uint32 {
	if c == nvml.CLOCK_MEM {
		return mem
	}
	return sm
}
