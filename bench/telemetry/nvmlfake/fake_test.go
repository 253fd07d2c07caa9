package nvmlfake

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func TestScript(t *testing.T) {
	f := New(2)
	d := f.Devices[1]
	d.Script(Reading{PowerMW: 1}, Reading{PowerMW: 2})
	dev, ret := f.DeviceGetHandleByIndex(1)
	if ret != nvml.SUCCESS {
		t.Fatal(ret)
	}
	tests := []struct {
		name string
		want uint32
		ret  nvml.Return
	}{
		{"first step", 1, nvml.SUCCESS},
		{"second step", 2, nvml.SUCCESS},
		{"last step repeats", 2, nvml.SUCCESS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, ret := dev.GetPowerUsage(); got != tc.want || ret != tc.ret {
				t.Errorf("got %d %v, want %d %v", got, ret, tc.want, tc.ret)
			}
		})
	}
	if n := d.Calls("GetPowerUsage"); n != 3 {
		t.Errorf("Calls = %d, want 3", n)
	}
	d.Fail("GetPowerUsage", nvml.ERROR_NOT_SUPPORTED)
	if _, ret := dev.GetPowerUsage(); ret != nvml.ERROR_NOT_SUPPORTED {
		t.Errorf("after Fail: %v", ret)
	}
	if u, _ := dev.GetUUID(); u != "GPU-00000000-0000-0000-0000-000000000001" {
		t.Errorf("UUID %q", u)
	}
	f.FailInit(nvml.ERROR_LIBRARY_NOT_FOUND)
	if ret := f.Init(); ret != nvml.ERROR_LIBRARY_NOT_FOUND {
		t.Errorf("Init after FailInit: %v", ret)
	}
}
