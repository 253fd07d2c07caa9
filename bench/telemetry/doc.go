// Package telemetry samples NVIDIA GPUs through NVML (github.com/NVIDIA/go-nvml)
// beside each measurement cell, and describes them for the run manifest.
//
// # Use
//
//	m, err := telemetry.Open(telemetry.Options{Hz: 1000})
//	if !m.Available() { log once: m.Reason(); record no GPU columns }
//	s := m.Begin(cellID, runnerPID, deviceIndex)  // samples in a goroutine
//	... warm-up ...
//	s.StartWindow()                                // around the timed repetitions
//	... measured repetitions ...
//	s.EndWindow(tokens)
//	agg, samples := s.End()                        // cells.parquet columns, telemetry.parquet rows
//	m.Close()
//
// Open never fails for want of a GPU: without NVML (no driver, no device)
// the Monitor reports Available() == false and its Sessions return an
// empty Aggregate (all columns null) and no samples. A CPU run therefore
// needs no special case.
//
// # What a Session records
//
// One goroutine and a ticker (Options.Hz, 100 by default; 1000 works)
// take samples. Each tick reads the memory NVML attributes to each process
// on the device and the device's used memory; every Options.SlowEvery-th
// tick (about 100 Hz by default) also reads power, the energy counter, SM
// and memory clocks, clocks-event (throttle) reasons, temperature and
// utilisation. StartWindow, EndWindow, Begin and End take a full sample
// synchronously, so a measured window always has samples at both ends and
// the energy counter is read exactly at its edges.
//
// The runner's processes are the root PID given to Begin and every
// descendant, found by walking /proc (the walk runs only when NVML shows a
// PID not seen before). NVML's PIDs may belong to another PID namespace
// (a container): when none of them is the runner's, the Aggregate says so
// (nvml_process_matched = false, isolated = null, and a warning) instead
// of guessing. Any other process on the device makes the cell not
// isolated. Any clocks-event reason other than idle (and those in
// Options.ThrottleIgnore) makes it throttled. Energy is the increase of
// NVML's total-energy counter over the window(s), as vLLM's GpuEnergyMeter
// does; a counter that goes backwards drops the value with a warning.
// Every such flag is data: a field of the Aggregate plus a sentence in its
// Warnings, never a log line. A query the device does not support is
// switched off and named once in Warnings; it never fails the cell.
//
// # Three memory numbers, and the one the paper used
//
// NVML's per-process figure (nvml_process_mem_peak_bytes) is what the
// driver has mapped for the process: the CUDA context (on a Hopper GPU
// with a recent driver, roughly 500 MiB for the context, the module images
// of the loaded kernels and cuBLAS/cuDNN workspaces) plus every block the
// caching allocator of the framework holds. It is close to what
// nvidia-smi shows, and to device used memory minus other processes and
// the driver's own reservation.
//
// PyTorch's caching allocator reports two smaller numbers:
//
//   - torch.cuda.memory_reserved / max_memory_reserved: the segments the
//     allocator obtained with cudaMalloc and keeps for reuse. NVML's
//     per-process figure is about this plus the CUDA context (and any
//     memory allocated outside the allocator: NCCL, cuBLAS workspaces,
//     CUDA graphs' private pools count as reserved).
//   - torch.cuda.max_memory_allocated: the peak of the bytes held by live
//     tensors, reset with reset_peak_memory_stats. Reserved exceeds it by
//     the allocator's cache of freed blocks and by fragmentation (block
//     sizes rounded up, free space in segments too small for the next
//     request).
//
// So allocated <= reserved < NVML per-process, and the gaps are the CUDA
// context (~500 MiB), the cache and fragmentation. The seed paper
// (mmMamba, Fig. 1) reports, almost certainly, the allocator peak: its
// released decode loop calls torch.cuda.reset_max_memory_allocated before
// each step, and its "GB" figures fit max_memory_allocated in GiB (see the
// reference mmmamba.md §2.1 and §2.3; the benchmark script itself was not
// released).
// To compare with the paper, use the runner's alloc_peak_bytes sample
// metric (the allocator peak, reset before each repetition); the NVML
// columns here say what the process really took from the device, which
// is what decides an out-of-memory failure. Like optimum-benchmark, the
// harness keeps the three apart and never calls any of them "the" memory.
//
// Note that the NVML figures are sampled: a peak shorter than the sample
// period can be missed, which the allocator peak never is. The caching
// allocator holds on to its peak segments, though, so the per-process
// figure rarely falls between samples inside a cell.
//
// # Tests without a GPU
//
// Package nvmlfake provides an nvml.Interface built on go-nvml's DGX H200
// mock whose readings follow a script; Options.Tick drives the sampler one
// sample at a time, so tests need no sleeps.
package telemetry
