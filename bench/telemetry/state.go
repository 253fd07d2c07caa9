package telemetry

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// State is the current state of every GPU: what `ssmbench gpu` prints.
type State struct {
	// Available is false when there is no usable NVML; Reason says why.
	Available         bool          `json:"available"`
	Reason            string        `json:"reason,omitempty"`
	DriverVersion     string        `json:"driver_version,omitempty"`
	CUDADriverVersion string        `json:"cuda_driver_version,omitempty"`
	Devices           []DeviceState `json:"devices,omitempty"`
}

// DeviceState is the current readings of one GPU. Readings NVML did not
// give are omitted; Problems says why.
type DeviceState struct {
	Index              int            `json:"index"`
	Name               string         `json:"name,omitempty"`
	UUID               string         `json:"uuid,omitempty"`
	MemUsedBytes       *uint64        `json:"mem_used_bytes,omitempty"`
	MemTotalBytes      *uint64        `json:"mem_total_bytes,omitempty"`
	SMClockMHz         *uint32        `json:"sm_clock_mhz,omitempty"`
	MemClockMHz        *uint32        `json:"mem_clock_mhz,omitempty"`
	PowerW             *float64       `json:"power_w,omitempty"`
	PowerLimitW        *float64       `json:"power_limit_w,omitempty"`
	TempC              *uint32        `json:"temp_c,omitempty"`
	GPUUtilPct         *uint32        `json:"gpu_util_pct,omitempty"`
	MemUtilPct         *uint32        `json:"mem_util_pct,omitempty"`
	ClocksEventReasons []string       `json:"clocks_event_reasons,omitempty"`
	Processes          []ProcessState `json:"processes,omitempty"`
	Problems           []string       `json:"problems,omitempty"`
}

// ProcessState is one process using a GPU.
type ProcessState struct {
	PID uint32 `json:"pid"`
	// Name is the command name from the process table ("" when the PID is
	// not visible here, e.g. from another PID namespace).
	Name string `json:"name,omitempty"`
	// UsedMemBytes is omitted when NVML gives VALUE_NOT_AVAILABLE.
	UsedMemBytes *uint64 `json:"used_mem_bytes,omitempty"`
}

// State reads the current state of every GPU.
func (m *Monitor) State() State {
	st := State{Available: m.available, Reason: m.reason}
	if !m.available {
		return st
	}
	if v, ret := m.lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		st.DriverVersion = v
	}
	if v, ret := m.lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		st.CUDADriverVersion = FormatCUDAVersion(v)
	}
	for i := 0; i < m.count; i++ {
		ds := DeviceState{Index: i}
		dev, ret := m.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			ds.Problems = []string{"DeviceGetHandleByIndex: " + ret.Error()}
			st.Devices = append(st.Devices, ds)
			continue
		}
		if v, ret := dev.GetName(); ret == nvml.SUCCESS {
			ds.Name = v
		}
		if v, ret := dev.GetUUID(); ret == nvml.SUCCESS {
			ds.UUID = v
		}
		rd := newReader(dev)
		procs, _ := rd.procs(true)
		for _, p := range procs {
			ps := ProcessState{PID: p.Pid, Name: processName(m.opts.ProcRoot, p.Pid)}
			if p.UsedGpuMemory != valueNotAvailable {
				ps.UsedMemBytes = ptr(p.UsedGpuMemory)
			}
			ds.Processes = append(ds.Processes, ps)
		}
		var extra []string
		var x rec
		rd.device(true, &x)
		if x.has(fDevUsed) {
			ds.MemUsedBytes, ds.MemTotalBytes = ptr(x.devUsed), ptr(x.devTotal)
		}
		if x.has(fSMClock) {
			ds.SMClockMHz = ptr(x.smMHz)
		}
		if x.has(fMemClock) {
			ds.MemClockMHz = ptr(x.memMHz)
		}
		if x.has(fPower) {
			ds.PowerW = ptr(float64(x.powerMW) / 1000)
		}
		if mw, ret := dev.GetEnforcedPowerLimit(); ret == nvml.SUCCESS {
			ds.PowerLimitW = ptr(float64(mw) / 1000)
		} else {
			extra = append(extra, "GetEnforcedPowerLimit not available ("+ret.Error()+")")
		}
		if x.has(fTemp) {
			ds.TempC = ptr(x.tempC)
		}
		if x.has(fUtil) {
			ds.GPUUtilPct, ds.MemUtilPct = ptr(x.utilGPU), ptr(x.utilMem)
		}
		if x.has(fReasons) {
			ds.ClocksEventReasons = ReasonNames(x.reasons)
			if ds.ClocksEventReasons == nil {
				ds.ClocksEventReasons = []string{}
			}
		}
		ds.Problems = append(rd.problems(), extra...)
		st.Devices = append(st.Devices, ds)
	}
	return st
}

// WriteJSON writes the state as indented JSON.
func (st State) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// WriteText writes the state as two tables (devices, then processes) and
// the problems NVML reported, one a line.
func (st State) WriteText(w io.Writer) error {
	if !st.Available {
		_, err := fmt.Fprintf(w, "no GPU telemetry: %s\n", st.Reason)
		return err
	}
	if _, err := fmt.Fprintf(w, "driver %s, CUDA %s, %d GPU(s)\n", orDash(st.DriverVersion), orDash(st.CUDADriverVersion), len(st.Devices)); err != nil {
		return err
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{
			tw.AlignRight, tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}}),
	)
	t.Header("gpu", "name", "memory used / total", "SM / mem MHz", "power / limit W", "temp C", "util gpu / mem %", "clocks event reasons")
	for _, d := range st.Devices {
		mem := "-"
		if d.MemUsedBytes != nil {
			mem = FormatBytes(*d.MemUsedBytes) + " / " + FormatBytes(*d.MemTotalBytes)
		}
		reasons := "-"
		if d.ClocksEventReasons != nil {
			reasons = strings.Join(d.ClocksEventReasons, ",")
			if reasons == "" {
				reasons = "none"
			}
		}
		if err := t.Append(strconv.Itoa(d.Index), orDash(d.Name), mem,
			pair(d.SMClockMHz, d.MemClockMHz, fmtU32), pair(d.PowerW, d.PowerLimitW, fmtW),
			opt(d.TempC, fmtU32), pair(d.GPUUtilPct, d.MemUtilPct, fmtU32), reasons); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	var rows [][]string
	for _, d := range st.Devices {
		for _, p := range d.Processes {
			rows = append(rows, []string{strconv.Itoa(d.Index), strconv.FormatUint(uint64(p.PID), 10), orDash(p.Name), opt(p.UsedMemBytes, FormatBytes)})
		}
	}
	if len(rows) == 0 {
		if _, err := fmt.Fprintln(w, "no processes on the GPUs"); err != nil {
			return err
		}
	} else {
		pt := tablewriter.NewTable(w,
			tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithRendition(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)}),
			tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignRight, tw.AlignRight, tw.AlignLeft, tw.AlignRight}}),
		)
		pt.Header("gpu", "pid", "process", "GPU memory")
		if err := pt.Bulk(rows); err != nil {
			return err
		}
		if err := pt.Render(); err != nil {
			return err
		}
	}
	for _, d := range st.Devices {
		for _, p := range d.Problems {
			if _, err := fmt.Fprintf(w, "gpu %d: %s\n", d.Index, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtU32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
func fmtW(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }

func opt[T any](v *T, f func(T) string) string {
	if v == nil {
		return "-"
	}
	return f(*v)
}

func pair[T any](a, b *T, f func(T) string) string { return opt(a, f) + " / " + opt(b, f) }
