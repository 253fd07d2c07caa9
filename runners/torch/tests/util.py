"""Helpers shared by the tests that need PyTorch."""

import json
import os
import shutil
import tempfile
import unittest

try:
    import torch
    HAVE_TORCH = True
except Exception:  # noqa: BLE001
    torch = None
    HAVE_TORCH = False

try:
    import numpy  # noqa: F401
    HAVE_NUMPY = True
except Exception:  # noqa: BLE001
    HAVE_NUMPY = False

HAVE_CUDA = HAVE_TORCH and torch.cuda.is_available()
REQUIRE_GPU = os.environ.get("SSMBENCH_REQUIRE_GPU") == "1"

needs_torch = unittest.skipUnless(HAVE_TORCH and HAVE_NUMPY, "PyTorch and NumPy are not installed (runs under make gpu-test)")


def gpu_or_skip(case):
    """Skip a GPU test without CUDA, unless SSMBENCH_REQUIRE_GPU=1 (make gpu-test), where it fails."""
    if not HAVE_CUDA:
        if REQUIRE_GPU:
            case.fail("SSMBENCH_REQUIRE_GPU=1 but no CUDA device with PyTorch is available")
        case.skipTest("no CUDA device")


class TinyCheckpoint(object):
    """A random tiny model written as a checkpoint directory (config.json + model.safetensors)."""

    def __init__(self, variant, seed=3, chunk=16, edit=None):
        from ssmbench_torch import config, safetensors as st, weights
        with open(os.path.join(config.CONFIG_DIR, variant + ".json")) as f:
            self.raw = json.load(f)
        if chunk:
            self.raw["llm_config"]["ssmbench_chunk_size"] = chunk
        if edit:
            edit(self.raw)
        self.cfg = config.parse(self.raw, variant)
        w = weights.random_weights(self.cfg, "fp32", "cpu", seed)
        self.state = weights.export_checkpoint(w)
        self.dir = tempfile.mkdtemp(prefix="ssmbench-ckpt-")
        st.save_torch(os.path.join(self.dir, "model.safetensors"), self.state)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.raw, f)

    def numpy_weights(self):
        return {k: v.double().numpy() for k, v in self.state.items()}

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
