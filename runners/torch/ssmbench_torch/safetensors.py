"""A small safetensors reader and writer.

The header parsing and writing need only the standard library; turning a
tensor's bytes into a torch.Tensor (load_tensor) imports torch. Sharded
checkpoints (model.safetensors.index.json) are supported.

Format: 8-byte little-endian header length n, n bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the data; offsets are relative to the end of the header.
"""

import json
import os
import struct
from collections import OrderedDict

DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
}

MAX_HEADER = 100 << 20


class SafetensorsError(ValueError):
    """A file is not a valid safetensors file; the message names the file and tensor."""


class TensorInfo(object):
    """Where one tensor lives: file, dtype, shape and absolute byte range."""

    __slots__ = ("name", "path", "dtype", "shape", "start", "end")

    def __init__(self, name, path, dtype, shape, start, end):
        self.name, self.path, self.dtype, self.shape, self.start, self.end = name, path, dtype, shape, start, end

    @property
    def nbytes(self):
        return self.end - self.start

    def __repr__(self):
        return "TensorInfo(%s, %s, %s)" % (self.name, self.dtype, list(self.shape))


def parse_header(head, file_size, path="<bytes>"):
    """Parse a header from the first bytes of a file.

    head must hold at least the 8-byte length and the JSON; file_size is the
    size of the whole file. Returns (OrderedDict name -> TensorInfo, metadata).
    Raises SafetensorsError for anything malformed.
    """
    if len(head) < 8:
        raise SafetensorsError("%s: file too short for a safetensors header (%d bytes)" % (path, len(head)))
    (n,) = struct.unpack("<Q", bytes(head[:8]))
    if n > MAX_HEADER:
        raise SafetensorsError("%s: header length %d exceeds %d" % (path, n, MAX_HEADER))
    if 8 + n > file_size:
        raise SafetensorsError("%s: header length %d runs past the end of the file (%d bytes)" % (path, n, file_size))
    if len(head) < 8 + n:
        raise SafetensorsError("%s: header truncated" % path)
    try:
        doc = json.loads(bytes(head[8:8 + n]).decode("utf-8"), object_pairs_hook=OrderedDict)
    except (ValueError, UnicodeDecodeError) as e:
        raise SafetensorsError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(doc, dict):
        raise SafetensorsError("%s: header is not a JSON object" % path)
    data_start, data_len = 8 + n, file_size - 8 - n
    meta = doc.pop("__metadata__", None)
    if meta is not None and not isinstance(meta, dict):
        raise SafetensorsError("%s: __metadata__ is not an object" % path)
    infos = OrderedDict()
    for name, ent in doc.items():
        where = "%s: tensor %r" % (path, name)
        if not isinstance(ent, dict):
            raise SafetensorsError("%s: entry is not an object" % where)
        dt, shape, offs = ent.get("dtype"), ent.get("shape"), ent.get("data_offsets")
        if dt not in DTYPE_SIZES:
            raise SafetensorsError("%s: unknown dtype %r" % (where, dt))
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise SafetensorsError("%s: shape %r is not a list of non-negative integers" % (where, shape))
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise SafetensorsError("%s: data_offsets %r is not [begin, end]" % (where, offs))
        b, e = offs
        if b < 0 or e < b or e > data_len:
            raise SafetensorsError("%s: data_offsets [%d, %d] outside the data (%d bytes)" % (where, b, e, data_len))
        count = 1
        for s in shape:
            count *= s
        if count * DTYPE_SIZES[dt] != e - b:
            raise SafetensorsError("%s: %s %s needs %d bytes, data_offsets span %d"
                                   % (where, dt, shape, count * DTYPE_SIZES[dt], e - b))
        infos[name] = TensorInfo(name, path, dt, tuple(shape), data_start + b, data_start + e)
    spans = sorted((i.start, i.end, i.name) for i in infos.values() if i.end > i.start)
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError("%s: tensors %r and %r overlap" % (path, n0, n1))
    return infos, meta or {}


def read_header(path):
    """Read and parse the header of one .safetensors file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        first = f.read(8)
        if len(first) < 8:
            raise SafetensorsError("%s: file too short for a safetensors header (%d bytes)" % (path, len(first)))
        (n,) = struct.unpack("<Q", first)
        if n > MAX_HEADER or 8 + n > size:
            return parse_header(first, size, path)
        return parse_header(first + f.read(n), size, path)


def checkpoint_index(directory):
    """Map every tensor name of a checkpoint directory to its TensorInfo.

    Uses model.safetensors.index.json when present (its weight_map must agree
    with the shards), else model.safetensors, else every *.safetensors file.
    """
    idx = os.path.join(directory, "model.safetensors.index.json")
    if os.path.isfile(idx):
        with open(idx) as f:
            try:
                wm = json.load(f).get("weight_map")
            except ValueError as e:
                raise SafetensorsError("%s: %s" % (idx, e))
        if not isinstance(wm, dict):
            raise SafetensorsError("%s: weight_map missing" % idx)
        files = sorted(set(wm.values()))
    elif os.path.isfile(os.path.join(directory, "model.safetensors")):
        files, wm = ["model.safetensors"], None
    else:
        files = sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))
        wm = None
    if not files:
        raise SafetensorsError("%s: no .safetensors files" % directory)
    out = OrderedDict()
    for fn in files:
        infos, _ = read_header(os.path.join(directory, fn))
        for name, info in infos.items():
            if name in out:
                raise SafetensorsError("%s: tensor %r is in both %s and %s" % (directory, name, out[name].path, info.path))
            if wm is not None and wm.get(name) != fn:
                raise SafetensorsError("%s: tensor %r is in %s but the index says %r" % (directory, name, fn, wm.get(name)))
            out[name] = info
    if wm is not None:
        missing = [n for n in wm if n not in out]
        if missing:
            raise SafetensorsError("%s: index names tensors no shard holds: %s" % (directory, ", ".join(missing[:5])))
    return out


def read_bytes(info):
    """The raw bytes of one tensor, as a bytearray."""
    buf = bytearray(info.nbytes)
    with open(info.path, "rb") as f:
        f.seek(info.start)
        n = f.readinto(buf)
    if n != info.nbytes:
        raise SafetensorsError("%s: tensor %r truncated (%d of %d bytes)" % (info.path, info.name, n, info.nbytes))
    return buf


def write_file(path, tensors, metadata=None):
    """Write tensors {name: (dtype, shape, bytes)} to path (standard library only)."""
    header, data, off = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, (dt, shape, raw) in tensors.items():
        count = 1
        for s in shape:
            count *= s
        if dt not in DTYPE_SIZES or count * DTYPE_SIZES[dt] != len(raw):
            raise SafetensorsError("%s: tensor %r: %s %s does not fit %d bytes" % (path, name, dt, list(shape), len(raw)))
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        data.append(raw)
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for raw in data:
            f.write(raw)
    os.replace(tmp, path)


# ---- torch side -------------------------------------------------------------

def torch_dtype(dt):
    """The torch dtype of a safetensors dtype name."""
    import torch
    table = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
             "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
             "BOOL": torch.bool}
    if dt not in table:
        raise SafetensorsError("dtype %s is not supported by this reader" % dt)
    return table[dt]


def load_tensor(info):
    """Read one tensor into a (CPU) torch.Tensor."""
    import torch
    buf = read_bytes(info)
    count = info.nbytes // DTYPE_SIZES[info.dtype]
    if count == 0:
        return torch.empty(info.shape, dtype=torch_dtype(info.dtype))
    t = torch.frombuffer(buf, dtype=torch_dtype(info.dtype), count=count)
    return t.reshape(info.shape)


def load_file(path):
    """Read every tensor of one file into an OrderedDict of torch tensors."""
    infos, _ = read_header(path)
    return OrderedDict((n, load_tensor(i)) for n, i in infos.items())


_ST_NAMES = None


def save_torch(path, tensors, metadata=None):
    """Write {name: torch.Tensor} to a safetensors file."""
    import torch
    global _ST_NAMES
    if _ST_NAMES is None:
        _ST_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                     torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                     torch.uint8: "U8", torch.bool: "BOOL"}
    out = OrderedDict()
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        dt = _ST_NAMES[t.dtype]
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        out[name] = (dt, tuple(t.shape), raw)
    write_file(path, out, metadata)
