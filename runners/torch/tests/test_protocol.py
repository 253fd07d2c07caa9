"""The protocol server against a fake backend, and the worker as a subprocess (standard library only)."""

import io
import json
import os
import subprocess
import sys
import unittest

from ssmbench_torch import protocol as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeBackend(object):
    """Records calls; raises what it is told to."""

    def __init__(self):
        self.calls = []
        self.fail = {}

    def hello(self):
        return {"runner": {"name": "fake", "version": "0"}, "device": {"kind": "cpu", "name": "x", "index": 0},
                "capabilities": {"phases": ["decode"], "profiles": ["matched"], "dtypes": ["fp32"]}, "env": {}}

    def _maybe_fail(self, name):
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def load(self, req):
        self._maybe_fail("load")
        return {"param_count": 10, "nan_metric": float("nan")}, {"cuda_graph": True, "n": 3}

    def cell(self, req):
        self._maybe_fail("cell")
        return {"setup_ms": 1.5}, {"cache_fill": "synthetic"}

    def rep(self, index, warmup):
        self._maybe_fail("rep")
        return {"latency_ms": 2.0 + index}

    def end(self):
        self._maybe_fail("end")
        return {"alloc_peak_bytes": 7}, {}

    def abandon(self):
        self.calls.append("abandon")

    def close(self):
        self.calls.append("close")


def converse(backend, requests):
    inp = io.StringIO("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests))
    out, err = io.StringIO(), io.StringIO()
    code = P.Server(backend, inp, out, err).serve()
    return code, [json.loads(l) for l in out.getvalue().splitlines()]


class TestServer(unittest.TestCase):
    def test_lifecycle(self):
        be = FakeBackend()
        code, msgs = converse(be, [
            {"type": "load", "id": "l", "load": {"variant": "v"}},
            {"type": "cell", "id": "c", "cell": {"phase": "decode", "seq_len": 4, "batch": 1}},
            {"type": "rep", "id": "c", "index": 0, "warmup": True},
            {"type": "rep", "id": "c", "index": 1},
            {"type": "end", "id": "c"},
            {"type": "shutdown"}])
        self.assertEqual(code, 0)
        self.assertEqual([m["type"] for m in msgs], ["hello", "loaded", "ready", "sample", "sample", "result", "bye"])
        self.assertEqual(msgs[0]["protocol"], 1)
        self.assertEqual(msgs[1]["id"], "l")
        self.assertEqual(msgs[1]["metrics"], {"param_count": 10.0})  # NaN dropped
        self.assertEqual(msgs[1]["info"], {"cuda_graph": "True", "n": "3"})  # info values are strings
        self.assertTrue(msgs[3]["warmup"])
        self.assertEqual(msgs[4]["index"], 1)
        self.assertEqual(msgs[4]["metrics"]["latency_ms"], 3.0)
        self.assertEqual(be.calls[-1], "close")

    def test_error_statuses_and_recovery(self):
        cases = [(MemoryError("host"), "oom"), (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
                 (P.Unsupported("no fp8"), "unsupported"), (ValueError("boom"), "error")]
        for exc, status in cases:
            with self.subTest(status=status, exc=str(exc)):
                be = FakeBackend()
                be.fail["cell"] = exc
                _, msgs = converse(be, [
                    {"type": "load", "id": "l", "load": {}},
                    {"type": "cell", "id": "c1", "cell": {}},
                    {"type": "rep", "id": "c1", "index": 0},
                    {"type": "shutdown"}])
                err = msgs[2]
                self.assertEqual((err["type"], err["id"], err["status"]), ("error", "c1", status))
                self.assertIn("abandon", be.calls)
                # The failed cell is abandoned: a rep is refused until a new cell.
                self.assertEqual((msgs[3]["type"], msgs[3]["status"]), ("error", "error"))
                del be.fail["cell"]

    def test_rep_error_then_new_cell(self):
        be = FakeBackend()
        be.fail["rep"] = RuntimeError("CUDA error: out of memory")
        _, msgs = converse(be, [
            {"type": "load", "id": "l", "load": {}},
            {"type": "cell", "id": "c1", "cell": {}},
            {"type": "rep", "id": "c1", "index": 0}])
        self.assertEqual(msgs[3]["status"], "oom")
        be.fail.clear()
        _, msgs = converse(be, [{"type": "load", "id": "l", "load": {}}, {"type": "cell", "id": "c2", "cell": {}},
                                {"type": "rep", "id": "c2", "index": 0}, {"type": "end", "id": "c2"}])
        self.assertEqual([m["type"] for m in msgs[1:]], ["loaded", "ready", "sample", "result"])

    def test_bad_requests(self):
        be = FakeBackend()
        _, msgs = converse(be, [
            "not json",
            '{"no": "type"}',
            {"type": "cell", "id": "c", "cell": {}},          # before load
            {"type": "load", "id": "l"},                       # lacks load
            {"type": "load", "load": {}},                      # lacks id
            {"type": "frobnicate", "id": "f"},
            {"type": "end", "id": "e"}])
        errs = msgs[1:]
        self.assertTrue(all(m["type"] == "error" for m in errs), errs)
        self.assertNotIn("id", errs[0])
        self.assertIn("before a successful load", errs[2]["message"])
        self.assertIn("lacks load", errs[3]["message"])
        self.assertIn("lacks id", errs[4]["message"])
        self.assertEqual(errs[5]["status"], "unsupported")
        self.assertEqual(errs[6]["status"], "error")

    def test_load_error_resets_loaded(self):
        be = FakeBackend()
        be.fail["load"] = MemoryError()
        _, msgs = converse(be, [{"type": "load", "id": "l", "load": {}}, {"type": "cell", "id": "c", "cell": {}}])
        self.assertEqual(msgs[1]["status"], "oom")
        self.assertIn("before a successful load", msgs[2]["message"])

    def test_end_of_input_closes(self):
        be = FakeBackend()
        code, msgs = converse(be, [])
        self.assertEqual((code, [m["type"] for m in msgs]), (0, ["hello"]))
        self.assertEqual(be.calls, ["close"])


class TestWorkerProcess(unittest.TestCase):
    """The real worker: stdout carries protocol lines only, whatever else happens."""

    def test_hello_load_error_and_bye(self):
        env = dict(os.environ, PYTHONPATH=ROOT, SSMBENCH_TORCH_DEVICE="cpu")
        reqs = [{"type": "load", "id": "l1", "load": {"variant": "bad", "config": {"llm_config": {}}, "dtype": "fp32"}},
                {"type": "load", "id": "l2", "load": {"variant": "x", "config": {}, "profile": "reference"}},
                {"type": "shutdown"}]
        p = subprocess.run([sys.executable, "-m", "ssmbench_torch"], input="".join(json.dumps(r) + "\n" for r in reqs),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        msgs = [json.loads(l) for l in p.stdout.splitlines()]  # every line must be JSON
        self.assertEqual([m["type"] for m in msgs], ["hello", "error", "error", "bye"])
        hello = msgs[0]
        self.assertEqual((hello["protocol"], hello["runner"]["name"]), (1, "torch"))
        self.assertIn("python", hello["env"])
        if hello["env"]["torch"].startswith("absent"):
            self.assertEqual(msgs[1]["status"], "unsupported")
        else:
            self.assertEqual(msgs[1]["status"], "error")
            self.assertIn("embedding_config", msgs[1]["message"])
            self.assertEqual(msgs[2]["status"], "unsupported")
            self.assertIn("reference", msgs[2]["message"])


if __name__ == "__main__":
    unittest.main()
