package telemetry

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// reasonNames names the bits of NVML's clocks-event (throttle) reason mask,
// in bit order.
var reasonNames = [...]struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "gpu_idle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "applications_clocks_setting"},
	{nvml.ClocksEventReasonSwPowerCap, "sw_power_cap"},
	{nvml.ClocksThrottleReasonHwSlowdown, "hw_slowdown"},
	{nvml.ClocksEventReasonSyncBoost, "sync_boost"},
	{nvml.ClocksEventReasonSwThermalSlowdown, "sw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, "hw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
	{nvml.ClocksEventReasonDisplayClockSetting, "display_clock_setting"},
}

// ReasonIdle is the clocks-event bit that means "the GPU is idle"; it never
// flags a cell as throttled.
const ReasonIdle uint64 = nvml.ClocksEventReasonGpuIdle

// ReasonNames returns the names of the bits set in an NVML clocks-event
// (throttle) reason mask, in bit order. Bits without a name are given as
// "bit_N".
func ReasonNames(mask uint64) []string {
	var out []string
	for _, r := range reasonNames {
		if mask&r.bit != 0 {
			out = append(out, r.name)
			mask &^= r.bit
		}
	}
	for mask != 0 {
		b := bits.TrailingZeros64(mask)
		out = append(out, "bit_"+strconv.Itoa(b))
		mask &^= 1 << b
	}
	return out
}

// ReasonString joins ReasonNames with ",", or returns "" for an empty mask.
func ReasonString(mask uint64) string { return strings.Join(ReasonNames(mask), ",") }
