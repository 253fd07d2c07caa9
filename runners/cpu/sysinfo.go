package cpu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

// cpuModelName returns the "model name" of the first CPU in
// /proc/cpuinfo, or GOARCH where that is unavailable.
func cpuModelName() (string, error) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH, err
	}
	defer f.Close()
	name, err := parseCPUInfo(f)
	if err != nil {
		return runtime.GOARCH, err
	}
	return name, nil
}

// parseCPUInfo returns the first "model name" value of a /proc/cpuinfo
// listing.
func parseCPUInfo(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("/proc/cpuinfo: no \"model name\" line")
}

// memInfo returns a /proc/meminfo field (e.g. MemTotal) in bytes.
func memInfo(field string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMemInfo(f, field)
}

// parseMemInfo returns a field of a /proc/meminfo listing in bytes.
func parseMemInfo(r io.Reader, field string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != field {
			continue
		}
		parts := strings.Fields(val)
		if len(parts) == 0 {
			break
		}
		n, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/meminfo: %s: %w", field, err)
		}
		if len(parts) > 1 && parts[1] == "kB" {
			n *= 1024
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/meminfo: no %s line", field)
}

// heapProbe bounds the Go heap's peak over a region without stopping the
// world inside it (no runtime.ReadMemStats). begin runs runtime.GC(), so
// that the heap then holds only live objects, and reads
// /memory/classes/heap/objects:bytes and the cumulative
// /gc/heap/allocs:bytes; end reads the allocation counter again. The heap
// can never hold more than what was live at the start plus everything
// allocated since, whatever the GC did in between, so
//
//	peak <= objects(begin) + allocs(end) - allocs(begin)
//
// is a GC-independent upper bound (and exact when the region frees
// nothing, as a decode step).
type heapProbe struct {
	samples [2]metrics.Sample
	objects uint64
	allocs  uint64
}

func (p *heapProbe) read() {
	p.samples[0].Name = "/memory/classes/heap/objects:bytes"
	p.samples[1].Name = "/gc/heap/allocs:bytes"
	metrics.Read(p.samples[:])
}

func (p *heapProbe) begin() {
	runtime.GC()
	p.read()
	p.objects, p.allocs = p.samples[0].Value.Uint64(), p.samples[1].Value.Uint64()
}

// end returns the peak bound and the bytes allocated in the region.
func (p *heapProbe) end() (peak, allocated int64) {
	p.read()
	allocated = int64(p.samples[1].Value.Uint64() - p.allocs)
	return int64(p.objects) + allocated, allocated
}
