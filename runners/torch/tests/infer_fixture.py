"""The cross-runner infer fixture: checkpoints, pixel files and requests (standard library only).

tests/testdata/infer_expected.json holds the Go CPU runner's answers
(runners/cpu/infer.go) to a set of infer requests on the tiny parity
checkpoints (runners/cpu/testdata/parity/<variant>/). gen_infer_fixture.py
writes it by driving ``ssmbench worker cpu`` over the protocol; the torch
tests (test_infer.py, test_gpu.py) ask the PyTorch worker the same requests
and compare every output field.

A random tiny model emits mostly ids the toy tokenizer decodes to nothing,
so the text alone would say little about the generated ids. Two derived
checkpoints fix that; both are the parity checkpoint with rows of
``language_model.output.weight`` edited, written by derive() on both sides:

* ``ascii``: every row except the printable ASCII bytes (ids 3+0x20 ..
  3+0x7e) is zero, so every greedy token is a printable byte (the zero
  logits never win: some byte logit is positive) and the text spells the
  generated ids exactly;
* ``imstop``: as ``ascii``, then the row of one byte b (chosen by the
  generator from the ascii answer) moves to ``<|im_end|>`` (id V-2) and b's
  row becomes zero: the first time the model would write b it emits
  ``<|im_end|>`` instead, which stops a request with stop ["<|im_end|>"].

``raw`` is the parity checkpoint itself (unused ids and invalid UTF-8 runs
in the text: the U+FFFD handling is compared).
"""

import json
import os
import random
import shutil
import struct

from ssmbench_torch import safetensors as st

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(TESTS, "..", "..", ".."))
PARITY_DIR = os.path.join(ROOT, "runners", "cpu", "testdata", "parity")
EXPECTED = os.path.join(TESTS, "testdata", "infer_expected.json")
VARIANTS = ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny")
OUTPUT_WEIGHT = "language_model.output.weight"
PRINTABLE = range(3 + 0x20, 3 + 0x7F)

# The prompt: text, an image of 2 tiles, text, an image of 1 tile, text.
SYSTEM = ("<|im_start|>system\n你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, "
          "是一个有用无害的人工智能助手。<|im_end|><|im_start|>user\n")
IMAGES = (("a", 2, 11), ("b", 1, 12))  # (name, tiles, seed)


def prompt_segments(pixdir):
    """The image prompt's segments, pixel files under pixdir."""
    a, b = [os.path.join(pixdir, "%s.safetensors" % n) for n, _, _ in IMAGES]
    return [{"text": SYSTEM},
            {"image": {"path": a, "tiles": IMAGES[0][1]}},
            {"text": "\nCompare it with "},
            {"image": {"path": b, "tiles": IMAGES[1][1]}},
            {"text": "\nDescribe the first image.<|im_end|><|im_start|>assistant\n"}]


def text_segments():
    """A text-only prompt (one segment)."""
    return [{"text": SYSTEM + "Say something about \u00e9t\u00e9 <s> and bytes.<|im_end|><|im_start|>assistant\n"}]


def write_pixels(pixdir, image_size):
    """Write the pixel files of IMAGES (F32 [tiles, 3, S, S], seeded N(0, 1) values) into pixdir."""
    os.makedirs(pixdir, exist_ok=True)
    for name, tiles, seed in IMAGES:
        r = random.Random(seed)
        n = tiles * 3 * image_size * image_size
        raw = struct.pack("<%df" % n, *[r.gauss(0.0, 1.0) for _ in range(n)])
        st.write_file(os.path.join(pixdir, "%s.safetensors" % name),
                      {"pixel_values": ("F32", (tiles, 3, image_size, image_size), raw)},
                      metadata={"source": "tests/infer_fixture.py seed %d" % seed})


def config(variant):
    """The parity checkpoint's config.json of a variant, as a dict."""
    with open(os.path.join(PARITY_DIR, variant, "config.json")) as f:
        return json.load(f)


def fixture_available():
    """True when every variant's parity checkpoint is there."""
    return all(os.path.isfile(os.path.join(PARITY_DIR, v, "model.safetensors")) for v in VARIANTS)


def derive(variant, kind, dst, im_end_from=None):
    """The checkpoint directory of (variant, kind) ("raw", "ascii" or "imstop"); dst holds derived ones."""
    src = os.path.join(PARITY_DIR, variant)
    if kind == "raw":
        return src
    out = os.path.join(dst, "%s-%s" % (variant, kind))
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(src, "config.json"), os.path.join(out, "config.json"))
    path = os.path.join(src, "model.safetensors")
    infos, _ = st.read_header(path)
    info = infos[OUTPUT_WEIGHT]
    if info.dtype != "F32" or len(info.shape) != 2:
        raise ValueError("%s: %s is %s %s, want F32 [V, H]" % (path, OUTPUT_WEIGHT, info.dtype, info.shape))
    V, H = info.shape
    with open(path, "rb") as f:
        data = bytearray(f.read())
    row = H * 4
    rows = [bytes(data[info.start + i * row:info.start + (i + 1) * row]) for i in range(V)]
    keep = set(PRINTABLE)
    zero = bytes(row)
    new = [rows[i] if i in keep else zero for i in range(V)]
    if kind == "imstop":
        if im_end_from is None or (3 + im_end_from) not in keep:
            raise ValueError("imstop needs a printable byte to move to <|im_end|>, got %r" % (im_end_from,))
        new[V - 2] = rows[3 + im_end_from]
        new[3 + im_end_from] = zero
    elif kind != "ascii":
        raise ValueError("unknown checkpoint kind %r" % kind)
    data[info.start:info.end] = b"".join(new)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(data)
    return out


def load_request(variant, ckpt):
    """The load request body for a checkpoint directory (fp32; the profile is the caller's)."""
    return {"variant": variant, "config": config(variant), "weights": {"kind": "safetensors", "path": ckpt},
            "dtype": "fp32"}


def load_expected():
    """The fixture document, or None when it was not generated."""
    if not os.path.isfile(EXPECTED):
        return None
    with open(EXPECTED) as f:
        return json.load(f)


def materialise(case, tmp):
    """Pixel files and derived checkpoints for a fixture case under tmp: [(checkpoint dir, infer body)]."""
    variant = case["variant"]
    pixdir = os.path.join(tmp, "pixels-%d" % config(variant)["embedding_config"]["image_size"])
    if not os.path.isdir(pixdir):
        write_pixels(pixdir, config(variant)["embedding_config"]["image_size"])
    ckpt = derive(variant, case["checkpoint"], tmp, case.get("im_end_from"))
    body = dict(case["request"])
    body["segments"] = prompt_segments(pixdir) if case["prompt"] == "image" else text_segments()
    return ckpt, body
