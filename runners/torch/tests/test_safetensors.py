"""The safetensors header parser and writer (standard library only), with a fuzz loop."""

import json
import os
import random
import shutil
import struct
import tempfile
import unittest

from ssmbench_torch import safetensors as S


def header_bytes(doc, pad_data=0):
    h = json.dumps(doc).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * pad_data


class TestHeader(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_roundtrip(self):
        p = os.path.join(self.dir, "a.safetensors")
        S.write_file(p, {"x": ("F32", (2, 3), struct.pack("<6f", *range(6))), "n": ("I64", (1,), struct.pack("<q", -5)),
                         "e": ("BF16", (0, 4), b"")}, metadata={"format": "pt"})
        infos, meta = S.read_header(p)
        self.assertEqual(list(infos), ["x", "n", "e"])
        self.assertEqual(meta, {"format": "pt"})
        self.assertEqual((infos["x"].dtype, infos["x"].shape, infos["x"].nbytes), ("F32", (2, 3), 24))
        self.assertEqual(struct.unpack("<6f", bytes(S.read_bytes(infos["x"]))), tuple(float(i) for i in range(6)))
        self.assertEqual(struct.unpack("<q", bytes(S.read_bytes(infos["n"])))[0], -5)

    def test_malformed(self):
        ok = {"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
        cases = {
            "short": b"\x01\x02",
            "long header": struct.pack("<Q", 1 << 40),
            "past end": struct.pack("<Q", 100) + b"{}",
            "not json": struct.pack("<Q", 3) + b"{x}",
            "not object": header_bytes([1, 2]),
            "bad dtype": header_bytes({"t": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, 8),
            "bad shape": header_bytes({"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8),
            "bool shape": header_bytes({"t": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, 8),
            "size mismatch": header_bytes({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8),
            "outside data": header_bytes(ok, 4),
            "offsets": header_bytes({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8]}}, 8),
            "overlap": header_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12),
            "bad metadata": header_bytes({"__metadata__": [1]}),
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                with self.assertRaises(S.SafetensorsError) as cm:
                    S.parse_header(raw, len(raw), "f.safetensors")
                self.assertIn("f.safetensors", str(cm.exception))
        raw = header_bytes(ok, 8)
        infos, _ = S.parse_header(raw, len(raw))
        self.assertEqual(infos["t"].start, len(raw) - 8)

    def test_fuzz_only_safetensors_errors(self):
        rng = random.Random(1234)
        good = header_bytes({"a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
                             "b": {"dtype": "I8", "shape": [3], "data_offsets": [8, 11]}}, 11)
        for _ in range(3000):
            raw = bytearray(good)
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                if op < 0.5 and raw:
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
                elif op < 0.75 and raw:
                    del raw[rng.randrange(len(raw)):]
                else:
                    raw[rng.randrange(len(raw) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            try:
                infos, _ = S.parse_header(bytes(raw), len(raw))
            except S.SafetensorsError:
                continue
            for i in infos.values():  # whatever parses must lie inside the file
                self.assertTrue(0 <= i.start <= i.end <= len(raw))

    def test_sharded_index(self):
        a, b = os.path.join(self.dir, "m-1.safetensors"), os.path.join(self.dir, "m-2.safetensors")
        S.write_file(a, {"x": ("F32", (1,), b"\0" * 4)})
        S.write_file(b, {"y": ("F32", (1,), b"\0" * 4)})
        idx = os.path.join(self.dir, "model.safetensors.index.json")
        with open(idx, "w") as f:
            json.dump({"weight_map": {"x": "m-1.safetensors", "y": "m-2.safetensors"}}, f)
        self.assertEqual(sorted(S.checkpoint_index(self.dir)), ["x", "y"])
        with open(idx, "w") as f:
            json.dump({"weight_map": {"x": "m-2.safetensors", "y": "m-1.safetensors"}}, f)
        with self.assertRaises(S.SafetensorsError) as cm:
            S.checkpoint_index(self.dir)
        self.assertIn("'x'", str(cm.exception))

    def test_write_rejects_mismatch(self):
        with self.assertRaises(S.SafetensorsError):
            S.write_file(os.path.join(self.dir, "z.safetensors"), {"x": ("F32", (2,), b"\0" * 4)})


if __name__ == "__main__":
    unittest.main()
