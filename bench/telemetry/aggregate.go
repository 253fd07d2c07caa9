package telemetry

import (
	"fmt"
	"slices"
	"strings"
)

func ptr[T any](v T) *T { return &v }

// aggregate summarises the session's samples. It is pure computation over
// what the sampler recorded.
func (st *sessionState) aggregate(devIndex, root int) Aggregate {
	var a Aggregate
	var warn []string
	a.NVMLGPUIndex = ptr(int32(devIndex))
	if st.uuid != "" {
		a.NVMLGPUUUID = ptr(st.uuid)
	}

	// Memory and isolation, over the whole cell.
	if st.procsOK {
		a.NVMLProcessMatched = ptr(st.matched)
		if st.matched && st.haveProcPeak {
			a.NVMLProcessMemPeakBytes = ptr(int64(st.procPeak))
		}
		if st.matched && st.haveWinPeak {
			a.NVMLProcessMemWindowPeakBytes = ptr(int64(st.winProcPeak))
		}
		switch {
		case st.matched:
			a.Isolated = ptr(len(st.foreign) == 0)
			if len(st.foreign) > 0 {
				warn = append(warn, fmt.Sprintf("not isolated: other processes used GPU %d during the cell: %s", devIndex, st.describeForeign()))
			}
		case len(st.foreign) == 0:
			a.Isolated = ptr(true)
			warn = append(warn, fmt.Sprintf("the runner (PID %d) never appeared among NVML's processes on GPU %d (no CUDA context on it?): no per-process memory", root, devIndex))
		case root <= 0:
			warn = append(warn, fmt.Sprintf("no runner PID given: per-process memory and isolation unknown; NVML showed %s", st.describeForeign()))
		default:
			warn = append(warn, fmt.Sprintf("the runner's PIDs (root %d and its descendants) were not found among NVML's processes on GPU %d, which were %s: NVML may report PIDs of another PID namespace; per-process memory and isolation unknown", root, devIndex, st.describeForeign()))
		}
		if st.memNA > 0 {
			warn = append(warn, fmt.Sprintf("NVML gave no memory figure (VALUE_NOT_AVAILABLE) for a runner process in %d samples", st.memNA))
		}
	}
	if st.haveDevPk {
		a.NVMLDeviceMemPeakBytes = ptr(int64(st.devPeak))
	}

	// Energy, over the measured windows.
	if len(st.windows) == 0 {
		warn = append(warn, "no measured window was marked: no energy, and power/clock statistics cover the whole cell")
	} else {
		var dur, joules float64
		var tokens int64
		missing, backwards := false, false
		for i, w := range st.windows {
			dur += w.end.Sub(w.start).Seconds()
			tokens += int64(max(0, w.tokens))
			switch {
			case !w.have:
				missing = true
			case w.endE < w.startE:
				backwards = true
				warn = append(warn, fmt.Sprintf("energy counter went backwards over window %d (%d mJ to %d mJ): energy dropped", i+1, w.startE, w.endE))
			default:
				joules += float64(w.endE-w.startE) / 1000
			}
			if w.openAtEnd {
				warn = append(warn, fmt.Sprintf("window %d was still open at End: closed there, without tokens", i+1))
			}
		}
		a.TelemetryWindowS = ptr(dur)
		if tokens > 0 {
			a.TelemetryWindowTokens = ptr(tokens)
		}
		switch {
		case missing && !st.rd.off[cEnergy] && !backwards:
			warn = append(warn, "energy counter not read at a window boundary: energy dropped")
		case missing || backwards:
			// said above, or GetTotalEnergyConsumption is not supported (see its warning)
		default:
			a.EnergyJ = ptr(joules)
			if tokens > 0 {
				a.EnergyJPerToken = ptr(joules / float64(tokens))
			}
			if joules == 0 && dur > 0 {
				warn = append(warn, fmt.Sprintf("energy counter did not advance over %.6f s of window (shorter than its update period?)", dur))
			}
		}
	}

	// Power, clocks, temperature, utilisation and throttling, over the
	// window's samples when there are any.
	useWindow := slices.ContainsFunc(st.recs, func(x rec) bool { return x.inWindow })
	scope := "cell"
	if useWindow {
		scope = "window"
	}
	a.TelemetryScope = ptr(scope)
	var sm, mem []float64
	var powSum, gpuSum, memUtilSum float64
	var powN, utilN int
	var powMax, instMax float64
	var havePowMax, haveInst, haveReasons bool
	var tempMax uint32
	var haveTemp bool
	var reasons uint64
	for i := range st.recs {
		x := &st.recs[i]
		if useWindow && !x.inWindow {
			continue
		}
		if x.has(fPower) {
			w := float64(x.powerMW) / 1000
			powSum += w
			powN++
			powMax, havePowMax = max(powMax, w), true
		}
		if x.has(fPowerInstant) {
			instMax, haveInst = max(instMax, float64(x.powerInstMW)/1000), true
		}
		if x.has(fSMClock) {
			sm = append(sm, float64(x.smMHz))
		}
		if x.has(fMemClock) {
			mem = append(mem, float64(x.memMHz))
		}
		if x.has(fTemp) {
			tempMax, haveTemp = max(tempMax, x.tempC), true
		}
		if x.has(fUtil) {
			gpuSum += float64(x.utilGPU)
			memUtilSum += float64(x.utilMem)
			utilN++
		}
		if x.has(fReasons) {
			reasons |= x.reasons
			haveReasons = true
		}
	}
	if powN > 0 {
		a.PowerWMean = ptr(powSum / float64(powN))
	}
	if havePowMax {
		a.PowerWMax = ptr(powMax)
	}
	if haveInst {
		a.PowerInstantWMax = ptr(instMax)
	}
	if len(sm) > 0 {
		a.SMClockMHzMin = ptr(slices.Min(sm))
		a.SMClockMHzMedian = ptr(median(sm))
	}
	if len(mem) > 0 {
		a.MemClockMHzMedian = ptr(median(mem))
	}
	if haveTemp {
		a.TempCMax = ptr(int32(tempMax))
	}
	if utilN > 0 {
		a.GPUUtilPctMean = ptr(gpuSum / float64(utilN))
		a.MemUtilPctMean = ptr(memUtilSum / float64(utilN))
	}
	if haveReasons {
		flag := reasons &^ (ReasonIdle | st.opts.ThrottleIgnore)
		a.ThrottleReasons = ptr(ReasonString(flag))
		a.Throttled = ptr(flag != 0)
		if flag != 0 {
			warn = append(warn, fmt.Sprintf("clocks throttled during the %s: %s", scope, ReasonString(flag)))
		}
	}

	// The sampler itself.
	a.TelemetrySamples = ptr(int64(len(st.recs) + st.dropped))
	a.TelemetryHzTarget = ptr(st.opts.Hz)
	if d := st.endT.Sub(st.beginT).Seconds(); d > 0 {
		hz := float64(st.ticks) / d
		a.TelemetryHzAchieved = ptr(hz)
		if d*st.opts.Hz >= 10 && hz < 0.8*st.opts.Hz {
			warn = append(warn, fmt.Sprintf("sampler reached %.0f Hz of the %.0f Hz asked", hz, st.opts.Hz))
		}
	}
	if len(st.recs) > 0 {
		var sum, mx int64
		for i := range st.recs {
			sum += st.recs[i].readNs
			mx = max(mx, st.recs[i].readNs)
		}
		a.TelemetryReadUsMean = ptr(float64(sum) / float64(len(st.recs)) / 1e3)
		a.TelemetryReadUsMax = ptr(float64(mx) / 1e3)
	}
	if st.dropped > 0 {
		warn = append(warn, fmt.Sprintf("sample cap (%d) reached: %d later samples left out of the timeline and of the power/clock statistics (memory peaks still cover them)", st.opts.MaxSamples, st.dropped))
	}
	if st.cls.walkErr != nil {
		warn = append(warn, fmt.Sprintf("process tree not readable (%v): only the root PID counts as the runner", st.cls.walkErr))
	}
	warn = append(warn, st.rd.problems()...)
	a.Warnings = warn
	return a
}

// describeForeign lists the other processes seen, e.g.
// "PID 4242 (python3, up to 1.50 GiB)".
func (st *sessionState) describeForeign() string {
	parts := make([]string, 0, len(st.foreign))
	for _, f := range st.foreign {
		var attrs []string
		if name := processName(st.opts.ProcRoot, f.pid); name != "" {
			attrs = append(attrs, name)
		}
		if f.memKnown {
			attrs = append(attrs, "up to "+FormatBytes(f.memPeak))
		}
		s := fmt.Sprintf("PID %d", f.pid)
		if len(attrs) > 0 {
			s += " (" + strings.Join(attrs, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// median returns the median of v, reordering it.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// FormatBytes renders a byte count in binary units, e.g. "1.50 GiB".
func FormatBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// export converts the recorded samples to rows.
func (st *sessionState) export(cellID string, devIndex int) []Sample {
	type vals struct {
		procMem, foreignMem, devUsed, devTotal, reasons int64
		power, powerInst, energy                        float64
		sm, mem, temp, utilGPU, utilMem                 int32
	}
	vs := make([]vals, len(st.recs))
	out := make([]Sample, len(st.recs))
	for i := range st.recs {
		x, v, s := &st.recs[i], &vs[i], &out[i]
		*s = Sample{
			Timestamp:           x.t.UTC(),
			CellID:              cellID,
			DeviceIndex:         int32(devIndex),
			DeviceUUID:          st.uuid,
			Kind:                kindNames[x.kind],
			InWindow:            x.inWindow,
			ProcessCount:        int32(x.procCount),
			ForeignProcessCount: int32(x.foreignCount),
			ReadUs:              float64(x.readNs) / 1e3,
		}
		if x.has(fProcMem) && st.matched {
			v.procMem = int64(x.procMem)
			s.ProcessMemBytes = &v.procMem
		}
		if x.has(fForeignMem) {
			v.foreignMem = int64(x.foreignMem)
			s.ForeignProcessMemBytes = &v.foreignMem
		}
		if x.has(fDevUsed) {
			v.devUsed = int64(x.devUsed)
			s.DeviceMemUsedBytes = &v.devUsed
		}
		if x.has(fDevTotal) {
			v.devTotal = int64(x.devTotal)
			s.DeviceMemTotalBytes = &v.devTotal
		}
		if x.has(fPower) {
			v.power = float64(x.powerMW) / 1000
			s.PowerW = &v.power
		}
		if x.has(fPowerInstant) {
			v.powerInst = float64(x.powerInstMW) / 1000
			s.PowerInstantW = &v.powerInst
		}
		if x.has(fEnergy) {
			v.energy = float64(x.energyMJ) / 1000
			s.EnergyCounterJ = &v.energy
		}
		if x.has(fSMClock) {
			v.sm = int32(x.smMHz)
			s.SMClockMHz = &v.sm
		}
		if x.has(fMemClock) {
			v.mem = int32(x.memMHz)
			s.MemClockMHz = &v.mem
		}
		if x.has(fReasons) {
			v.reasons = int64(x.reasons)
			s.ClocksEventReasons = &v.reasons
		}
		if x.has(fTemp) {
			v.temp = int32(x.tempC)
			s.TempC = &v.temp
		}
		if x.has(fUtil) {
			v.utilGPU, v.utilMem = int32(x.utilGPU), int32(x.utilMem)
			s.GPUUtilPct, s.MemUtilPct = &v.utilGPU, &v.utilMem
		}
	}
	return out
}
