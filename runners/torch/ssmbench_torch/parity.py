"""Numerical parity with the Go CPU reference (runners/cpu).

The Go runner writes fixtures to runners/cpu/testdata/parity/<variant>/:
config.json, model.safetensors (fp32) and expected.safetensors with tokens
(I64 [T]), prefill_logits (F32 [T, V], every prompt position), decode_tokens
(I64 [n]) and decode_logits (F32 [n, V], after feeding each decode token one
at a time after the prefill). run() computes the same two arrays with the
worker (any profile, device, options) and error() compares them.

Tolerance: max|ours - expected| / max|expected| < TOLERANCE, over each array,
in fp32 with TF32 off.
"""

import json
import os

import torch

from . import safetensors as st
from .worker import Log, TorchBackend

TOLERANCE = 1e-4
FIXTURE_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "cpu", "testdata", "parity"))
VARIANTS = ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny")


def fixtures():
    """The variant directories that hold a complete fixture, as {variant: dir}."""
    out = {}
    for v in VARIANTS:
        d = os.path.join(FIXTURE_DIR, v)
        if all(os.path.isfile(os.path.join(d, f)) for f in ("config.json", "model.safetensors", "expected.safetensors")):
            out[v] = d
    return out


def load_expected(directory):
    """The expected arrays of a fixture directory as torch tensors."""
    return st.load_file(os.path.join(directory, "expected.safetensors"))


def run(ckpt_dir, tokens, decode_tokens, profile, device, options=None, config=None):
    """(prefill_logits [T, V], decode_logits [n, V]) in fp32 from the worker's runtime."""
    if config is None:
        with open(os.path.join(ckpt_dir, "config.json")) as f:
            config = json.load(f)
    be = TorchBackend(log=Log(), device=device)
    be.load({"variant": "parity", "config": config, "weights": {"kind": "safetensors", "path": ckpt_dir},
             "dtype": "fp32", "profile": profile, "options": dict(options or {})})
    try:
        rt = be.runtime
        tokens = tokens.view(1, -1).to(torch.int64).to(be.model.device)
        dec = decode_tokens.view(-1).to(torch.int64).to(be.model.device)
        T, n = tokens.shape[1], dec.shape[0]
        rt.alloc(1, T + n + 1)
        rt.prepare_steps()
        pre = rt.prefill(tokens, all_logits=True)[0].float().cpu()
        outs = []
        for i in range(n):
            rt.set_next(dec[i:i + 1], T + i)
            outs.append(rt.step().float().view(-1).cpu().clone())
        return pre, torch.stack(outs), rt.info()
    finally:
        be.close()


def error(ours, expected):
    """max|ours - expected| / max|expected|."""
    ours, expected = ours.double(), expected.double()
    if ours.shape != expected.shape:
        raise ValueError("shape %s != expected %s" % (tuple(ours.shape), tuple(expected.shape)))
    if not torch.isfinite(ours).all():
        return float("inf")
    return ((ours - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()
