"""The infer request: toy tokenizer, prompt, stop rules, protocol messages, and the worker against the Go runner.

The standard-library tests run under a plain python3 (make test-py). The
torch tests answer the requests of tests/testdata/infer_expected.json (the Go
CPU runner's answers, gen_infer_fixture.py) with the worker on the CPU, in
both profiles; test_gpu.TestInferGPU repeats them on the GPU.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

from ssmbench_torch import infer as I
from ssmbench_torch import protocol as P
from tests import infer_fixture as fx
from tests.test_protocol import FakeBackend, converse
from tests.util import HAVE_TORCH, needs_torch

if HAVE_TORCH:
    import torch
    from ssmbench_torch.worker import Log, TorchBackend

TORCH_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def have_transformers():
    try:
        import transformers  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False


# ---- standard library ---------------------------------------------------------

class TestToyTokenizer(unittest.TestCase):
    """The same cases as runners/cpu/infer_test.go TestToyTokenizer."""

    def test_ids_encode_decode(self):
        for name, V, TV, ctx, ids in (("hovle-tiny", 512, 521, 514, (510, 511, 512, 513, 514)),
                                      ("real", 92544, 92553, 92546, (92542, 92543, 92544, 92545, 92546))):
            with self.subTest(config=name):
                t = I.ToyTokenizer(V, TV, ctx)
                im_end, im_start, img, img_end, c = ids
                for s, want in ((I.IM_END, im_end), (I.IM_START, im_start), (I.IMG_START, img), (I.IMG_END, img_end),
                                (I.IMG_CONTEXT, c), ("<s>", 1), ("</s>", 2), ("<unk>", 0)):
                    self.assertEqual(t.id(s), want, s)
                got = t.encode(u"<|im_start|>user\nA<img><IMG_CONTEXT></img>\u00e9<|im_end|><x")
                b = lambda ch: 3 + ord(ch)  # noqa: E731
                self.assertEqual(got, [im_start, b("u"), b("s"), b("e"), b("r"), b("\n"), b("A"), img, c, img_end,
                                       3 + 0xC3, 3 + 0xA9, im_end, b("<"), b("x")])
                self.assertEqual(t.decode(got), u"user\nA\u00e9<x")
                self.assertEqual(t.decode([b("o"), 3 + 0xC3, 300, b("k")]), u"o\ufffdk")
                self.assertEqual(t.piece(im_end), I.IM_END)
                self.assertEqual(t.stop_piece(im_end), I.IM_END)
                self.assertIsNone(t.stop_piece(b("a")))   # byte tokens stop through the text rule
                self.assertIsNone(t.stop_piece(300))      # unused id
                self.assertEqual(t.prompt_ids("<s>"), [1, 1])

    def test_too_small(self):
        with self.assertRaisesRegex(ValueError, "vocab_size 200"):
            I.ToyTokenizer(200, 521, 514)
        with self.assertRaisesRegex(ValueError, "no room for <img>"):
            I.ToyTokenizer(512, 513, 514)
        for c in (512, 513, 100, 510, 521, -1):
            with self.subTest(img_context=c), self.assertRaisesRegex(ValueError, "collides"):
                I.ToyTokenizer(512, 521, c)

    def test_longest_special_first(self):
        t = I.ToyTokenizer(512, 521, 514)
        self.assertEqual(t.encode("</s></img><img><s>"), [2, 513, 512, 1])
        self.assertEqual(t.encode("<|im_end"), [3 + ord(ch) for ch in "<|im_end"])
        self.assertEqual(t.encode(u"\ud800"), [3 + 0xEF, 3 + 0xBF, 3 + 0xBD])  # a lone surrogate is U+FFFD


class TestGoValidUTF8(unittest.TestCase):
    def test_cases(self):
        for raw, want in ((b"plain", u"plain"), (b"\xff\xfe", u"\ufffd"), (b"a\xffb\xfec", u"a\ufffdb\ufffdc"),
                          (b"\xe2\x82", u"\ufffd"), (b"\xe2\x82\xac", u"\u20ac"), (b"\xc0\xaf", u"\ufffd"),
                          (b"\xed\xa0\x80x", u"\ufffdx"), (b"\xf4\x90\x80\x80", u"\ufffd"),
                          (b"\xff\xef\xbf\xbd\xff", u"\ufffd\ufffd\ufffd"), (b"\xf0\x9f\x98\x80\x80", u"\U0001F600\ufffd"),
                          (b"", u"")):
            with self.subTest(raw=raw):
                self.assertEqual(I.go_valid_utf8(raw), want)


class TestRequest(unittest.TestCase):
    def test_parse_and_query(self):
        r = I.parse_request({"segments": [{"text": "a"}, {"image": {"path": "/p/x.safetensors", "tiles": 2}},
                                          {"text": "b"}, {"image": {"path": "/p/y.safetensors", "tiles": 1}}],
                             "max_new_tokens": 5})
        self.assertEqual(r.stop, [])
        self.assertEqual(r.images(), [("/p/x.safetensors", 2), ("/p/y.safetensors", 1)])
        self.assertEqual(r.total_tiles(), 3)
        self.assertEqual(I.build_query(r, 4), "a<img>" + "<IMG_CONTEXT>" * 8 + "</img>b<img>" + "<IMG_CONTEXT>" * 4 + "</img>")

    def test_errors_name_the_field(self):
        ok = {"segments": [{"text": "a"}], "max_new_tokens": 1}
        for body, msg in (
                ({"max_new_tokens": 1}, "infer.segments is empty"),
                ({"segments": [], "max_new_tokens": 1}, "infer.segments is empty"),
                ({"segments": "x", "max_new_tokens": 1}, "infer.segments must be a list"),
                ({"segments": [{"text": "a", "image": {"path": "/x", "tiles": 1}}], "max_new_tokens": 1},
                 r"segments\[0\] has both text and image"),
                ({"segments": [{"text": "a"}, {}], "max_new_tokens": 1}, r"segments\[1\] has neither text nor image"),
                ({"segments": [{"text": ""}], "max_new_tokens": 1}, r"segments\[0\] has neither"),
                ({"segments": [{"image": {"path": "rel/x", "tiles": 1}}], "max_new_tokens": 1},
                 r'segments\[0\].image.path "rel/x" is not an absolute path'),
                ({"segments": [{"image": {"path": "/x", "tiles": 0}}], "max_new_tokens": 1},
                 r"segments\[0\].image.tiles must be >= 1, got 0"),
                ({"segments": [{"image": {"path": "/x", "tiles": True}}], "max_new_tokens": 1}, "tiles must be >= 1"),
                ({"segments": [{"text": 3}], "max_new_tokens": 1}, r"segments\[0\].text must be a string"),
                (dict(ok, max_new_tokens=0), "max_new_tokens must be >= 1, got 0"),
                (dict(ok, max_new_tokens=1.5), "max_new_tokens must be >= 1"),
                (dict(ok, stop=["x", ""]), r"infer.stop\[1\] is empty"),
                (dict(ok, stop="x"), "infer.stop must be a list"),
                ("x", "infer must be an object")):
            with self.subTest(msg=msg), self.assertRaisesRegex(P.BadRequest, msg):
                I.parse_request(body)


class ScriptTok(object):
    """A tokenizer for Decoder tests: ids are characters' code points; 1000 is a special <end>."""

    def stop_piece(self, t):
        return "<end>" if t == 1000 else chr(t)

    def decode(self, ids):
        return "".join(chr(t) for t in ids if t != 1000)


class TestDecoder(unittest.TestCase):
    def run_ids(self, ids, stop, max_new):
        d = I.Decoder(ScriptTok(), stop, max_new)
        n = 0
        for t in ids:
            n += 1
            if d.push(t):
                break
        return d.output(7, 0), n

    def test_stop_rules(self):
        for name, ids, stop, max_new, want in (
                ("length", [ord(c) for c in "hello"], [], 3, ("hel", 3, "length")),
                ("special token", [ord("a"), 1000, ord("b")], ["<end>"], 9, ("a", 2, "stop")),
                ("special not listed", [ord("a"), 1000, ord("b")], ["x"], 3, ("ab", 3, "length")),
                ("text cut", [ord(c) for c in " ab\nc"], ["\n"], 9, (" ab", 4, "stop")),
                ("earliest of two", [ord(c) for c in "xyzw"], ["zw", "yz"], 9, ("x", 3, "stop")),
                ("stop wins over length", [ord(c) for c in "ab"], ["b"], 2, ("a", 2, "stop")),
                ("token equal to a stop string", [ord(c) for c in "ab"], ["b"], 9, ("a", 2, "stop")),
                ("unstripped", [ord(c) for c in "  Yes "], [], 6, ("  Yes ", 6, "length"))):
            with self.subTest(name):
                out, n = self.run_ids(ids, stop, max_new)
                self.assertEqual((out["text"], out["generated_tokens"], out["stop_reason"]), want)
                self.assertEqual(n, want[1])
                self.assertEqual(sorted(out), sorted(P.OUTPUT_FIELDS))

    def test_push_after_end(self):
        d = I.Decoder(ScriptTok(), [], 1)
        self.assertTrue(d.push(65))
        with self.assertRaises(RuntimeError):
            d.push(66)


class InferFake(FakeBackend):
    def infer(self, body):
        self._maybe_fail("infer")
        return ({"text": " Yes", "prompt_tokens": 9, "image_tokens": 4, "generated_tokens": 2, "stop_reason": "stop",
                 "extra": 1}, {"latency_ms": 3.5}, {"tokenizer": "toy"})


class TestServerInfer(unittest.TestCase):
    REQ = {"type": "infer", "id": "i", "infer": {"segments": [{"text": "q"}], "max_new_tokens": 2}}

    def test_output_message(self):
        _, msgs = converse(InferFake(), [{"type": "load", "id": "l", "load": {}}, self.REQ])
        self.assertEqual(msgs[2], {"type": "output", "id": "i",
                                   "output": {"text": " Yes", "prompt_tokens": 9, "image_tokens": 4,
                                              "generated_tokens": 2, "stop_reason": "stop"},
                                   "metrics": {"latency_ms": 3.5}, "info": {"tokenizer": "toy"}})

    def test_refusals(self):
        _, msgs = converse(InferFake(), [self.REQ, {"type": "load", "id": "l", "load": {}},
                                         {"type": "infer", "id": "j"},
                                         {"type": "cell", "id": "c", "cell": {}}, self.REQ])
        self.assertIn("before a successful load", msgs[1]["message"])
        self.assertIn("lacks infer", msgs[3]["message"])
        self.assertIn("inside a cell", msgs[5]["message"])
        _, msgs = converse(FakeBackend(), [{"type": "load", "id": "l", "load": {}}, self.REQ])
        self.assertEqual((msgs[2]["type"], msgs[2]["status"]), ("error", "unsupported"))

    def test_failed_item_then_next(self):
        for exc, status in ((RuntimeError("CUDA out of memory. Tried to allocate 9 GiB"), "oom"),
                            (P.BadRequest("infer: image /x: no pixel_values"), "error"),
                            (P.Unsupported("no tokenizer"), "unsupported")):
            with self.subTest(status=status):
                be = InferFake()
                be.fail["infer"] = exc
                _, msgs = converse(be, [{"type": "load", "id": "l", "load": {}}, self.REQ])
                self.assertEqual((msgs[2]["type"], msgs[2]["id"], msgs[2]["status"]), ("error", "i", status))
                del be.fail["infer"]
                _, msgs = converse(be, [{"type": "load", "id": "l", "load": {}}, self.REQ])
                self.assertEqual(msgs[2]["type"], "output")

    def test_check_output(self):
        good = {"text": "", "prompt_tokens": 1, "image_tokens": 0, "generated_tokens": 1, "stop_reason": "length"}
        self.assertEqual(P.check_output(good), good)
        for bad, msg in ((dict(good, stop_reason="eos"), "stop_reason"), (dict(good, prompt_tokens=-1), "prompt_tokens"),
                         ({"text": ""}, "lacks"), (dict(good, text=None), "text")):
            with self.subTest(msg=msg), self.assertRaisesRegex(P.RunnerError, msg):
                P.check_output(bad)


@unittest.skipUnless(fx.fixture_available() and fx.load_expected(), "no parity checkpoints or infer fixture")
class TestFixtureTokens(unittest.TestCase):
    """The toy tokenizer and query building give the Go runner's prompt_tokens (standard library only)."""

    def test_prompt_tokens(self):
        doc = fx.load_expected()
        for case in doc["cases"]:
            c = fx.config(case["variant"])
            e, l = c["embedding_config"], c["llm_config"]
            tok = I.ToyTokenizer(l["vocab_size"], e["llm_vocab_size"], e["img_context_token_id"])
            per = int(round((e["image_size"] // e["patch_size"]) ** 2 * e["downsample_ratio"] ** 2))
            segs = fx.prompt_segments("/p") if case["prompt"] == "image" else fx.text_segments()
            req = I.parse_request(dict(case["request"], segments=segs))
            ids = tok.prompt_ids(I.build_query(req, per))
            with self.subTest(variant=case["variant"], prompt=case["prompt"]):
                self.assertEqual(len(ids), case["expected"]["prompt_tokens"])
                self.assertEqual(ids.count(tok.img_context), case["expected"]["image_tokens"])
            if case["checkpoint"] == "ascii":  # the fixture's claim: the text spells the ids
                self.assertTrue(all(0x20 <= ord(ch) < 0x7F for ch in case["expected"]["text"]))


@unittest.skipUnless(shutil.which("go") and fx.fixture_available(), "needs Go and the parity checkpoints")
class TestFixtureFresh(unittest.TestCase):
    """tests/testdata/infer_expected.json is what the Go runner answers now (else: run gen_infer_fixture.py)."""

    def test_fresh(self):
        tmp = tempfile.mkdtemp(prefix="ssmbench-go-")
        try:
            exe = os.path.join(tmp, "ssmbench")
            env = dict(os.environ, CGO_CFLAGS=os.environ.get("CGO_CFLAGS", "-O2 -Wno-deprecated-declarations"))
            b = subprocess.run(["go", "build", "-o", exe, "./cmd/ssmbench"], cwd=fx.ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
            self.assertEqual(b.returncode, 0, b.stdout[-3000:])
            p = subprocess.run([sys.executable, os.path.join(fx.TESTS, "gen_infer_fixture.py"), "--check", "--ssmbench", exe],
                               cwd=fx.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=600)
            self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ---- with PyTorch ---------------------------------------------------------------

def fixture_cases():
    doc = fx.load_expected()
    return doc["cases"] if doc else []


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_fixture(case, device, profiles=("paper", "matched")):
    """Answer every fixture request with the worker on device and compare each output field with Go's."""
    cases = fixture_cases()
    if not cases or not fx.fixture_available():
        case.skipTest("no infer fixture (run tests/gen_infer_fixture.py) or parity checkpoints")
    tmp = tempfile.mkdtemp(prefix="ssmbench-infer-")
    try:
        groups = {}
        for c in cases:
            groups.setdefault((c["variant"], c["checkpoint"], c.get("im_end_from")), []).append(c)
        for (variant, kind, _), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
            for profile in profiles:
                if variant.startswith("hovle") and profile == "paper" and not have_transformers():
                    continue
                be = TorchBackend(log=Log(), device=device)
                try:
                    ckpt, _ = fx.materialise(group[0], tmp)
                    _, info = be.load(dict(fx.load_request(variant, ckpt), profile=profile))
                    for c in group:
                        ckpt2, body = fx.materialise(c, tmp)
                        case.assertEqual(ckpt2, ckpt)
                        pix = [s["image"]["path"] for s in body["segments"] if "image" in s]
                        before = [read_bytes(p) for p in pix]
                        out, met, oinfo = be.infer(body)
                        with case.subTest(variant=variant, checkpoint=kind, profile=profile, device=device,
                                          request=json.dumps(c["request"]), runtime=info.get("runtime")):
                            case.assertEqual(out, c["expected"])
                            if str(device).startswith("cuda") and info["runtime"].startswith("static"):
                                case.assertEqual(info["cuda_graph"], "on")
                            case.assertGreater(met["latency_ms"], 0)
                            case.assertEqual(oinfo["tokenizer"], I.ToyTokenizer.name)
                        case.assertEqual([read_bytes(p) for p in pix], before, "pixel files changed")
                finally:
                    be.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_bf16(case, device, variants, profiles=("paper", "matched")):
    """bf16 (pixels cast to the model dtype): well-formed answers on the ascii checkpoint, 24 printable bytes each."""
    cases = [c for c in fixture_cases() if c["checkpoint"] == "ascii" and c["request"]["max_new_tokens"] == 24
             and not c["request"]["stop"] and c["variant"] in variants]
    if not cases or not fx.fixture_available():
        case.skipTest("no infer fixture")
    tmp = tempfile.mkdtemp(prefix="ssmbench-infer-")
    try:
        for c in cases:
            ckpt, body = fx.materialise(c, tmp)
            for profile in profiles:
                if c["variant"].startswith("hovle") and profile == "paper" and not have_transformers():
                    continue
                with case.subTest(variant=c["variant"], profile=profile, device=device, dtype="bf16"):
                    be = TorchBackend(log=Log(), device=device)
                    try:
                        be.load(dict(fx.load_request(c["variant"], ckpt), profile=profile, dtype="bf16"))
                        out, met, _ = be.infer(body)
                    finally:
                        be.close()
                    want = c["expected"]
                    case.assertEqual((out["prompt_tokens"], out["image_tokens"], out["generated_tokens"], out["stop_reason"]),
                                     (want["prompt_tokens"], want["image_tokens"], 24, "length"))
                    case.assertEqual(len(out["text"]), 24)
                    case.assertTrue(all(0x20 <= ord(ch) < 0x7F for ch in out["text"]), out["text"])
                    sys.stderr.write("\n[infer-bf16] %s %s %s: %r (fp32 Go: %r), %.1f ms\n"
                                     % (c["variant"], profile, device, out["text"], want["text"], met["latency_ms"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def fake_transformers(factory):
    """sys.modules["transformers"] replaced: factory(dir) is AutoTokenizer.from_pretrained; None: not importable."""
    saved = sys.modules.get("transformers", "absent")
    if factory is None:
        sys.modules["transformers"] = None
    else:
        m = types.ModuleType("transformers")
        m.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda d, **kw: factory(d, kw))
        sys.modules["transformers"] = m
    try:
        yield
    finally:
        if saved == "absent":
            del sys.modules["transformers"]
        else:
            sys.modules["transformers"] = saved


class SentencePieceLike(object):
    """A stand-in for InternLM2Tokenizer: the toy ids, SentencePiece-style token strings (<0x41> for bytes)."""

    def __init__(self, toy, kw):
        self.toy, self.kw = toy, kw
        self.unk_token_id = 0

    def __call__(self, text):
        return types.SimpleNamespace(input_ids=self.toy.prompt_ids(text))

    def convert_tokens_to_ids(self, s):
        tid = self.toy.id(s)
        return 0 if tid is None else tid

    def convert_ids_to_tokens(self, t):
        return "<0x%02X>" % (t - 3) if 3 <= t < 259 else self.toy.piece(t)

    def decode(self, ids, skip_special_tokens=False):
        assert skip_special_tokens
        return self.toy.decode(ids)


@needs_torch
class TestInferCPU(unittest.TestCase):
    def setUp(self):
        if not fx.fixture_available():
            self.skipTest("no parity checkpoints")
        self.tmp = tempfile.mkdtemp(prefix="ssmbench-infer-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_matches_go_runner(self):
        check_fixture(self, "cpu")

    def test_bf16(self):
        check_bf16(self, "cpu", ("mmmamba-linear-tiny",), ("matched",))

    def case(self, variant, kind="imstop"):
        for c in fixture_cases():
            if c["variant"] == variant and c["checkpoint"] == kind:
                return c
        self.skipTest("no infer fixture")

    def load(self, case, profile="matched", ckpt=None):
        c_ckpt, body = fx.materialise(case, self.tmp)
        be = TorchBackend(log=Log(), device="cpu")
        be.load(dict(fx.load_request(case["variant"], ckpt or c_ckpt), profile=profile))
        self.addCleanup(be.close)
        return be, body

    def test_checkpoint_tokenizer(self):
        """A checkpoint with tokenizer.model goes through AutoTokenizer (trust_remote_code, slow)."""
        c = self.case("mmmamba-linear-tiny")
        ckpt = os.path.join(self.tmp, "with-tokenizer")
        shutil.copytree(fx.derive(c["variant"], c["checkpoint"], self.tmp, c["im_end_from"]), ckpt)
        with open(os.path.join(ckpt, "tokenizer.model"), "wb") as f:
            f.write(b"not read by the stand-in")
        be, body = self.load(c, ckpt=ckpt)
        toy = I.ToyTokenizer(512, 521, 514)
        seen = []
        with fake_transformers(lambda d, kw: seen.append((d, kw)) or SentencePieceLike(toy, kw)):
            out, _, info = be.infer(body)
            be.infer(body)
        self.assertEqual(out, c["expected"])  # <|im_end|> found through convert_ids_to_tokens
        self.assertEqual(seen, [(ckpt, {"trust_remote_code": True, "use_fast": False})])  # loaded once
        self.assertIn("SentencePieceLike (tokenizer.model", info["tokenizer"])
        be.inferencer.tok = None
        with fake_transformers(None):
            with self.assertRaisesRegex(P.Unsupported, "transformers is not importable"):
                be.infer(body)

    def test_errors_leave_the_worker_usable(self):
        c = self.case("hovle-tiny")
        be, body = self.load(c)
        S = 56
        bad = os.path.join(self.tmp, "bad.safetensors")

        def with_image(path, tiles=1):
            b = json.loads(json.dumps(body))
            b["segments"][1]["image"] = {"path": path, "tiles": tiles}
            return b
        import struct
        raw = struct.pack("<%df" % (3 * S * S), *([0.5] * (3 * S * S)))
        for name, tensors, tiles, msg in (
                ("shape", {"pixel_values": ("F32", (1, 3, S, S), raw)}, 2, r"shape \[1, 3, 56, 56\], want \[2, 3, 56, 56\]"),
                ("dtype", {"pixel_values": ("F16", (2, 3, S, S), raw)}, 1, "is F16, want F32"),
                ("name", {"pixels": ("F32", (1, 3, S, S), raw)}, 1, "has no 'pixel_values' tensor")):
            with self.subTest(name):
                from ssmbench_torch import safetensors as st
                st.write_file(bad, tensors)
                with self.assertRaisesRegex(P.BadRequest, msg):
                    be.infer(with_image(bad, tiles))
        with self.assertRaisesRegex(P.BadRequest, "No such file"):
            be.infer(with_image(os.path.join(self.tmp, "absent.safetensors")))
        b = json.loads(json.dumps(body))
        b["segments"][0]["text"] += "<IMG_CONTEXT>"
        with self.assertRaisesRegex(P.BadRequest, "13 <IMG_CONTEXT> tokens"):
            be.infer(b)
        be.cell({"phase": "decode", "seq_len": 8, "batch": 1, "cache_fill": "prefill"})
        with self.assertRaisesRegex(P.BadRequest, "inside a cell"):
            be.infer(body)
        be.end()
        out, _, _ = be.infer(body)
        self.assertEqual(out, c["expected"])

    def test_no_vision_path(self):
        """A checkpoint without the vision tensors answers text prompts and refuses images."""
        c = self.case("hovle-tiny", "raw")
        from ssmbench_torch import safetensors as st
        src = os.path.join(fx.PARITY_DIR, c["variant"])
        ckpt = os.path.join(self.tmp, "novision")
        os.makedirs(ckpt)
        shutil.copyfile(os.path.join(src, "config.json"), os.path.join(ckpt, "config.json"))
        t = st.load_file(os.path.join(src, "model.safetensors"))
        st.save_torch(os.path.join(ckpt, "model.safetensors"),
                      {k: v for k, v in t.items() if "vision_embeddings" not in k})
        be, body = self.load(c, ckpt=ckpt)
        text_case = [x for x in fixture_cases() if x["variant"] == c["variant"] and x["prompt"] == "text"][0]
        _, tbody = fx.materialise(text_case, self.tmp)
        self.assertEqual(be.infer(tbody)[0], text_case["expected"])
        _, ibody = fx.materialise([x for x in fixture_cases() if x["variant"] == c["variant"] and x["prompt"] == "image"][0],
                                  self.tmp)
        with self.assertRaisesRegex(P.Unsupported, "lacks the vision path"):
            be.infer(ibody)

    def test_protocol_session(self):
        """The worker process: hello offers infer; an infer request gets an output message."""
        c = self.case("mmmamba-hybrid-tiny")
        ckpt, body = fx.materialise(c, self.tmp)
        reqs = [{"type": "load", "id": "l", "load": dict(fx.load_request(c["variant"], ckpt), profile="paper")},
                {"type": "infer", "id": "i1", "infer": body},
                {"type": "infer", "id": "i2", "infer": dict(body, max_new_tokens=0)},
                {"type": "infer", "id": "i3", "infer": body},
                {"type": "shutdown"}]
        env = dict(os.environ, PYTHONPATH=TORCH_ROOT, SSMBENCH_TORCH_DEVICE="cpu")
        p = subprocess.run([sys.executable, "-m", "ssmbench_torch"], input="".join(json.dumps(r) + "\n" for r in reqs),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        msgs = [json.loads(l) for l in p.stdout.splitlines() if json.loads(l)["type"] != "log"]
        self.assertEqual([m["type"] for m in msgs], ["hello", "loaded", "output", "error", "output", "bye"])
        self.assertTrue(msgs[0]["capabilities"]["infer"])
        for m in (msgs[2], msgs[4]):
            self.assertEqual(m["output"], c["expected"])
            self.assertEqual(sorted(m), ["id", "info", "metrics", "output", "type"])
            self.assertIn("latency_ms", m["metrics"])
        self.assertIn("max_new_tokens must be >= 1", msgs[3]["message"])


@needs_torch
@unittest.skipUnless(shutil.which("go") and fx.fixture_available(), "needs Go and the parity checkpoints")
class TestEvalEndToEnd(unittest.TestCase):
    """ssmbench eval through this worker and through the Go runner, on a parity checkpoint: the same predictions."""

    def test_same_predictions(self):
        tmp = tempfile.mkdtemp(prefix="ssmbench-e2e-")
        self.addCleanup(shutil.rmtree, tmp, True)
        exe = os.path.join(tmp, "ssmbench")
        env = dict(os.environ, CGO_CFLAGS=os.environ.get("CGO_CFLAGS", "-O2 -Wno-deprecated-declarations"))
        b = subprocess.run(["go", "build", "-o", exe, "./cmd/ssmbench"], cwd=fx.ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
        self.assertEqual(b.returncode, 0, b.stdout[-3000:])
        # `ssmbench eval --runner torch` starts "python3": make that this interpreter.
        pybin = os.path.join(tmp, "bin")
        os.makedirs(pybin)
        os.symlink(sys.executable, os.path.join(pybin, "python3"))
        env["PATH"] = pybin + os.pathsep + env.get("PATH", "")
        env["SSMBENCH_TORCH_DEVICE"] = os.environ.get("SSMBENCH_TORCH_DEVICE", "cpu")
        variant = "mmmamba-hybrid-tiny"
        preds = {}
        for runner in ("cpu", "torch"):
            out = os.path.join(tmp, runner)
            args = [exe, "eval", "pope", "mmbench", "--runner", runner, "--variant", variant,
                    "--weights", os.path.join(fx.PARITY_DIR, variant), "--dtype", "fp32",
                    "--registry", os.path.join(fx.ROOT, "datasets", "testdata", "registry.yaml"),
                    "--limit", "3", "--max-new-tokens", "12", "--out", out]
            if runner == "torch":
                args += ["--profile", "matched"]
            p = subprocess.run(args, cwd=fx.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=900)
            self.assertEqual(p.returncode, 0, p.stdout[-3000:])
            for bench in ("pope", "mmbench"):
                with open(os.path.join(out, bench, "predictions.jsonl"), encoding="utf-8") as f:
                    rows = [json.loads(l) for l in f if l.strip()]
                preds[runner, bench] = [{k: v for k, v in r.items() if k not in ("latency_ms", "metrics")} for r in rows]
        for bench in ("pope", "mmbench"):
            with self.subTest(bench=bench):
                self.assertGreaterEqual(len(preds["torch", bench]), 3)  # --limit keeps MMBench circular groups whole
                self.assertTrue(all(r["image_tokens"] > 0 for r in preds["torch", bench]))
                self.assertEqual(preds["torch", bench], preds["cpu", bench])


if __name__ == "__main__":
    unittest.main()
