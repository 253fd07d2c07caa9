package telemetry

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// call names one NVML device query the sampler makes.
type call int

const (
	cComputeProcs call = iota
	cGraphicsProcs
	cMemV2
	cMemV1
	cPower
	cPowerInstant
	cEnergy
	cSMClock
	cMemClock
	cEventReasons
	cThrottleReasons
	cTemp
	cUtil
	nCalls
)

var callNames = [nCalls]string{
	cComputeProcs:    "GetComputeRunningProcesses",
	cGraphicsProcs:   "GetGraphicsRunningProcesses",
	cMemV2:           "GetMemoryInfo_v2",
	cMemV1:           "GetMemoryInfo",
	cPower:           "GetPowerUsage",
	cPowerInstant:    "GetFieldValues(FI_DEV_POWER_INSTANT)",
	cEnergy:          "GetTotalEnergyConsumption",
	cSMClock:         "GetClockInfo(CLOCK_SM)",
	cMemClock:        "GetClockInfo(CLOCK_MEM)",
	cEventReasons:    "GetCurrentClocksEventReasons",
	cThrottleReasons: "GetCurrentClocksThrottleReasons",
	cTemp:            "GetTemperature(TEMPERATURE_GPU)",
	cUtil:            "GetUtilizationRates",
}

// field is a bit of rec.valid: which readings a sample holds.
type field uint32

const (
	fProcMem field = 1 << iota
	fForeignMem
	fDevUsed
	fDevTotal
	fPower
	fPowerInstant
	fEnergy
	fSMClock
	fMemClock
	fReasons
	fTemp
	fUtil
)

// sampleKind says why a sample was taken.
type sampleKind uint8

const (
	kindTick sampleKind = iota
	kindBegin
	kindWindowStart
	kindWindowEnd
	kindEnd
)

var kindNames = [...]string{kindTick: "tick", kindBegin: "begin", kindWindowStart: "window_start", kindWindowEnd: "window_end", kindEnd: "end"}

// rec is one sample as the sampler stores it: plain values and a validity
// mask, so that recording a sample allocates nothing.
type rec struct {
	t            time.Time
	kind         sampleKind
	inWindow     bool
	full         bool
	valid        field
	procCount    uint16
	foreignCount uint16
	procMem      uint64
	foreignMem   uint64
	devUsed      uint64
	devTotal     uint64
	powerMW      uint32
	powerInstMW  uint32
	energyMJ     uint64
	smMHz        uint32
	memMHz       uint32
	reasons      uint64
	tempC        uint32
	utilGPU      uint32
	utilMem      uint32
	readNs       int64
}

func (r *rec) has(f field) bool { return r.valid&f != 0 }

// valueNotAvailable is NVML's "unknown" for 64-bit counters such as
// ProcessInfo.UsedGpuMemory (NVML_VALUE_NOT_AVAILABLE, all ones).
const valueNotAvailable = math.MaxUint64

// reader makes one device's NVML queries. A query that answers
// NOT_SUPPORTED, FUNCTION_NOT_FOUND or NO_PERMISSION is switched off for
// good; other failures are counted and reported once.
type reader struct {
	dev      nvml.Device
	off      [nCalls]bool
	offRet   [nCalls]nvml.Return
	fails    [nCalls]int
	lastFail [nCalls]nvml.Return
	fv       [1]nvml.FieldValue
	procBuf  []nvml.ProcessInfo
}

func newReader(dev nvml.Device) *reader {
	return &reader{dev: dev, procBuf: make([]nvml.ProcessInfo, 0, 16)}
}

// ok records the outcome of a query and reports whether it succeeded.
func (r *reader) ok(c call, ret nvml.Return) bool {
	switch ret {
	case nvml.SUCCESS:
		return true
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND, nvml.ERROR_NO_PERMISSION:
		r.off[c], r.offRet[c] = true, ret
	default:
		r.fails[c]++
		r.lastFail[c] = ret
	}
	return false
}

// procs returns the compute processes on the device (and the graphics ones
// when graphics is set), one entry a PID, keeping the larger memory figure
// of a PID listed twice. The slice is reused by the next call. ok is false
// when the compute list could not be read.
func (r *reader) procs(graphics bool) (list []nvml.ProcessInfo, ok bool) {
	r.procBuf = r.procBuf[:0]
	if !r.off[cComputeProcs] {
		ps, ret := r.dev.GetComputeRunningProcesses()
		if ok = r.ok(cComputeProcs, ret); ok {
			r.procBuf = append(r.procBuf, ps...)
		}
	}
	if graphics && !r.off[cGraphicsProcs] {
		ps, ret := r.dev.GetGraphicsRunningProcesses()
		if r.ok(cGraphicsProcs, ret) {
			for _, p := range ps {
				r.procBuf = mergeProc(r.procBuf, p)
			}
		}
	}
	return r.procBuf, ok
}

func mergeProc(list []nvml.ProcessInfo, p nvml.ProcessInfo) []nvml.ProcessInfo {
	for i := range list {
		if list[i].Pid == p.Pid {
			if list[i].UsedGpuMemory == valueNotAvailable || (p.UsedGpuMemory != valueNotAvailable && p.UsedGpuMemory > list[i].UsedGpuMemory) {
				list[i].UsedGpuMemory = p.UsedGpuMemory
			}
			return list
		}
	}
	return append(list, p)
}

// device fills x with device-level readings: memory always, the rest when
// full is set.
func (r *reader) device(full bool, x *rec) {
	if !r.off[cMemV2] {
		if m, ret := r.dev.GetMemoryInfo_v2(); r.ok(cMemV2, ret) {
			x.devUsed, x.devTotal = m.Used, m.Total
			x.valid |= fDevUsed | fDevTotal
		}
	} else if !r.off[cMemV1] {
		if m, ret := r.dev.GetMemoryInfo(); r.ok(cMemV1, ret) {
			x.devUsed, x.devTotal = m.Used, m.Total
			x.valid |= fDevUsed | fDevTotal
		}
	}
	if !full {
		return
	}
	if !r.off[cPower] {
		if v, ret := r.dev.GetPowerUsage(); r.ok(cPower, ret) {
			x.powerMW = v
			x.valid |= fPower
		}
	}
	if !r.off[cPowerInstant] {
		r.fv[0] = nvml.FieldValue{FieldId: nvml.FI_DEV_POWER_INSTANT}
		ret := r.dev.GetFieldValues(r.fv[:])
		if ret == nvml.SUCCESS {
			ret = nvml.Return(r.fv[0].NvmlReturn)
		}
		if r.ok(cPowerInstant, ret) {
			if w, ok := fieldFloat(r.fv[0].ValueType, r.fv[0].Value); ok && w >= 0 && w < math.MaxUint32 {
				x.powerInstMW = uint32(w)
				x.valid |= fPowerInstant
			}
		}
	}
	if !r.off[cEnergy] {
		if v, ret := r.dev.GetTotalEnergyConsumption(); r.ok(cEnergy, ret) {
			x.energyMJ = v
			x.valid |= fEnergy
		}
	}
	if !r.off[cSMClock] {
		if v, ret := r.dev.GetClockInfo(nvml.CLOCK_SM); r.ok(cSMClock, ret) {
			x.smMHz = v
			x.valid |= fSMClock
		}
	}
	if !r.off[cMemClock] {
		if v, ret := r.dev.GetClockInfo(nvml.CLOCK_MEM); r.ok(cMemClock, ret) {
			x.memMHz = v
			x.valid |= fMemClock
		}
	}
	if !r.off[cEventReasons] {
		if v, ret := r.dev.GetCurrentClocksEventReasons(); r.ok(cEventReasons, ret) {
			x.reasons = v
			x.valid |= fReasons
		}
	} else if !r.off[cThrottleReasons] { // drivers older than R535 only have the old name
		if v, ret := r.dev.GetCurrentClocksThrottleReasons(); r.ok(cThrottleReasons, ret) {
			x.reasons = v
			x.valid |= fReasons
		}
	}
	if !r.off[cTemp] {
		if v, ret := r.dev.GetTemperature(nvml.TEMPERATURE_GPU); r.ok(cTemp, ret) {
			x.tempC = v
			x.valid |= fTemp
		}
	}
	if !r.off[cUtil] {
		if u, ret := r.dev.GetUtilizationRates(); r.ok(cUtil, ret) {
			x.utilGPU, x.utilMem = u.Gpu, u.Memory
			x.valid |= fUtil
		}
	}
}

// problems describes the queries that were switched off or failed, in a
// fixed order. A query with a working fallback (memory v1, the old
// throttle-reason name) is reported only for what the fallback changes.
func (r *reader) problems() []string {
	var out []string
	for c := call(0); c < nCalls; c++ {
		switch {
		case (c == cMemV1 || c == cThrottleReasons) && r.off[c]:
			// reported with the query it stands in for
		case c == cMemV2 && r.off[c] && !r.off[cMemV1]:
			out = append(out, "device memory from GetMemoryInfo (v1, which counts driver-reserved memory as used): GetMemoryInfo_v2 gave "+r.offRet[c].Error())
		case c == cEventReasons && r.off[c] && !r.off[cThrottleReasons]:
			// the old name answers; nothing to say
		case (c == cMemV2 || c == cEventReasons) && r.off[c]:
			out = append(out, fmt.Sprintf("%s and %s not available (%v, %v)", callNames[c], callNames[c+1], r.offRet[c], r.offRet[c+1]))
		case r.off[c]:
			out = append(out, fmt.Sprintf("%s not available (%v)", callNames[c], r.offRet[c]))
		}
		if r.fails[c] > 0 {
			out = append(out, fmt.Sprintf("%s failed %d times (last: %v)", callNames[c], r.fails[c], r.lastFail[c]))
		}
	}
	return out
}

// fieldFloat decodes an NVML field value (a C union) by its value type.
func fieldFloat(vt uint32, b [8]byte) (float64, bool) {
	u := binary.LittleEndian.Uint64(b[:])
	switch nvml.ValueType(vt) {
	case nvml.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(u), true
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return float64(uint32(u)), true
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(u), true
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(u)), true
	case nvml.VALUE_TYPE_SIGNED_INT:
		return float64(int32(uint32(u))), true
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(uint16(u)), true
	}
	return 0, false
}
