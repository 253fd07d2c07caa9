"""GPU tests (make gpu-test): Triton kernels against PyTorch, the CUDA-graph and
Triton paths against the float64 oracle, Go fixtures on the GPU, the memory cap,
the full-size weight memory, and the infer request (against the Go runner, and
at full size). They skip without CUDA, and fail instead when
SSMBENCH_REQUIRE_GPU=1.
"""

import json
import os
import subprocess
import sys
import unittest

from tests.util import HAVE_TORCH, TinyCheckpoint, gpu_or_skip, needs_torch

if HAVE_TORCH:
    import torch
    from ssmbench_torch import config, kcheck, kernels, parity
    from ssmbench_torch.worker import Log, TorchBackend
    from tests import oracle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = float(1 << 30)


@needs_torch
class TestKernels(unittest.TestCase):
    """Every Triton kernel on fresh random inputs, including sizes that are not multiples of the blocks."""

    def setUp(self):
        gpu_or_skip(self)
        if not kernels.AVAILABLE:
            self.fail("Triton is not importable on this GPU machine")
        torch.backends.cuda.matmul.allow_tf32 = False

    def tol(self, dtype):
        return kcheck.TOL[dtype]

    def test_add_rmsnorm(self):
        for dt in (torch.bfloat16, torch.float32):
            for B, H, d in ((1, 2048, True), (3, 2048, False), (2, 1000, True), (1, 128, True)):
                with self.subTest(dtype=dt, B=B, H=H, delta=d):
                    self.assertLess(kcheck.check_add_rmsnorm(B, H, dt, d), self.tol(dt))

    def test_swiglu(self):
        for dt in (torch.bfloat16, torch.float32):
            for B, I in ((1, 8192), (2, 1000 + 7), (3, 256)):
                with self.subTest(dtype=dt, B=B, I=I):
                    self.assertLess(kcheck.check_swiglu(B, I, dt), self.tol(dt))

    def test_rope_kv(self):
        for dt in (torch.bfloat16, torch.float32):
            for layout in ("split", "interleaved"):
                for B, nh, nkv, d, cap, pos in ((1, 16, 8, 128, 105, 104), (2, 16, 8, 128, 37, 0), (2, 4, 2, 32, 9, 5)):
                    with self.subTest(dtype=dt, layout=layout, B=B, d=d, pos=pos):
                        self.assertLess(kcheck.check_rope_kv(B, nh, nkv, d, cap, pos, dt, layout), self.tol(dt))

    def test_attention(self):
        cases = [
            # B, nh, nkv, d, cap, seqlens, target programs
            (1, 16, 8, 128, 1, (1,), None),
            (1, 16, 8, 128, 63, (63,), None),
            (2, 16, 8, 128, 1000, (1000, 333), None),
            (1, 16, 8, 128, 4097, (4097,), None),
            (1, 16, 8, 128, 33000, (32999,), None),
            (2, 16, 8, 128, 5000, (4999, 1), 7),
            (1, 4, 2, 32, 200, (131,), None),
            (1, 8, 8, 64, 300, (300,), None),   # g = 1
            (1, 32, 4, 128, 700, (650,), None),  # g = 8
        ]
        for dt in (torch.bfloat16, torch.float32):
            for layout in ("split", "interleaved"):
                for B, nh, nkv, d, cap, sl, tp in cases:
                    with self.subTest(dtype=dt, layout=layout, B=B, nh=nh, nkv=nkv, d=d, cap=cap, seqlens=sl):
                        e = kcheck.check_attn(B, nh, nkv, d, cap, sl, dt, layout, 64, tp)
                        self.assertLess(e, self.tol(dt))

    def test_mamba_fused(self):
        for dt in (torch.bfloat16, torch.float32):
            for sd in (dt, torch.float32):
                for B, nkv, g, P in ((1, 8, 2, 128), (3, 2, 2, 32), (2, 4, 1, 64)):
                    with self.subTest(dtype=dt, state=sd, B=B, nkv=nkv, g=g, P=P):
                        self.assertLess(kcheck.check_mamba_fused(B, nkv, g, P, dt, sd), self.tol(dt))

    def test_ssm_update(self):
        for dt in (torch.bfloat16, torch.float32):
            for sd in (dt, torch.float32):
                for B, h, P in ((1, 16, 128), (2, 4, 32)):
                    with self.subTest(dtype=dt, state=sd, B=B, h=h, P=P):
                        self.assertLess(kcheck.check_ssm_update(B, h, P, dt, sd), self.tol(dt))

    def test_state_passing(self):
        for B, c, h, pn, init in ((1, 1, 16, 16384, True), (2, 37, 16, 16384, False), (1, 5, 3, 1000, True)):
            with self.subTest(B=B, c=c, pn=pn, init=init):
                self.assertLess(kcheck.check_state_passing(B, c, h, pn, init), 2e-5)

    def test_attention_bandwidth_report(self):
        """Not a pass/fail bound: prints the split-KV kernel's achieved bandwidth at 105K keys."""
        B, nh, nkv, d, cap = 1, 16, 8, 128, 105473
        kc = torch.randn(B, nkv, cap, d, device="cuda", dtype=torch.bfloat16)
        vc = torch.randn_like(kc)
        q = torch.randn(B, nh, d, device="cuda", dtype=torch.bfloat16)
        sl = torch.tensor([cap], dtype=torch.int32, device="cuda")
        plan = kernels.SplitPlan(B, nh, nkv, d, cap, "cuda")
        out = torch.empty_like(q)
        for _ in range(3):
            kernels.attn_decode(q, kc, vc, sl, out, plan, 0.088)
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(20):
            kernels.attn_decode(q, kc, vc, sl, out, plan, 0.088)
        b.record()
        b.synchronize()
        ms = a.elapsed_time(b) / 20
        gbs = 2 * kc.numel() * 2 / (ms / 1e3) / 1e9
        sys.stderr.write("\n[attn] split-KV decode, 105473 keys, one layer: %.1f us, %.0f GB/s (%s)\n" % (ms * 1e3, gbs, plan.describe()))
        self.assertGreater(gbs, 0)


@needs_torch
class TestGPUParity(unittest.TestCase):
    """fp32, TF32 off: the CUDA-graph and Triton paths (and the transformers path) match the oracle."""

    def setUp(self):
        gpu_or_skip(self)

    def test_variants_and_profiles(self):
        for variant in ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"):
            ck = TinyCheckpoint(variant)
            try:
                toks = torch.randint(0, ck.cfg.vocab, (150,), generator=torch.Generator().manual_seed(11))
                ref = torch.from_numpy(oracle.forward(ck.cfg, ck.numpy_weights(), toks.tolist()))
                T = 134
                for profile, opts in (("paper", {}), ("matched", {}), ("matched", {"prefill_segment": "48"})):
                    with self.subTest(variant=variant, profile=profile, opts=opts):
                        pre, dec, info = parity.run(ck.dir, toks[:T], toks[T:], profile, "cuda:0", opts)
                        if info["runtime"].startswith("static"):
                            self.assertEqual(info["cuda_graph"], "on")
                            if ck.cfg.count_kind(config.ATTENTION):
                                self.assertEqual(info["attention_decode"], "triton-split-kv-gqa", info)
                            if profile == "matched" and ck.cfg.count_kind(config.MAMBA2):
                                self.assertEqual(info["mamba_decode"], "triton-fused-conv-ssm-norm", info)
                        e1, e2 = parity.error(pre, ref[:T]), parity.error(dec, ref[T:])
                        sys.stderr.write("\n[parity] %s %s %s: prefill %.2e decode %.2e (%s)\n" % (variant, profile, opts, e1, e2, info["runtime"]))
                        self.assertLess(e1, parity.TOLERANCE)
                        self.assertLess(e2, parity.TOLERANCE)
            finally:
                ck.close()

    def test_go_fixtures_on_gpu(self):
        from tests.test_parity import check_fixtures
        check_fixtures(self, "cuda:0")


@needs_torch
class TestMemoryCap(unittest.TestCase):
    def setUp(self):
        gpu_or_skip(self)

    def test_oom_is_reported_and_the_worker_recovers(self):
        import gc
        gc.collect()
        torch.cuda.empty_cache()
        be = TorchBackend(log=Log(), device="cuda:0")
        cfg = config.load("mmmamba-hybrid-tiny")
        # The cap limits the whole process's allocator: leave room for what earlier tests still hold.
        cap = torch.cuda.memory_reserved() + (256 << 20)
        for profile in ("paper", "matched"):
            with self.subTest(profile=profile):
                met, info = be.load({"variant": "h", "config": cfg.raw, "weights": {"kind": "random", "seed": 1},
                                     "dtype": "bf16", "profile": profile, "memory_cap_bytes": cap})
                self.assertIn("set_per_process_memory_fraction", info["memory_cap"])
                self.assertGreater(met["copy_bandwidth_bytes_per_s"], 1e11)
                base = torch.cuda.memory_allocated()
                # 2 attention layers x 2 x 2 heads x 32 x 2 B = 512 B/token: 1M tokens need 512 MiB > the headroom.
                with self.assertRaises(Exception) as cm:
                    be.cell({"phase": "decode", "seq_len": 1 << 20, "batch": 1, "cache_fill": "synthetic", "seed": 1})
                from ssmbench_torch.protocol import classify
                self.assertEqual(classify(cm.exception), "oom", repr(cm.exception))
                be.abandon()
                self.assertLessEqual(torch.cuda.memory_reserved(), cap)
                # The failed cell's memory is gone (cuBLAS workspaces of new streams may remain).
                self.assertLessEqual(torch.cuda.memory_allocated(), base + (64 << 20))
                m, i = be.cell({"phase": "decode", "seq_len": 1000, "batch": 1, "cache_fill": "synthetic", "seed": 1})
                s = be.rep(0, False)
                self.assertGreater(s["latency_ms"], 0)
                self.assertLessEqual(s["alloc_peak_bytes"], cap)
                be.end()
                # Cells do not leak: a second identical cell ends at the same allocation.
                after_one = torch.cuda.memory_allocated()
                be.cell({"phase": "decode", "seq_len": 1000, "batch": 1, "cache_fill": "synthetic", "seed": 1})
                be.rep(0, False)
                be.end()
                self.assertLess(torch.cuda.memory_allocated() - after_one, 4 << 20)
        be.close()
        torch.cuda.set_per_process_memory_fraction(1.0)


@needs_torch
class TestFullSize(unittest.TestCase):
    """The real configs in bf16: weight memory equals the checkpoint's (HoVLE 4.855, hybrid 5.044, linear 5.107 GiB)."""

    def setUp(self):
        gpu_or_skip(self)

    def test_weight_memory(self):
        for name, gib in (("hovle", 4.855), ("mmmamba-hybrid", 5.044), ("mmmamba-linear", 5.107)):
            with self.subTest(name=name):
                cfg = config.load(name)
                be = TorchBackend(log=Log(), device="cuda:0")
                try:
                    before = torch.cuda.memory_allocated()
                    met, info = be.load({"variant": name, "config": cfg.raw, "weights": {"kind": "random", "seed": 1},
                                         "dtype": "bf16", "profile": "matched", "options": {"kernels": "torch"}})
                    self.assertEqual(met["param_count"], cfg.param_count())
                    self.assertEqual(met["weight_bytes"], 2 * cfg.param_count())
                    self.assertAlmostEqual(met["weight_bytes"] / GIB, gib, places=3)
                    extra = torch.cuda.memory_allocated() - before - met["weight_bytes"]
                    sys.stderr.write("\n[weights] %s: %.4f GiB, %d bytes more allocated after load\n" % (name, met["weight_bytes"] / GIB, extra))
                    self.assertLess(extra, 16 << 20, "allocated beyond the weights after load: %d bytes" % extra)
                finally:
                    be.close()


@needs_torch
class TestWorkerOnGPU(unittest.TestCase):
    def setUp(self):
        gpu_or_skip(self)

    def test_protocol_session(self):
        cfg = config.load("mmmamba-hybrid-tiny")
        reqs = [{"type": "load", "id": "l", "load": {"variant": "h", "config": cfg.raw, "weights": {"kind": "random", "seed": 1},
                                                     "dtype": "bf16", "profile": "matched", "max_seq_len": 2048}},
                {"type": "cell", "id": "c", "cell": {"phase": "decode", "seq_len": 2000, "batch": 1, "cache_fill": "prefill", "seed": 2}},
                {"type": "rep", "id": "c", "index": 0, "warmup": True},
                {"type": "rep", "id": "c", "index": 1},
                {"type": "end", "id": "c"},
                {"type": "shutdown"}]
        env = dict(os.environ, PYTHONPATH=ROOT)
        p = subprocess.run([sys.executable, "-m", "ssmbench_torch"], input="".join(json.dumps(r) + "\n" for r in reqs),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        msgs = [json.loads(l) for l in p.stdout.splitlines()]
        msgs = [m for m in msgs if m["type"] != "log"]
        self.assertEqual([m["type"] for m in msgs], ["hello", "loaded", "ready", "sample", "sample", "result", "bye"], p.stderr[-3000:])
        h = msgs[0]
        self.assertEqual(h["device"]["kind"], "cuda")
        for k in ("torch", "cuda_runtime", "triton", "python"):
            self.assertIn(k, h["env"])
        ready, sample = msgs[2], msgs[4]
        self.assertEqual(ready["info"]["timer"], "cuda_event")
        self.assertEqual(ready["info"]["cache_fill"], "prefill")
        for k in ("alloc_peak_bytes", "reserved_bytes", "alloc_peak_incl_prefill_bytes", "latency_ms"):
            self.assertIn(k, sample["metrics"])
        self.assertGreaterEqual(sample["metrics"]["alloc_peak_incl_prefill_bytes"], sample["metrics"]["alloc_peak_bytes"])
        for k in ("kv_cache_bytes_analytic", "state_bytes_analytic", "weight_bytes", "bytes_moved_per_step_analytic",
                  "copy_bandwidth_bytes_per_s"):
            self.assertIn(k, ready["metrics"])


@needs_torch
class TestInferGPU(unittest.TestCase):
    """The infer request on the GPU: the Go runner's answers (fp32, CUDA graph, Triton), bf16, OOM recovery."""

    def setUp(self):
        gpu_or_skip(self)
        torch.backends.cuda.matmul.allow_tf32 = False

    def test_matches_go_runner(self):
        from tests.test_infer import check_fixture
        check_fixture(self, "cuda:0")

    def test_bf16(self):
        from tests.test_infer import check_bf16
        check_bf16(self, "cuda:0", ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny"))

    def test_oom_then_next_item_and_cells(self):
        import gc
        import shutil
        import tempfile
        from ssmbench_torch.protocol import classify
        from tests import infer_fixture as fx
        from tests.test_infer import fixture_cases
        cases = [c for c in fixture_cases() if c["variant"] == "hovle-tiny" and c["checkpoint"] == "ascii"
                 and c["request"]["max_new_tokens"] == 24 and not c["request"]["stop"]]
        if not cases or not fx.fixture_available():
            self.skipTest("no infer fixture")
        c = cases[0]
        tmp = tempfile.mkdtemp(prefix="ssmbench-infer-")
        gc.collect()
        torch.cuda.empty_cache()
        cap = torch.cuda.memory_reserved() + (256 << 20)
        be = TorchBackend(log=Log(), device="cuda:0")
        try:
            ckpt, body = fx.materialise(c, tmp)
            be.load(dict(fx.load_request(c["variant"], ckpt), profile="matched", memory_cap_bytes=cap))
            base = torch.cuda.memory_allocated()
            # fp32 HoVLE-tiny: 8 layers x 2 x 2 heads x 32 x 4 B = 4 KiB of KV per token; 1M tokens = 4 GiB > the headroom.
            with self.assertRaises(Exception) as cm:
                be.infer(dict(body, max_new_tokens=1 << 20))
            self.assertEqual(classify(cm.exception), "oom", repr(cm.exception))
            self.assertLessEqual(torch.cuda.memory_allocated(), base + (64 << 20))
            self.assertEqual(be.infer(body)[0], c["expected"])
            be.cell({"phase": "decode", "seq_len": 300, "batch": 1, "cache_fill": "prefill", "seed": 1})
            be.rep(0, False)
            be.end()
            out, met, info = be.infer(body)  # caches and graph again after the cell freed them
            self.assertEqual(out, c["expected"])
            self.assertIn("alloc_peak_bytes", met)
            self.assertLessEqual(met["alloc_peak_bytes"], cap)
        finally:
            be.close()
            torch.cuda.set_per_process_memory_fraction(1.0)
            shutil.rmtree(tmp, ignore_errors=True)

    def test_full_size_image_prompt(self):
        """Real configs, random weights, bf16: 7 tiles of 448 px = 1792 image tokens through the vision path."""
        import shutil
        import tempfile
        from ssmbench_torch import infer as I, safetensors as st
        tmp = tempfile.mkdtemp(prefix="ssmbench-infer-")
        try:
            pix = os.path.join(tmp, "pixels.safetensors")
            st.save_torch(pix, {"pixel_values": torch.randn(7, 3, 448, 448, generator=torch.Generator().manual_seed(5))})
            head = "<|im_start|>user\n"
            tail = "\nIs there a dog in the image?<|im_end|><|im_start|>assistant\n"
            body = {"segments": [{"text": head}, {"image": {"path": pix, "tiles": 7}}, {"text": tail}],
                    "max_new_tokens": 8, "stop": ["<|im_end|>"]}
            for variant, profile in (("hovle", "paper"), ("hovle", "matched"), ("mmmamba-linear", "matched"),
                                     ("mmmamba-hybrid", "paper")):
                with self.subTest(variant=variant, profile=profile):
                    cfg = config.load(variant)
                    be = TorchBackend(log=Log(), device="cuda:0")
                    try:
                        be.load({"variant": variant, "config": cfg.raw, "weights": {"kind": "random", "seed": 1},
                                 "dtype": "bf16", "profile": profile})
                        out, met, info = be.infer(body)
                        out2, _, _ = be.infer(body)
                    finally:
                        be.close()
                    tok = I.ToyTokenizer(cfg.vocab, cfg.text_vocab, cfg.img_context_tok)
                    self.assertEqual(cfg.image_tokens_per_tile, 256)
                    self.assertEqual(out["image_tokens"], 1792)
                    self.assertEqual(out["prompt_tokens"], 1 + len(tok.encode(head)) + 1794 + len(tok.encode(tail)))
                    self.assertTrue(1 <= out["generated_tokens"] <= 8)
                    self.assertEqual(out, out2)  # fresh state per request: the same answer twice
                    sys.stderr.write("\n[infer-full] %s %s: %s; latency %.1f ms (vision %.1f, prefill %.1f, decode %.1f), "
                                     "peak %.2f GiB\n" % (variant, profile, json.dumps(out), met["latency_ms"], met["vision_ms"],
                                                          met["prefill_ms"], met["decode_ms"], met["alloc_peak_bytes"] / GIB))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
