"""Model math on CPU in fp32 against an independent float64 oracle (needs PyTorch and NumPy)."""

import os
import unittest

from tests.util import HAVE_TORCH, TinyCheckpoint, needs_torch

if HAVE_TORCH:
    import torch
    from ssmbench_torch import ops, parity, weights, config
    from ssmbench_torch import safetensors as st
    from ssmbench_torch.worker import Log, TorchBackend
    from tests import oracle

VARIANTS = ("hovle-tiny", "mmmamba-linear-tiny", "mmmamba-hybrid-tiny")


@needs_torch
class TestOps(unittest.TestCase):
    def rand(self, *shape):
        return torch.randn(*shape, dtype=torch.float64).float()

    def test_ssd_chunked_matches_recurrence(self):
        for B, L, g, G, P, chunk, init, split in [(1, 53, 2, 2, 8, 16, True, 0), (2, 16, 1, 4, 4, 16, False, 0),
                                                  (1, 7, 4, 1, 8, 16, True, 0), (2, 100, 2, 2, 16, 32, True, 40),
                                                  (1, 130, 8, 2, 4, 128, False, 64)]:
            with self.subTest(L=L, chunk=chunk, split=split):
                h = g * G
                x, Bm, C = self.rand(B, L, g, P), self.rand(B, L, g, P), self.rand(B, L, h, P)
                dt = torch.rand(B, L, h) * 0.5
                A = -torch.rand(h) * 2
                s0 = self.rand(B, h, P, P) if init else None
                yr, sr = ops.ssm_recurrent(x, Bm, C, dt, A, s0)
                if split:
                    ya, sa = ops.ssd_chunked(x[:, :split], Bm[:, :split], C[:, :split], dt[:, :split], A, s0, chunk)
                    yb, sb = ops.ssd_chunked(x[:, split:], Bm[:, split:], C[:, split:], dt[:, split:], A, sa, chunk)
                    yc, sc = torch.cat((ya, yb), 1), sb
                else:
                    yc, sc = ops.ssd_chunked(x, Bm, C, dt, A, s0, chunk)
                self.assertLess(parity.error(yc, yr), 1e-5)
                self.assertLess(parity.error(sc, sr), 1e-5)

    def test_conv_prefill_equals_steps(self):
        for K in (2, 3):
            B, T, Cc = 2, 9, 6
            raw = self.rand(B, T, Cc)
            w, b = self.rand(Cc, K), self.rand(Cc)
            st0 = self.rand(B, Cc, K - 1)
            out, st1 = ops.causal_conv_prefill(raw, st0, w, b)
            full = torch.cat((st0.transpose(1, 2), raw), 1)
            for t in range(T):
                ref = torch.nn.functional.silu((full[:, t:t + K] * w.t().unsqueeze(0)).sum(1) + b)
                self.assertLess((out[:, t] - ref).abs().max().item(), 1e-5)
            self.assertTrue(torch.equal(st1, raw[:, T - K + 1:].transpose(1, 2)))

    def test_attention_decode_matches_prefill(self):
        B, nh, nkv, T, d = 2, 4, 2, 11, 8
        q, k, v = self.rand(B, nh, T, d), self.rand(B, nkv, T, d), self.rand(B, nkv, T, d)
        full = ops.attention_prefill(q, k, v, ops.attn_scale(d))
        cap = T + 5
        kc, vc = torch.zeros(B, nkv, cap, d), torch.zeros(B, nkv, cap, d)
        kc[:, :, :T], vc[:, :, :T] = k, v
        for t in (0, 5, T - 1):
            o = ops.attention_decode(q[:, :, t], kc, vc, torch.full((B,), t + 1, dtype=torch.int32), ops.attn_scale(d))
            self.assertLess((o - full[:, :, t]).abs().max().item(), 1e-5)

    def test_rope_float64_angles(self):
        inv = ops.rope_inv_freq(1e6, 8, "cpu")
        cos, sin = ops.rope_cos_sin(torch.tensor([3]), inv)
        self.assertAlmostEqual(cos[0, 1].item(), float(torch.cos(torch.tensor(3 * 1e6 ** (-2 / 8), dtype=torch.float64))), places=6)
        x = self.rand(1, 8)
        self.assertLess((ops.apply_rope(x, cos, sin).norm() - x.norm()).abs().item(), 1e-5)


@needs_torch
class TestParityWithOracle(unittest.TestCase):
    """Prefill logits at every position and token-by-token decode logits match the oracle (tolerance 1e-4)."""

    def test_variants_and_profiles(self):
        for variant in VARIANTS:
            ck = TinyCheckpoint(variant)
            try:
                toks = torch.randint(0, ck.cfg.vocab, (45,), generator=torch.Generator().manual_seed(7))
                ref = torch.from_numpy(oracle.forward(ck.cfg, ck.numpy_weights(), toks.tolist()))
                T = 37
                runs = [("matched", {}), ("matched", {"prefill_segment": "20"}), ("matched", {"ssm_state_dtype": "fp32"})]
                if variant != "hovle-tiny":
                    runs += [("paper", {}), ("paper", {"ssd_segment": "20"})]
                else:
                    try:
                        import transformers  # noqa: F401
                        runs.append(("paper", {}))
                    except ImportError:
                        pass
                for profile, opts in runs:
                    with self.subTest(variant=variant, profile=profile, opts=opts):
                        pre, dec, _ = parity.run(ck.dir, toks[:T], toks[T:], profile, "cpu", opts)
                        self.assertLess(parity.error(pre, ref[:T]), parity.TOLERANCE)
                        self.assertLess(parity.error(dec, ref[T:]), parity.TOLERANCE)
            finally:
                ck.close()


@needs_torch
class TestCheckpoint(unittest.TestCase):
    def test_roundtrip_and_sizes(self):
        ck = TinyCheckpoint("mmmamba-hybrid-tiny")
        try:
            w = weights.load_checkpoint(ck.cfg, ck.dir, "fp32", "cpu")
            self.assertEqual(w.param_count(), ck.cfg.param_count())
            self.assertEqual(w.nbytes(), 4 * ck.cfg.param_count())
            again = weights.export_checkpoint(w)
            for k, v in ck.state.items():
                self.assertTrue(torch.equal(again[k], v), k)
            self.assertEqual(weights.random_weights(ck.cfg, "fp32", "cpu", 1).nbytes(), 4 * ck.cfg.param_count())
        finally:
            ck.close()

    def test_errors_name_the_tensor(self):
        ck = TinyCheckpoint("mmmamba-linear-tiny")
        try:
            bad = dict(ck.state)
            del bad["language_model.model.layers.2.attention.dt_bias"]
            st.save_torch(os.path.join(ck.dir, "model.safetensors"), bad)
            with self.assertRaises(st.SafetensorsError) as cm:
                weights.load_checkpoint(ck.cfg, ck.dir, "fp32", "cpu")
            self.assertIn("layers.2.attention.dt_bias", str(cm.exception))
            bad = dict(ck.state)
            bad["language_model.model.norm.weight"] = torch.zeros(3)
            st.save_torch(os.path.join(ck.dir, "model.safetensors"), bad)
            with self.assertRaises(st.SafetensorsError) as cm:
                weights.load_checkpoint(ck.cfg, ck.dir, "fp32", "cpu")
            self.assertIn("language_model.model.norm.weight", str(cm.exception))
            # Vision and tok_embeddings may be absent (not read for text).
            opt = {k: v for k, v in ck.state.items() if "vision" not in k and "tok_embeddings" not in k}
            st.save_torch(os.path.join(ck.dir, "model.safetensors"), opt)
            w = weights.load_checkpoint(ck.cfg, ck.dir, "fp32", "cpu")
            self.assertEqual(w.param_count(), ck.cfg.param_count())
        finally:
            ck.close()


@needs_torch
class TestWorkerCells(unittest.TestCase):
    """The backend runs every phase on CPU and reports the metrics the engine reads."""

    def test_phases(self):
        be = TorchBackend(log=Log(), device="cpu")
        cfg = config.load("mmmamba-hybrid-tiny")
        met, info = be.load({"variant": "mmmamba-hybrid-tiny", "config": cfg.raw, "weights": {"kind": "random", "seed": 2},
                             "dtype": "fp32", "profile": "matched", "max_seq_len": 64, "options": {"image_tiles": "1"}})
        self.assertEqual(met["param_count"], cfg.param_count())
        self.assertEqual(info["runtime"], "static-matched")
        for phase, fill in (("prefill", None), ("decode", "prefill"), ("decode", "synthetic"), ("generate", None)):
            with self.subTest(phase=phase, fill=fill):
                m, i = be.cell({"phase": phase, "seq_len": 40, "batch": 2, "new_tokens": 5, "cache_fill": fill or "auto", "seed": 1})
                self.assertEqual(i["timer"], "wall_monotonic")
                self.assertEqual(m["kv_cache_bytes_analytic"], cfg.kv_bytes_per_token("fp32") * 2 * (40 + (5 if phase == "generate" else 0)))
                self.assertGreater(m["bytes_moved_per_step_analytic"], m["decode_weight_bytes_analytic"])
                if phase == "decode":
                    self.assertEqual(i["cache_fill"], fill)
                if phase == "generate":
                    self.assertEqual(i["image_tokens"], str(cfg.image_tokens_per_tile))
                for r in range(3):
                    s = be.rep(r, r == 0)
                    self.assertGreater(s["latency_ms"], 0)
                    if phase == "generate":
                        self.assertEqual(s["tokens"], 10)
                        self.assertGreater(s["prefill_ms"], 0)
                res, _ = be.end()
        be.close()

    def test_decode_reps_repeat_the_same_step(self):
        be = TorchBackend(log=Log(), device="cpu")
        cfg = config.load("mmmamba-hybrid-tiny")
        be.load({"variant": "h", "config": cfg.raw, "weights": {"kind": "random", "seed": 2}, "dtype": "fp32",
                 "profile": "paper"})
        be.cell({"phase": "decode", "seq_len": 30, "batch": 1, "cache_fill": "prefill", "seed": 3})
        rt = be.runtime
        outs = []
        for _ in range(3):
            rt.rewind()
            outs.append(rt.step().clone())
        self.assertTrue(torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2]))
        be.end()
        be.close()

    def test_cache_alloc_load_keeps_caches(self):
        be = TorchBackend(log=Log(), device="cpu")
        cfg = config.load("mmmamba-hybrid-tiny")
        be.load({"variant": "h", "config": cfg.raw, "weights": {"kind": "random", "seed": 2}, "dtype": "fp32",
                 "profile": "matched", "max_seq_len": 100, "options": {"cache_alloc": "load"}})
        cap = be.runtime.capacity
        self.assertGreaterEqual(cap, 101)
        for n in (20, 60):
            m, i = be.cell({"phase": "decode", "seq_len": n, "batch": 1, "cache_fill": "synthetic", "seed": 1})
            self.assertEqual(i["cache_capacity_tokens"], str(cap))
            be.rep(0, False)
            be.end()
            self.assertEqual(be.runtime.capacity, cap)
        be.close()

    def test_bad_options_and_profiles(self):
        be = TorchBackend(log=Log(), device="cpu")
        cfg = config.load("mmmamba-linear-tiny")
        base = {"variant": "l", "config": cfg.raw, "dtype": "fp32", "profile": "matched"}
        from ssmbench_torch.protocol import RunnerError
        for bad, word in (({"options": {"frob": "1"}}, "frob"), ({"options": {"cuda_graph": "maybe"}}, "cuda_graph"),
                          ({"profile": "reference"}, "reference"), ({"dtype": "int4"}, "int4"),
                          ({"weights": {"kind": "safetensors"}}, "path")):
            with self.subTest(word=word):
                with self.assertRaises(RunnerError) as cm:
                    be.load(dict(base, **bad))
                self.assertIn(word, cm.exception.message)


if __name__ == "__main__":
    unittest.main()
