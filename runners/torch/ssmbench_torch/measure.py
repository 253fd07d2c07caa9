"""Timers, allocator statistics and the copy-bandwidth probe."""

import statistics
import time

import torch


class Timer(object):
    """Marks points on the device timeline (CUDA events) or the host clock (CPU)."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.kind = "cuda_event" if self.cuda else "wall_monotonic"

    def mark(self):
        """A point in time, recorded on the current stream."""
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def ms(self, a, b):
        """Milliseconds from mark a to mark b (synchronises on b)."""
        if self.cuda:
            b.synchronize()
            return a.elapsed_time(b)
        return (b - a) * 1e3


class Memory(object):
    """Allocator statistics of one device (all zero on CPU)."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self):
        """Synchronise and reset the allocator's peak (as mmMamba's decode loop does)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self):
        return torch.cuda.max_memory_allocated(self.device) if self.cuda else 0

    def allocated(self):
        return torch.cuda.memory_allocated(self.device) if self.cuda else 0

    def reserved(self):
        return torch.cuda.memory_reserved(self.device) if self.cuda else 0

    def device_used(self):
        """Device memory in use by everything (total - free), the CUDA context included."""
        if not self.cuda:
            return 0
        free, total = torch.cuda.mem_get_info(self.device)
        return total - free

    def total(self):
        if not self.cuda:
            return 0
        return torch.cuda.get_device_properties(self.device).total_memory

    def release(self):
        """Return cached blocks to the driver."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()


def copy_bandwidth(device, nbytes=1 << 30, reps=10):
    """Device-to-device copy bandwidth in bytes/s (bytes read + written), median of reps.

    Uses two buffers of nbytes/2 each; CPU devices return 0.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return 0.0
    n = nbytes // 2
    src = torch.empty(n, dtype=torch.uint8, device=device)
    src.random_(0, 255)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        dst.copy_(src)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    del src, dst
    torch.cuda.empty_cache()
    return 2.0 * n / statistics.median(times)
