package telemetry

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Environment describes the GPUs and driver for the run manifest. Fields
// NVML could not give are omitted, and the query and its error are listed
// in Unavailable.
type Environment struct {
	// Available is false when there is no usable NVML; Reason says why.
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// DriverVersion is the NVIDIA driver version, e.g. "580.159.04".
	DriverVersion string `json:"driver_version,omitempty"`
	// CUDADriverVersion is the CUDA version the driver supports, e.g. "13.0".
	CUDADriverVersion string `json:"cuda_driver_version,omitempty"`
	// NVMLVersion is the NVML library version.
	NVMLVersion string `json:"nvml_version,omitempty"`
	// Devices lists the GPUs in NVML index order.
	Devices []DeviceInfo `json:"devices,omitempty"`
	// Unavailable maps a system-level query to the error it gave.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// DeviceInfo is the static description of one GPU.
type DeviceInfo struct {
	Index                   int      `json:"index"`
	Name                    string   `json:"name,omitempty"`
	UUID                    string   `json:"uuid,omitempty"`
	PCIBusID                string   `json:"pci_bus_id,omitempty"`
	VBIOSVersion            string   `json:"vbios_version,omitempty"`
	ComputeCapability       string   `json:"compute_capability,omitempty"`
	MemoryTotalBytes        *uint64  `json:"memory_total_bytes,omitempty"`
	PowerLimitW             *float64 `json:"power_limit_w,omitempty"`
	PowerLimitDefaultW      *float64 `json:"power_limit_default_w,omitempty"`
	PowerLimitMinW          *float64 `json:"power_limit_min_w,omitempty"`
	PowerLimitMaxW          *float64 `json:"power_limit_max_w,omitempty"`
	ApplicationsClockSMMHz  *uint32  `json:"applications_clock_sm_mhz,omitempty"`
	ApplicationsClockMemMHz *uint32  `json:"applications_clock_mem_mhz,omitempty"`
	DefaultAppClockSMMHz    *uint32  `json:"default_applications_clock_sm_mhz,omitempty"`
	DefaultAppClockMemMHz   *uint32  `json:"default_applications_clock_mem_mhz,omitempty"`
	MaxClockSMMHz           *uint32  `json:"max_clock_sm_mhz,omitempty"`
	MaxClockMemMHz          *uint32  `json:"max_clock_mem_mhz,omitempty"`
	PersistenceMode         *bool    `json:"persistence_mode,omitempty"`
	ECCEnabled              *bool    `json:"ecc_enabled,omitempty"`
	ECCPendingEnabled       *bool    `json:"ecc_pending_enabled,omitempty"`
	MIGEnabled              *bool    `json:"mig_enabled,omitempty"`
	MIGPendingEnabled       *bool    `json:"mig_pending_enabled,omitempty"`
	PCIeGen                 *int     `json:"pcie_gen,omitempty"`
	PCIeGenMax              *int     `json:"pcie_gen_max,omitempty"`
	PCIeWidth               *int     `json:"pcie_width,omitempty"`
	PCIeWidthMax            *int     `json:"pcie_width_max,omitempty"`
	NVLinkActiveLinks       *int     `json:"nvlink_active_links,omitempty"`
	NVLinkVersion           *uint32  `json:"nvlink_version,omitempty"`
	// Unavailable maps a query to the error it gave (e.g. ERROR_NOT_SUPPORTED).
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// FormatCUDAVersion renders NVML's CUDA driver version (1000*major +
// 10*minor) as "major.minor".
func FormatCUDAVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// Environment describes the driver and every GPU. Every query that can be
// NOT_SUPPORTED is tolerated (see Unavailable).
func (m *Monitor) Environment() Environment {
	env := Environment{Available: m.available, Reason: m.reason}
	if !m.available {
		return env
	}
	lib := m.lib
	miss := func(into *map[string]string, what string, ret nvml.Return) {
		if *into == nil {
			*into = map[string]string{}
		}
		(*into)[what] = ret.Error()
	}
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		env.DriverVersion = v
	} else {
		miss(&env.Unavailable, "SystemGetDriverVersion", ret)
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		env.CUDADriverVersion = FormatCUDAVersion(v)
	} else {
		miss(&env.Unavailable, "SystemGetCudaDriverVersion", ret)
	}
	if v, ret := lib.SystemGetNVMLVersion(); ret == nvml.SUCCESS {
		env.NVMLVersion = v
	} else {
		miss(&env.Unavailable, "SystemGetNVMLVersion", ret)
	}
	for i := 0; i < m.count; i++ {
		d := DeviceInfo{Index: i}
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			miss(&d.Unavailable, "DeviceGetHandleByIndex", ret)
			env.Devices = append(env.Devices, d)
			continue
		}
		describeDevice(dev, &d, func(what string, ret nvml.Return) { miss(&d.Unavailable, what, ret) })
		env.Devices = append(env.Devices, d)
	}
	return env
}

func describeDevice(dev nvml.Device, d *DeviceInfo, miss func(string, nvml.Return)) {
	str := func(what string, v string, ret nvml.Return, into *string) {
		if ret == nvml.SUCCESS {
			*into = v
		} else {
			miss(what, ret)
		}
	}
	watts := func(what string, mw uint32, ret nvml.Return) *float64 {
		if ret != nvml.SUCCESS {
			miss(what, ret)
			return nil
		}
		return ptr(float64(mw) / 1000)
	}
	mhz := func(what string, v uint32, ret nvml.Return) *uint32 {
		if ret != nvml.SUCCESS {
			miss(what, ret)
			return nil
		}
		return ptr(v)
	}
	integer := func(what string, v int, ret nvml.Return) *int {
		if ret != nvml.SUCCESS {
			miss(what, ret)
			return nil
		}
		return ptr(v)
	}
	enabled := func(s nvml.EnableState) *bool { return ptr(s == nvml.FEATURE_ENABLED) }

	v, ret := dev.GetName()
	str("GetName", v, ret, &d.Name)
	v, ret = dev.GetUUID()
	str("GetUUID", v, ret, &d.UUID)
	v, ret = dev.GetVbiosVersion()
	str("GetVbiosVersion", v, ret, &d.VBIOSVersion)
	if p, ret := dev.GetPciInfo(); ret == nvml.SUCCESS {
		d.PCIBusID = cString(p.BusId[:])
	} else {
		miss("GetPciInfo", ret)
	}
	if major, minor, ret := dev.GetCudaComputeCapability(); ret == nvml.SUCCESS {
		d.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	} else {
		miss("GetCudaComputeCapability", ret)
	}
	if mem, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotalBytes = ptr(mem.Total)
	} else {
		miss("GetMemoryInfo", ret)
	}
	mw, ret := dev.GetEnforcedPowerLimit()
	d.PowerLimitW = watts("GetEnforcedPowerLimit", mw, ret)
	mw, ret = dev.GetPowerManagementDefaultLimit()
	d.PowerLimitDefaultW = watts("GetPowerManagementDefaultLimit", mw, ret)
	lo, hi, ret := dev.GetPowerManagementLimitConstraints()
	d.PowerLimitMinW = watts("GetPowerManagementLimitConstraints", lo, ret)
	if ret == nvml.SUCCESS {
		d.PowerLimitMaxW = ptr(float64(hi) / 1000)
	}
	c, ret := dev.GetApplicationsClock(nvml.CLOCK_SM)
	d.ApplicationsClockSMMHz = mhz("GetApplicationsClock(CLOCK_SM)", c, ret)
	c, ret = dev.GetApplicationsClock(nvml.CLOCK_MEM)
	d.ApplicationsClockMemMHz = mhz("GetApplicationsClock(CLOCK_MEM)", c, ret)
	c, ret = dev.GetDefaultApplicationsClock(nvml.CLOCK_SM)
	d.DefaultAppClockSMMHz = mhz("GetDefaultApplicationsClock(CLOCK_SM)", c, ret)
	c, ret = dev.GetDefaultApplicationsClock(nvml.CLOCK_MEM)
	d.DefaultAppClockMemMHz = mhz("GetDefaultApplicationsClock(CLOCK_MEM)", c, ret)
	c, ret = dev.GetMaxClockInfo(nvml.CLOCK_SM)
	d.MaxClockSMMHz = mhz("GetMaxClockInfo(CLOCK_SM)", c, ret)
	c, ret = dev.GetMaxClockInfo(nvml.CLOCK_MEM)
	d.MaxClockMemMHz = mhz("GetMaxClockInfo(CLOCK_MEM)", c, ret)
	if s, ret := dev.GetPersistenceMode(); ret == nvml.SUCCESS {
		d.PersistenceMode = enabled(s)
	} else {
		miss("GetPersistenceMode", ret)
	}
	if cur, pend, ret := dev.GetEccMode(); ret == nvml.SUCCESS {
		d.ECCEnabled, d.ECCPendingEnabled = enabled(cur), enabled(pend)
	} else {
		miss("GetEccMode", ret)
	}
	if cur, pend, ret := dev.GetMigMode(); ret == nvml.SUCCESS {
		d.MIGEnabled, d.MIGPendingEnabled = ptr(cur == nvml.DEVICE_MIG_ENABLE), ptr(pend == nvml.DEVICE_MIG_ENABLE)
	} else {
		miss("GetMigMode", ret)
	}
	n, ret := dev.GetCurrPcieLinkGeneration()
	d.PCIeGen = integer("GetCurrPcieLinkGeneration", n, ret)
	n, ret = dev.GetMaxPcieLinkGeneration()
	d.PCIeGenMax = integer("GetMaxPcieLinkGeneration", n, ret)
	n, ret = dev.GetCurrPcieLinkWidth()
	d.PCIeWidth = integer("GetCurrPcieLinkWidth", n, ret)
	n, ret = dev.GetMaxPcieLinkWidth()
	d.PCIeWidthMax = integer("GetMaxPcieLinkWidth", n, ret)

	// NVLink: links are numbered from 0; the first link NVML refuses
	// (INVALID_ARGUMENT past the last link, NOT_SUPPORTED without NVLink)
	// ends the scan.
	active := 0
	var version *uint32
	for link := 0; link < nvml.NVLINK_MAX_LINKS; link++ {
		s, ret := dev.GetNvLinkState(link)
		if ret != nvml.SUCCESS {
			if link == 0 {
				miss("GetNvLinkState", ret)
			}
			break
		}
		if s != nvml.FEATURE_ENABLED {
			continue
		}
		active++
		if version == nil {
			if v, ret := dev.GetNvLinkVersion(link); ret == nvml.SUCCESS {
				version = ptr(v)
			} else {
				miss("GetNvLinkVersion", ret)
			}
		}
	}
	if _, failed := d.Unavailable["GetNvLinkState"]; !failed {
		d.NVLinkActiveLinks = ptr(active)
		d.NVLinkVersion = version
	}
}

// cString converts a NUL-terminated C char array to a string.
func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
