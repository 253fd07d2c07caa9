"""One measurement cell: set-up, repetitions and the cell result.

Phases (PROTOCOL.md):

* prefill  -- one forward pass over seq_len tokens from position 0, logits of
  the last position only. Static runtimes write into caches allocated at
  set-up; the transformers runtime builds a fresh DynamicCache each time.
* decode   -- the next-token step at context seq_len. Set-up fills the caches
  (a real prefill, or synthetic random state of length seq_len) and every
  repetition runs the step at position seq_len: static caches overwrite the
  same slot and the Mamba states are restored from a host copy, the
  DynamicCache is cropped back; the restoring is not timed.
* generate -- prompt of seq_len tokens (the first image_tiles*256 positions
  after the first are image tokens from the vision path, when they fit), then
  greedy decoding, EOS ignored, until new_tokens tokens exist (the first comes
  from the prefill's logits, the others from new_tokens - 1 decode steps).

Memory: before each repetition the allocator peak is reset
(torch.cuda.reset_peak_memory_stats, as mmMamba's decode loop does) and
max_memory_allocated is read after it (alloc_peak_bytes). For decode cells
filled by a real prefill the set-up also measures the peak over the prefill
plus one step without a reset in between; each sample reports
alloc_peak_incl_prefill_bytes = max(that prefill peak, the step's peak): the
peak a process sees when nobody resets it after the prompt.
"""

import torch

from . import measure
from . import ops


class Cell(object):
    """State of the cell being measured."""

    def __init__(self, be, phase, n, batch, new_tokens, fill, seed):
        self.be, self.rt, self.w = be, be.runtime, be.model
        self.cfg = self.w.cfg
        self.phase, self.n, self.batch, self.new, self.fill_req, self.seed = phase, n, batch, new_tokens, fill, seed
        self.opts = be.load_req["opts"]
        self.dtype_name = be.load_req["dtype"]
        self.device = self.w.device
        self.mem = measure.Memory(self.device)
        self.timer = measure.Timer(self.device)
        self.peaks = []
        self.latencies = []
        self.prefill_peak = None
        self.fill = None

    # ---- set-up -----------------------------------------------------------------
    def _capacity(self):
        if self.phase == "prefill":
            return self.n
        if self.phase == "decode":
            return self.n + 1
        return self.n + self.new

    def _tokens(self, gen, n):
        hi = max(2, min(self.cfg.vocab, self.cfg.text_vocab))
        return torch.randint(0, hi, (self.batch, n), generator=gen, device="cpu").to(self.device)

    def setup(self):
        cfg, rt, lr = self.cfg, self.rt, self.be.load_req
        t0 = self.timer.mark()
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed)
        cpu_gen = torch.Generator()
        cpu_gen.manual_seed(self.seed)
        need = self._capacity()
        reuse = (self.opts["cache_alloc"] == "load" and getattr(rt, "batch", 0) == self.batch
                 and getattr(rt, "capacity", 0) >= need)
        if not reuse:
            rt.alloc(self.batch, need)
        info = {"timer": self.timer.kind, "phase": self.phase,
                "cache_capacity_tokens": str(getattr(rt, "capacity", 0) or need)}
        self.tokens = self._tokens(cpu_gen, self.n)
        if self.phase == "decode":
            fill = self.fill_req if self.fill_req != "auto" else self.opts["fill_auto"]
            if getattr(rt, "graph", None) is None:
                rt.prepare_steps()
            self.mem.reset_peak()
            if fill == "prefill":
                logits = rt.prefill(self.tokens)
                self.mem.sync()
                self.prefill_peak = self.mem.peak()
                nxt = torch.argmax(logits[:, -1].float(), dim=-1)
                del logits
            else:
                rt.synth_fill(self.n, gen)
                nxt = self._tokens(cpu_gen, 1).view(-1)
            rt.set_next(nxt, self.n)
            rt.snapshot()
            rt.step()  # untimed first step at context n
            self.mem.sync()
            self.setup_peak = self.mem.peak()
            rt.rewind()
            self.fill = fill
            info["cache_fill"] = fill
        elif self.phase == "generate":
            if getattr(rt, "graph", None) is None:
                rt.prepare_steps()
            tiles = int(self.opts["image_tiles"])
            per = cfg.image_tokens_per_tile
            if tiles > 0 and self.n >= tiles * per + 2:
                self.pixels = torch.randn(tiles, 3, cfg.image_size, cfg.image_size, generator=cpu_gen).to(self.device)
                self.image_tokens = tiles * per
            else:
                self.pixels, self.image_tokens = None, 0
            info["image_tokens"] = str(self.image_tokens)
            info["new_tokens"] = str(self.new)
        self.mem.sync()
        end = self.timer.mark()
        metrics = self._analytic()
        metrics["setup_ms"] = self.timer.ms(t0, end)
        metrics["cache_bytes_allocated"] = float(rt.state_bytes())
        if self.prefill_peak is not None:
            metrics["prefill_peak_bytes"] = float(self.prefill_peak)
            metrics["alloc_peak_incl_prefill_bytes"] = float(max(self.prefill_peak, self.setup_peak))
        return metrics, info

    def _analytic(self):
        cfg, dt, B = self.cfg, self.dtype_name, self.batch
        sd = self.opts["ssm_state_dtype_name"]
        ctx = self.n if self.phase != "generate" else self.n + self.new
        m = {
            "kv_cache_bytes_analytic": float(cfg.kv_bytes_per_token(dt) * ctx * B),
            "state_bytes_analytic": float(cfg.mamba_state_bytes(dt, sd) * B),
            "weight_bytes": float(self.w.nbytes()),
            "decode_weight_bytes_analytic": float(cfg.decode_weight_bytes(dt)),
            "bytes_moved_per_step_analytic": float(cfg.decode_step_bytes(dt, sd, self.n, B)),
        }
        if self.be.bandwidth:
            m["copy_bandwidth_bytes_per_s"] = float(self.be.bandwidth)
            m["floor_ms_analytic"] = m["bytes_moved_per_step_analytic"] / self.be.bandwidth * 1e3
        return m

    # ---- repetitions --------------------------------------------------------------
    def _prompt_embeds(self):
        if getattr(self, "pixels", None) is None:
            return None
        w = self.w
        x = torch.nn.functional.embedding(self.tokens, w.text_emb)
        img = ops.vision_embed(self.pixels, w.vision, self.cfg).reshape(-1, self.cfg.hidden).to(x.dtype)
        x[:, 1:1 + self.image_tokens] = img
        return x

    def rep(self, index, warmup):
        rt, mem, tm = self.rt, self.mem, self.timer
        m = {}
        if self.phase == "prefill":
            mem.reset_peak()
            a = tm.mark()
            logits = rt.prefill(self.tokens)
            b = tm.mark()
            m["latency_ms"] = tm.ms(a, b)
            del logits
        elif self.phase == "decode":
            rt.rewind()
            mem.reset_peak()
            a = tm.mark()
            rt.step()
            b = tm.mark()
            m["latency_ms"] = tm.ms(a, b)
        else:
            mem.reset_peak()
            a = tm.mark()
            emb = self._prompt_embeds()
            logits = rt.prefill(self.tokens if emb is None else None, embeds=emb)
            rt.set_next(torch.argmax(logits[:, -1].float(), dim=-1), self.n)
            del logits, emb
            mid = tm.mark()
            for _ in range(self.new - 1):
                rt.sample(rt.step())
            b = tm.mark()
            total = tm.ms(a, b)
            pre = tm.ms(a, mid)
            m["latency_ms"] = total
            m["prefill_ms"] = pre
            m["decode_ms_mean"] = (total - pre) / max(1, self.new - 1)
            m["tokens"] = float(self.new * self.batch)
            m["tokens_per_s"] = self.new * self.batch / (total / 1e3)
        mem.sync()
        m["alloc_peak_bytes"] = float(mem.peak())
        m["reserved_bytes"] = float(mem.reserved())
        m["device_used_bytes"] = float(mem.device_used())
        if self.prefill_peak is not None:
            m["alloc_peak_incl_prefill_bytes"] = float(max(self.prefill_peak, m["alloc_peak_bytes"]))
        if self.phase != "decode":
            after = getattr(rt, "after_prefill_rep", None)
            if after is not None:
                after()
        if not warmup:
            self.peaks.append(m["alloc_peak_bytes"])
            self.latencies.append(m["latency_ms"])
        return m

    def result(self):
        m = {}
        if self.peaks:
            m["alloc_peak_bytes"] = max(self.peaks)
            m["latency_ms_min"] = min(self.latencies)
        if self.be.bandwidth:
            m["copy_bandwidth_bytes_per_s"] = float(self.be.bandwidth)
        if self.prefill_peak is not None:
            m["prefill_peak_bytes"] = float(self.prefill_peak)
            m["alloc_peak_incl_prefill_bytes"] = float(max([self.prefill_peak, self.setup_peak] + self.peaks))
        info = {}
        if self.fill:
            info["cache_fill"] = self.fill
        return m, info
