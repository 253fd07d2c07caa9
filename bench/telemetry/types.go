package telemetry

import "time"

// Sample is one row of telemetry.parquet: the readings of one device at one
// instant during a cell. Readings NVML did not give (not supported, or not
// read on this tick: see Options.SlowEvery) are null.
type Sample struct {
	// Timestamp is when the sample was taken (UTC, microseconds).
	Timestamp time.Time `parquet:"timestamp,timestamp(microsecond)" json:"timestamp"`
	// CellID is the cell the sample belongs to.
	CellID string `parquet:"cell_id,dict" json:"cell_id"`
	// DeviceIndex is the NVML index of the device.
	DeviceIndex int32 `parquet:"device_index" json:"device_index"`
	// DeviceUUID is the device's UUID ("GPU-…").
	DeviceUUID string `parquet:"device_uuid,dict" json:"device_uuid"`
	// Kind is why the sample was taken: "tick" (the ticker), "begin", "end",
	// "window_start" or "window_end" (taken synchronously by Session calls).
	Kind string `parquet:"sample_kind,dict" json:"sample_kind"`
	// InWindow is true while the measured window was open (see
	// Session.StartWindow).
	InWindow bool `parquet:"in_window" json:"in_window"`
	// ProcessMemBytes is the GPU memory NVML attributes to the runner and
	// its descendants (sum of ProcessInfo.UsedGpuMemory); null when the
	// runner's processes were never found among NVML's.
	ProcessMemBytes *int64 `parquet:"process_mem_bytes,optional" json:"process_mem_bytes,omitempty"`
	// ProcessCount is how many of NVML's processes belong to the runner's tree.
	ProcessCount int32 `parquet:"process_count" json:"process_count"`
	// ForeignProcessCount is how many other processes NVML shows on the device.
	ForeignProcessCount int32 `parquet:"foreign_process_count" json:"foreign_process_count"`
	// ForeignProcessMemBytes is the memory of those other processes.
	ForeignProcessMemBytes *int64 `parquet:"foreign_process_mem_bytes,optional" json:"foreign_process_mem_bytes,omitempty"`
	// DeviceMemUsedBytes is the device's used memory (GetMemoryInfo_v2).
	DeviceMemUsedBytes *int64 `parquet:"device_mem_used_bytes,optional" json:"device_mem_used_bytes,omitempty"`
	// DeviceMemTotalBytes is the device's total memory.
	DeviceMemTotalBytes *int64 `parquet:"device_mem_total_bytes,optional" json:"device_mem_total_bytes,omitempty"`
	// PowerW is GetPowerUsage (on Hopper a ~1 s average), in watts.
	PowerW *float64 `parquet:"power_w,optional" json:"power_w,omitempty"`
	// PowerInstantW is the FI_DEV_POWER_INSTANT field, in watts.
	PowerInstantW *float64 `parquet:"power_instant_w,optional" json:"power_instant_w,omitempty"`
	// EnergyCounterJ is the device's energy counter since driver load, in joules.
	EnergyCounterJ *float64 `parquet:"energy_counter_j,optional" json:"energy_counter_j,omitempty"`
	// SMClockMHz is the current SM clock.
	SMClockMHz *int32 `parquet:"sm_clock_mhz,optional" json:"sm_clock_mhz,omitempty"`
	// MemClockMHz is the current memory clock.
	MemClockMHz *int32 `parquet:"mem_clock_mhz,optional" json:"mem_clock_mhz,omitempty"`
	// ClocksEventReasons is NVML's throttle-reason bit mask (see ReasonNames).
	ClocksEventReasons *int64 `parquet:"clocks_event_reasons,optional" json:"clocks_event_reasons,omitempty"`
	// TempC is the GPU temperature in °C.
	TempC *int32 `parquet:"temp_c,optional" json:"temp_c,omitempty"`
	// GPUUtilPct is the percentage of the last sample period a kernel ran.
	GPUUtilPct *int32 `parquet:"gpu_util_pct,optional" json:"gpu_util_pct,omitempty"`
	// MemUtilPct is the percentage of the last sample period memory was read or written.
	MemUtilPct *int32 `parquet:"mem_util_pct,optional" json:"mem_util_pct,omitempty"`
	// ReadUs is how long the NVML queries of this sample took, in microseconds.
	ReadUs float64 `parquet:"read_us" json:"read_us"`
}

// Aggregate is a cell's telemetry summary: the GPU columns of cells.parquet.
// Embed it in the cell row struct (parquet-go flattens embedded structs) or
// copy its fields. Every field is null for a run without NVML.
//
// Memory peaks and isolation cover the whole cell (Begin to End). Energy
// covers the measured window(s). Power, clock, temperature, utilisation
// and throttle statistics cover the samples taken inside the measured
// window when one was marked, else the whole cell (TelemetryScope says
// which).
type Aggregate struct {
	// NVMLGPUIndex is the NVML index of the device sampled.
	NVMLGPUIndex *int32 `parquet:"nvml_gpu_index,optional" json:"nvml_gpu_index,omitempty"`
	// NVMLGPUUUID is the device's UUID.
	NVMLGPUUUID *string `parquet:"nvml_gpu_uuid,optional" json:"nvml_gpu_uuid,omitempty"`
	// NVMLProcessMemPeakBytes is the peak of the runner tree's NVML used memory over the cell.
	NVMLProcessMemPeakBytes *int64 `parquet:"nvml_process_mem_peak_bytes,optional" json:"nvml_process_mem_peak_bytes,omitempty"`
	// NVMLProcessMemWindowPeakBytes is that peak inside the measured window.
	NVMLProcessMemWindowPeakBytes *int64 `parquet:"nvml_process_mem_window_peak_bytes,optional" json:"nvml_process_mem_window_peak_bytes,omitempty"`
	// NVMLProcessMatched says whether the runner's PIDs were found among NVML's processes.
	NVMLProcessMatched *bool `parquet:"nvml_process_matched,optional" json:"nvml_process_matched,omitempty"`
	// NVMLDeviceMemPeakBytes is the peak of the device's used memory over the cell.
	NVMLDeviceMemPeakBytes *int64 `parquet:"nvml_device_mem_peak_bytes,optional" json:"nvml_device_mem_peak_bytes,omitempty"`
	// EnergyJ is the energy counter's increase over the measured window(s).
	EnergyJ *float64 `parquet:"energy_j,optional" json:"energy_j,omitempty"`
	// EnergyJPerToken is EnergyJ over the tokens given to EndWindow.
	EnergyJPerToken *float64 `parquet:"energy_j_per_token,optional" json:"energy_j_per_token,omitempty"`
	// TelemetryWindowS is the total length of the measured window(s), in seconds.
	TelemetryWindowS *float64 `parquet:"telemetry_window_s,optional" json:"telemetry_window_s,omitempty"`
	// TelemetryWindowTokens is the sum of the tokens given to EndWindow.
	TelemetryWindowTokens *int64 `parquet:"telemetry_window_tokens,optional" json:"telemetry_window_tokens,omitempty"`
	// PowerWMean is the mean of the GetPowerUsage readings.
	PowerWMean *float64 `parquet:"power_w_mean,optional" json:"power_w_mean,omitempty"`
	// PowerWMax is the largest GetPowerUsage reading.
	PowerWMax *float64 `parquet:"power_w_max,optional" json:"power_w_max,omitempty"`
	// PowerInstantWMax is the largest instantaneous power reading.
	PowerInstantWMax *float64 `parquet:"power_instant_w_max,optional" json:"power_instant_w_max,omitempty"`
	// SMClockMHzMin is the lowest SM clock seen.
	SMClockMHzMin *float64 `parquet:"sm_clock_mhz_min,optional" json:"sm_clock_mhz_min,omitempty"`
	// SMClockMHzMedian is the median SM clock.
	SMClockMHzMedian *float64 `parquet:"sm_clock_mhz_median,optional" json:"sm_clock_mhz_median,omitempty"`
	// MemClockMHzMedian is the median memory clock.
	MemClockMHzMedian *float64 `parquet:"mem_clock_mhz_median,optional" json:"mem_clock_mhz_median,omitempty"`
	// TempCMax is the highest GPU temperature, °C.
	TempCMax *int32 `parquet:"temp_c_max,optional" json:"temp_c_max,omitempty"`
	// GPUUtilPctMean is the mean GPU utilisation, percent.
	GPUUtilPctMean *float64 `parquet:"gpu_util_pct_mean,optional" json:"gpu_util_pct_mean,omitempty"`
	// MemUtilPctMean is the mean memory utilisation, percent.
	MemUtilPctMean *float64 `parquet:"mem_util_pct_mean,optional" json:"mem_util_pct_mean,omitempty"`
	// ThrottleReasons names the clocks-event reasons that flagged the cell,
	// comma-separated ("" when none).
	ThrottleReasons *string `parquet:"throttle_reasons,optional" json:"throttle_reasons,omitempty"`
	// Throttled is true when any reason other than idle (and
	// Options.ThrottleIgnore) was seen.
	Throttled *bool `parquet:"throttled,optional" json:"throttled,omitempty"`
	// Isolated is false when another process used the device during the
	// cell; null when the runner's processes could not be identified.
	Isolated *bool `parquet:"isolated,optional" json:"isolated,omitempty"`
	// TelemetrySamples is the number of samples taken (ticks and boundaries).
	TelemetrySamples *int64 `parquet:"telemetry_samples,optional" json:"telemetry_samples,omitempty"`
	// TelemetryHzTarget is the requested sampling rate.
	TelemetryHzTarget *float64 `parquet:"telemetry_hz_target,optional" json:"telemetry_hz_target,omitempty"`
	// TelemetryHzAchieved is ticks sampled per second of the cell.
	TelemetryHzAchieved *float64 `parquet:"telemetry_hz_achieved,optional" json:"telemetry_hz_achieved,omitempty"`
	// TelemetryReadUsMean is the mean time of one sample's NVML queries, µs.
	TelemetryReadUsMean *float64 `parquet:"telemetry_read_us_mean,optional" json:"telemetry_read_us_mean,omitempty"`
	// TelemetryReadUsMax is the longest such time, µs.
	TelemetryReadUsMax *float64 `parquet:"telemetry_read_us_max,optional" json:"telemetry_read_us_max,omitempty"`
	// TelemetryScope is "window" or "cell": the samples the power, clock,
	// temperature, utilisation and throttle statistics cover.
	TelemetryScope *string `parquet:"telemetry_scope,optional" json:"telemetry_scope,omitempty"`
	// Warnings are the flags raised on the cell, as sentences.
	Warnings []string `parquet:"telemetry_warnings,list" json:"telemetry_warnings,omitempty"`
}
