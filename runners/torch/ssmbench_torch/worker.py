"""The PyTorch backend of the runner protocol: load a model, run measurement cells.

One process serves many cells of one (variant, profile, dtype, cap): the
weights are loaded once; each cell allocates what it needs (caches sized to
the cell, or once for the load's max_seq_len with options.cache_alloc=load)
and frees it at ``end``.
"""

import gc
import os
import platform
import sys
import time
import traceback

from . import __version__
from . import config as cfgmod
from .protocol import BadRequest, RunnerError, STATUS_ERROR, Unsupported, is_oom

PHASES = ("prefill", "decode", "generate")
PROFILES = ("paper", "matched")
DTYPES = ("bf16", "fp16", "fp32")
FILLS = ("auto", "prefill", "synthetic")

# Load options (strings), their allowed values and defaults per profile.
OPTION_DOCS = {
    "cache_alloc": "cell (default): caches sized to each cell's context; load: once for max_seq_len",
    "cuda_graph": "on (default) | off: capture the decode step of the static runtime",
    "kernels": "triton (default) | torch: use the Triton kernels where they pass their check",
    "ssm_state_dtype": "model (default) | fp32 | bf16: dtype the SSM decode state is stored in",
    "prefill_segment": "tokens per prefill segment of the matched runtime (MLP and Mamba layers; default 16384; 0 = whole)",
    "ssd_segment": "tokens per segment of the paper runtime's Mamba prefill (default 16384, bounding the plain-torch SSD's "
                   "intermediates near mamba_ssm's; 0 = whole)",
    "decode_sync": "on | off: host sync after every generated token (default on for paper, off for matched)",
    "image_tiles": "image tiles in a generate prompt (default 3 = 768 image tokens, when they fit; 0 = text only)",
    "tf32": "off (default) | on: TF32 matmuls for fp32 models",
    "fill_auto": "what cache_fill=auto means: prefill (default for paper) | synthetic (default for matched)",
}


def _torch():
    import torch
    return torch


class Log(object):
    """Logging callback: stderr always, and a protocol log message when a server is attached."""

    def __init__(self):
        self.server = None

    def __call__(self, level, msg):
        if self.server is not None:
            self.server.log(level, msg)
        else:
            sys.stderr.write("[ssmbench_torch] %s: %s\n" % (level, msg))
            sys.stderr.flush()


class TorchBackend(object):
    """Implements the backend interface of protocol.Server with PyTorch."""

    def __init__(self, log=None, device=None):
        self.log = log or Log()
        self.torch_error = None
        try:
            torch = _torch()
            torch.set_grad_enabled(False)
        except Exception as e:  # noqa: BLE001 - reported in hello and at load
            self.torch_error = "%s: %s" % (type(e).__name__, e)
            torch = None
        self.torch = torch
        if device is None and torch is not None:
            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = None
        self.runtime = None
        self.cell_state = None
        self.bandwidth = None
        self.load_req = None
        self.inferencer = None

    # ---- hello ----------------------------------------------------------------
    def hello(self):
        env = {"python": platform.python_version(), "ssmbench_torch": __version__}
        dev = {"kind": "cpu", "name": platform.processor() or platform.machine(), "index": 0, "cores": os.cpu_count() or 1}
        caps = {"phases": list(PHASES), "profiles": list(PROFILES), "dtypes": list(DTYPES),
                "cache_fill": ["prefill", "synthetic"], "memory_cap": False, "infer": True}
        torch = self.torch
        if torch is None:
            env["torch"] = "absent (%s)" % self.torch_error
        else:
            env["torch"] = torch.__version__
            env["cuda_runtime"] = str(torch.version.cuda or "")
            from . import kernels
            env["triton"] = kernels.VERSION or "absent"
            try:
                import transformers
                env["transformers"] = transformers.__version__
            except Exception:  # noqa: BLE001
                env["transformers"] = "absent"
            if self.device and str(self.device).startswith("cuda"):
                p = torch.cuda.get_device_properties(self.device)
                dev = {"kind": "cuda", "name": p.name, "index": torch.device(self.device).index or 0,
                       "memory_bytes": int(p.total_memory)}
                uuid = getattr(p, "uuid", None)
                if uuid is not None:
                    s = str(uuid)
                    dev["uuid"] = s if s.startswith("GPU-") else "GPU-" + s
                env["gpu_capability"] = "%d.%d" % (p.major, p.minor)
                caps["memory_cap"] = True
        return {"runner": {"name": "torch", "version": __version__}, "device": dev, "capabilities": caps, "env": env}

    # ---- load -----------------------------------------------------------------
    def load(self, req):
        if self.torch is None:
            raise Unsupported("PyTorch is not importable here (%s)" % self.torch_error)
        torch = self.torch
        t0 = time.perf_counter()
        variant = req.get("variant") or ""
        profile = req.get("profile") or "matched"
        dtype = req.get("dtype") or "bf16"
        if profile not in PROFILES:
            raise Unsupported("profile %r is not supported (have %s)" % (profile, ", ".join(PROFILES)))
        if dtype not in DTYPES:
            raise Unsupported("dtype %r is not supported (have %s)" % (dtype, ", ".join(DTYPES)))
        conf = req.get("config")
        if conf is None:
            raise BadRequest("load.config is missing")
        try:
            cfg = cfgmod.parse(conf, "load.config (%s)" % variant)
        except cfgmod.ConfigError as e:
            raise BadRequest(str(e))
        opts = self._options(req.get("options") or {}, profile, dtype)
        cap = int(req.get("memory_cap_bytes") or 0)
        max_seq = int(req.get("max_seq_len") or 0)
        weights = req.get("weights") or {"kind": "random", "seed": 1}
        if weights.get("kind") not in ("random", "safetensors"):
            raise BadRequest("load.weights.kind %r is not random or safetensors" % weights.get("kind"))
        if weights.get("kind") == "safetensors" and not weights.get("path"):
            raise BadRequest("load.weights.path is required for safetensors weights")

        self._unload()
        cuda = str(self.device).startswith("cuda")
        metrics, info = {}, {}
        if cuda:
            torch.cuda.set_device(self.device)
            if self.bandwidth is None:
                torch.cuda.set_per_process_memory_fraction(1.0, self.device)
                from . import measure
                self.bandwidth = measure.copy_bandwidth(self.device)
            total = torch.cuda.get_device_properties(self.device).total_memory
            if cap > 0:
                if cap > total:
                    raise BadRequest("load.memory_cap_bytes %d exceeds the device's %d bytes" % (cap, total))
                torch.cuda.set_per_process_memory_fraction(cap / float(total), self.device)
            else:
                torch.cuda.set_per_process_memory_fraction(1.0, self.device)
            free, tot = torch.cuda.mem_get_info(self.device)
            metrics["cuda_context_bytes"] = float(tot - free - torch.cuda.memory_reserved(self.device))
            metrics["copy_bandwidth_bytes_per_s"] = self.bandwidth
            metrics["device_memory_bytes"] = float(total)
        elif cap > 0:
            raise Unsupported("memory_cap_bytes needs a CUDA device")
        tf32 = opts["tf32"] == "on"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        if hasattr(torch, "set_float32_matmul_precision"):
            torch.set_float32_matmul_precision("high" if tf32 else "highest")

        from . import weights as wmod
        tw = time.perf_counter()
        try:
            if weights["kind"] == "random":
                w = wmod.random_weights(cfg, dtype, self.device, int(weights.get("seed", 1) or 0))
            else:
                w = wmod.load_checkpoint(cfg, weights["path"], dtype, self.device, log=self.log)
        except Exception as e:
            self._unload()
            if is_oom(e) or isinstance(e, RunnerError):
                raise
            if type(e).__name__ == "SafetensorsError":
                raise BadRequest(str(e))
            raise
        if cuda:
            torch.cuda.synchronize(self.device)
        weights_ms = (time.perf_counter() - tw) * 1e3
        self.model = w
        self.runtime = self._make_runtime(w, profile, dtype, opts, info)
        self.load_req = {"variant": variant, "profile": profile, "dtype": dtype, "cap": cap, "max_seq_len": max_seq,
                         "opts": opts, "cfg": cfg,
                         "ckpt_dir": weights["path"] if weights["kind"] == "safetensors" else ""}
        if opts["cache_alloc"] == "load" and max_seq > 0:
            self.runtime.alloc(1, max_seq + 1024)
        metrics.update({"param_count": float(w.param_count()), "weight_bytes": float(w.nbytes()),
                        "param_count_analytic": float(cfg.param_count()), "weights_ms": weights_ms,
                        "memory_cap_bytes": float(cap)})
        if cuda:
            metrics["allocated_after_load_bytes"] = float(torch.cuda.memory_allocated(self.device))
        info.update(self.runtime.info())
        info.update({"profile": profile, "dtype": dtype, "weights": w.source, "device": str(self.device),
                     "tf32": "on" if tf32 else "off",
                     "memory_cap": ("%d bytes: caching-allocator limit via torch.cuda.set_per_process_memory_fraction; "
                                    "the CUDA context is outside it" % cap) if cap else "none",
                     "cache_alloc": opts["cache_alloc"], "fill_auto": opts["fill_auto"],
                     "image_tiles": opts["image_tiles"]})
        for k in sorted(opts):
            info.setdefault("opt_" + k, str(opts[k]))
        metrics["load_ms"] = (time.perf_counter() - t0) * 1e3
        return metrics, info

    def _options(self, raw, profile, dtype):
        if not isinstance(raw, dict):
            raise BadRequest("load.options must be an object of strings")
        unknown = sorted(k for k in raw if k not in OPTION_DOCS)
        if unknown:
            raise BadRequest("load.options.%s is not a torch-runner option (known: %s)" % (unknown[0], ", ".join(sorted(OPTION_DOCS))))
        o = {"cache_alloc": "cell", "cuda_graph": "on", "kernels": "triton", "ssm_state_dtype": "model",
             "prefill_segment": "16384" if profile == "matched" else "0", "ssd_segment": "16384",
             "decode_sync": "on" if profile == "paper" else "off", "image_tiles": "3", "tf32": "off",
             "fill_auto": "prefill" if profile == "paper" else "synthetic"}
        o.update({k: str(v) for k, v in raw.items()})
        allowed = {"cache_alloc": ("cell", "load"), "cuda_graph": ("on", "off"), "kernels": ("triton", "torch"),
                   "ssm_state_dtype": ("model", "fp32", "bf16", "fp16"), "decode_sync": ("on", "off"),
                   "tf32": ("on", "off"), "fill_auto": ("prefill", "synthetic")}
        for k, vals in allowed.items():
            if o[k] not in vals:
                raise BadRequest("load.options.%s = %r (want one of %s)" % (k, o[k], ", ".join(vals)))
        for k in ("prefill_segment", "ssd_segment", "image_tiles"):
            try:
                if int(o[k]) < 0:
                    raise ValueError
            except ValueError:
                raise BadRequest("load.options.%s = %r is not a non-negative integer" % (k, o[k]))
        torch = self.torch
        sd = dtype if o["ssm_state_dtype"] == "model" else o["ssm_state_dtype"]
        o["ssm_state_torch_dtype"] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[sd]
        o["ssm_state_dtype_name"] = sd
        return o

    def _make_runtime(self, w, profile, dtype, opts, info):
        cfg = w.cfg
        if profile == "paper" and cfg.count_kind(cfgmod.MAMBA2) == 0:
            try:
                from .runtime_hf import HFRuntime
                return HFRuntime(w, opts, self.log)
            except ImportError as e:
                raise Unsupported("the paper profile of an all-attention model needs transformers: %s" % e)
        from .runtime_static import StaticRuntime
        from . import kernels
        ok = []
        if opts["kernels"] == "triton" and kernels.AVAILABLE and str(self.device).startswith("cuda"):
            from . import kcheck
            td = self.torch.float32 if dtype == "fp32" else (self.torch.bfloat16 if dtype == "bf16" else self.torch.float16)
            res = kcheck.selfcheck(td, self.device, P=cfg.head_dim, nkv=cfg.kv_heads, g=cfg.group)
            for k, err in sorted(res.items()):
                if err is None:
                    ok.append(k)
                else:
                    self.log("warn", "Triton kernel %s failed its check and is replaced by PyTorch: %s" % (k, err))
            info["kernel_check"] = ",".join("%s=%s" % (k, "ok" if v is None else "FAILED") for k, v in sorted(res.items()))
        else:
            info["kernel_check"] = "not run (%s)" % ("kernels=torch" if opts["kernels"] == "torch" else "no Triton/CUDA")
        return StaticRuntime(w, profile, opts, ok, self.log)

    def _unload(self):
        self._free_cell()
        self.inferencer = None
        self.runtime = None
        self.model = None
        gc.collect()
        if self.torch is not None and str(self.device).startswith("cuda"):
            self.torch.cuda.empty_cache()

    # ---- cells ----------------------------------------------------------------
    def _free_cell(self):
        self.cell_state = None
        if self.runtime is not None:
            try:
                keep = (self.load_req is not None and self.load_req["opts"]["cache_alloc"] == "load"
                        and getattr(self.runtime, "keeps_caches", False))
                if not keep:
                    self.runtime.free()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        gc.collect()
        if self.torch is not None and str(self.device).startswith("cuda"):
            self.torch.cuda.synchronize(self.device)
            self.torch.cuda.empty_cache()

    def cell(self, c):
        if self.runtime is None:
            raise BadRequest("no model loaded")
        self._free_cell()
        from .cell import Cell
        phase = c.get("phase")
        if phase not in PHASES:
            raise Unsupported("phase %r is not supported" % (phase,))
        fill = c.get("cache_fill") or "auto"
        if fill not in FILLS:
            raise BadRequest("cell.cache_fill %r is not auto, prefill or synthetic" % fill)
        n, b = int(c.get("seq_len") or 0), int(c.get("batch") or 1)
        if n <= 0 or b <= 0:
            raise BadRequest("cell needs seq_len > 0 and batch > 0, got %d and %d" % (n, b))
        new = int(c.get("new_tokens") or 0)
        if phase == "generate" and new <= 0:
            new = 256
        cs = Cell(self, phase, n, b, new, fill, int(c.get("seed") or 0))
        metrics, info = cs.setup()
        self.cell_state = cs
        return metrics, info

    def rep(self, index, warmup):
        if self.cell_state is None:
            raise RunnerError(STATUS_ERROR, "rep without a prepared cell")
        return self.cell_state.rep(index, warmup)

    def end(self):
        cs = self.cell_state
        if cs is None:
            raise RunnerError(STATUS_ERROR, "end without a prepared cell")
        metrics, info = cs.result()
        self._free_cell()
        return metrics, info

    def abandon(self):
        """Free everything of a failed cell (after an OOM too) so the next cell can run."""
        self._free_cell()

    # ---- infer ------------------------------------------------------------------
    def infer(self, body):
        """Answer one infer request (PROTOCOL.md "infer"): (output, metrics, info).

        A failure (an OOM too) frees the request's caches, so the worker stays
        usable for the next request or cell.
        """
        if self.runtime is None:
            raise BadRequest("infer before a successful load")
        if self.cell_state is not None:
            raise BadRequest("infer inside a cell (send end first)")
        if self.inferencer is None:
            from .infer_torch import Inferencer
            self.inferencer = Inferencer(self)
        try:
            return self.inferencer.infer(body)
        except RunnerError:
            raise  # a bad request or an unsupported one: nothing was allocated for it
        except Exception:
            self._free_cell()  # frees the caches (unless cache_alloc=load), gc, empty_cache
            raise

    def close(self):
        self._unload()
